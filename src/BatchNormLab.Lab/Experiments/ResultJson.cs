using System.Text.Json;
using System.Text.Json.Serialization;

namespace BatchNormLab.Experiments;

/// <summary>An experiment's result as JSON (result.json beside its CSV files): NaN and infinities written as strings, enums as names.</summary>
public static class ResultJson
{
    /// <summary>The serializer settings: indented, snake_case property names, named floating-point literals, kebab-case enum names.</summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    /// <summary>The result as indented JSON.</summary>
    public static string Serialize(ExperimentResult result) => JsonSerializer.Serialize(result, Options);

    /// <summary>The result read back from <see cref="Serialize"/>'s JSON; throws <see cref="JsonException"/> on an empty document.</summary>
    public static ExperimentResult Deserialize(string json) =>
        JsonSerializer.Deserialize<ExperimentResult>(json, Options) ?? throw new JsonException("empty result");
}
