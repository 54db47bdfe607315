namespace BatchNormLab.Cli;

static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>A file (data, checkpoint) is missing or malformed.</summary>
    public const int DataError = 1;
    /// <summary>An unknown, malformed or out-of-range argument.</summary>
    public const int BadArguments = 2;
    /// <summary>Every requested run diverged.</summary>
    public const int Diverged = 3;
    /// <summary>Some tasks of a plan failed or could not run (the report names them).</summary>
    public const int TasksFailed = 4;
}
