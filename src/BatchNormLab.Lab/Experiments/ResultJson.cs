using System.Text.Json;
using System.Text.Json.Serialization;

namespace BatchNormLab.Experiments;

/// <summary>An experiment's result as JSON (result.json beside its CSV files): NaN and infinities written as strings, enums as names.</summary>
public static class ResultJson
{
    /// <summary>The serializer settings: indented, snake_case property names, named floating-point literals, kebab-case enum names, number keys as their text.</summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower), new ResultKeyJsonConverter() },
    };

    /// <summary>The result as indented JSON.</summary>
    public static string Serialize(ExperimentResult result) => JsonSerializer.Serialize(result, Options);

    /// <summary>The result read back from <see cref="Serialize"/>'s JSON; throws <see cref="JsonException"/> on an empty document.</summary>
    public static ExperimentResult Deserialize(string json) =>
        JsonSerializer.Deserialize<ExperimentResult>(json, Options) ?? throw new JsonException("empty result");
}

/// <summary>A <see cref="ResultKey"/> in JSON as its text, "Subject: Measure", as a string value or a property name (the keys of a result's numbers).</summary>
public sealed class ResultKeyJsonConverter : JsonConverter<ResultKey>
{
    /// <summary>The key from a JSON string; a <see cref="JsonException"/> naming the text when it has no ": ".</summary>
    public override ResultKey Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String ? FromText(reader.GetString()!) : throw new JsonException($"a result number name must be a string, not {reader.TokenType}");

    /// <summary>The key as a JSON string, its text.</summary>
    public override void Write(Utf8JsonWriter writer, ResultKey value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());

    /// <summary>The key from a property name; a <see cref="JsonException"/> naming the text when it has no ": ".</summary>
    public override ResultKey ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => FromText(reader.GetString()!);

    /// <summary>The key as a property name, its text.</summary>
    public override void WriteAsPropertyName(Utf8JsonWriter writer, ResultKey value, JsonSerializerOptions options) => writer.WritePropertyName(value.ToString());

    static ResultKey FromText(string text)
    {
        try { return ResultKey.Parse(text); }
        catch (FormatException e) { throw new JsonException(e.Message, e); }
    }
}
