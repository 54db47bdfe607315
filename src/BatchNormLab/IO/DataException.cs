namespace BatchNormLab.IO;

/// <summary>
/// A data problem the user must fix (a missing, truncated or malformed file, a dataset not found).
/// The message is one line that names the file or directory by its full path and says what was
/// wrong, so a command-line front end can print just the message.
/// </summary>
public sealed class DataException : Exception
{
    /// <summary>A data error with a one-line <paramref name="message"/> and an optional <paramref name="inner"/> cause.</summary>
    public DataException(string message, Exception? inner = null) : base(message, inner) { }

    /// <summary>"/full/path: problem".</summary>
    internal static DataException InFile(string path, string problem, Exception? inner = null) =>
        new($"{Path.GetFullPath(path)}: {problem}", inner);
}
