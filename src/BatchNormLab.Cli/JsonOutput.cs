using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace BatchNormLab.Cli;

/// <summary>
/// <c>--json</c>: one JSON document on stdout in place of the table, with the same numbers, for scripts. Keys are
/// snake_case as in summary.json; a value that is not a number (a diverged run's loss) is the string "NaN".
/// </summary>
static class JsonOutput
{
    public static readonly Option<bool> Option = new("--json") { Description = "Print one JSON document on stdout instead of the table (the same numbers; progress stays on stderr)" };

    static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void Print(object value) => Console.WriteLine(JsonSerializer.Serialize(value, Options));
}
