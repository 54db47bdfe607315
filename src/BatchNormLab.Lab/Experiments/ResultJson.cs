using System.Text.Json;
using System.Text.Json.Serialization;

namespace BatchNormLab.Experiments;

/// <summary>An experiment's result as JSON (result.json beside its CSV files): NaN and infinities written as strings, enums as names.</summary>
public static class ResultJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public static string Serialize(ExperimentResult result) => JsonSerializer.Serialize(result, Options);

    public static ExperimentResult Deserialize(string json) =>
        JsonSerializer.Deserialize<ExperimentResult>(json, Options) ?? throw new JsonException("empty result");
}
