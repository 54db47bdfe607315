using System.CommandLine;
using System.Globalization;
using BatchNormLab.Cli;
using BatchNormLab.IO;

CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var root = new RootCommand("BatchNormLab: Batch Normalization and the experiments that explain why it works.")
{
    TrainCommand.Create(),
    EvalCommand.Create(),
    ExperimentCommand.Experiment(),
    ExperimentCommand.Reproduce(),
    TaskCommand.Create(),
    RunsCommand.Runs(),
    RunsCommand.Report(),
};
var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    foreach (var error in parse.Errors) Console.Error.WriteLine($"bnlab: {error.Message}");
    Console.Error.WriteLine("Run 'bnlab --help' (or 'bnlab COMMAND --help') for usage.");
    return ExitCodes.BadArguments;
}
try
{
    // Errors are ours to report (one line, no stack trace), not the library's default handler.
    return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"bnlab: {OneLine(e)}");
    return ExitCodes.BadArguments;
}
catch (DataException e)
{
    Console.Error.WriteLine($"bnlab: {e.Message}");
    return ExitCodes.DataError;
}

// "--lr -0.1: the learning rate must be …" rather than .NET's "… (Parameter 'lr')\nActual value was -0.1."
static string OneLine(ArgumentException e)
{
    string message = e.Message.Split('\n')[0].TrimEnd();
    if (e.ParamName is null) return message;
    message = message.Replace($" (Parameter '{e.ParamName}')", "");
    return e is ArgumentOutOfRangeException { ActualValue: { } value } ? $"--{e.ParamName} {value}: {message}" : $"--{e.ParamName}: {message}";
}
