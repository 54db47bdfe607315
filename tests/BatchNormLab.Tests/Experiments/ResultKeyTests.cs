using System.Text.Json;
using BatchNormLab.Experiments;
using BatchNormLab.Models;

namespace BatchNormLab.Tests;

/// <summary><see cref="ResultKey"/>: the text "Subject: Measure" it stands for, read back from it, and in result.json exactly as the text was.</summary>
public sealed class ResultKeyTests
{
    [Fact]
    public void TextIsSubjectColonMeasureAndReadsBackAtTheFirstColon()
    {
        var key = Explosion.LossRatioKey(Norm.None, 2);
        Assert.Equal("standard, seed 2: loss at the full step over the initial loss (NaN: overflow)", key.ToString());
        Assert.Equal(new ResultKey("standard, seed 2", "loss at the full step over the initial loss (NaN: overflow)"), ResultKey.Parse(key.ToString()));
        Assert.Equal(new ResultKey("DLN standard, layer #9", "mean ‖G−G′‖"), Ics.DistanceKey("DLN standard", 9));
        Assert.Equal("VGG BN, population statistics, step 40 (mean over seeds): λmax", HessianSpectrum.LambdaMaxKey("VGG", HessianSpectrum.PopulationStatistics, 40).ToString());
        var error = Assert.Throws<FormatException>(() => ResultKey.Parse("accuracy"));
        Assert.Contains("\"accuracy\"", error.Message);
        Assert.Throws<FormatException>(() => ResultKey.Parse("a:b")); // a colon without its space is part of the text, not the split
    }

    [Fact]
    public void JsonHasTheTextAsBeforeAndReadsItBack()
    {
        var numbers = new Dictionary<ResultKey, double> { [Ics.DistanceKey("VGG BN", 2)] = 0.5, [SeededRuns.TestAccuracyKey("BN, lr 0.1")] = double.NaN, [Affine.IdentityErrorKey] = 1e-7 };
        var asText = numbers.ToDictionary(n => n.Key.ToString(), n => n.Value);
        // byte for byte what the string-keyed dictionary gave: escaping, order, named literals
        Assert.Equal(JsonSerializer.Serialize(asText, ResultJson.Options), JsonSerializer.Serialize(numbers, ResultJson.Options));
        var back = JsonSerializer.Deserialize<Dictionary<ResultKey, double>>(JsonSerializer.Serialize(numbers, ResultJson.Options), ResultJson.Options)!;
        Assert.Equal(numbers.Keys, back.Keys);
        Assert.Equal("\"a: b\"", JsonSerializer.Serialize(new ResultKey("a", "b"), ResultJson.Options));
        Assert.Equal(new ResultKey("a", "b: c"), JsonSerializer.Deserialize<ResultKey>("\"a: b: c\"", ResultJson.Options));

        var error = Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<Dictionary<ResultKey, double>>("{\"accuracy\": 1}", ResultJson.Options));
        Assert.Contains("\"accuracy\"", error.Message);
    }
}
