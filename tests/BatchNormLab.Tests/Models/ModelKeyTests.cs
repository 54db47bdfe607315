using System.Text.Json;
using BatchNormLab.Models;
using BatchNormLab.Training;
using Xunit;

namespace BatchNormLab.Tests;

/// <summary>
/// Every model's state dict has exactly the keys, order and shapes of its PyTorch twin
/// (tools/torch/bnlab_models.py; Golden/Models/model_keys.json from tools/golden/make_model_keys_golden.py),
/// so checkpoints load into PyTorch with strict=True.
/// </summary>
public sealed class ModelKeyTests
{
    static readonly JsonElement Golden = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", "Models", "model_keys.json"))).RootElement;

    public static TheoryData<string> Cases() => new(Golden.EnumerateObject().Select(p => p.Name));

    [Theory]
    [MemberData(nameof(Cases))]
    public void StateDictMatchesPyTorch(string name)
    {
        var golden = Golden.GetProperty(name);
        var spec = golden.GetProperty("model").Deserialize<ModelSpec>(TrainConfig.Json)!;
        int[] sample = golden.GetProperty("sample").Deserialize<int[]>()!;
        var model = spec.Build(sample, golden.GetProperty("outputs").GetInt32(), new Rng(1));
        var expected = golden.GetProperty("keys").EnumerateArray()
            .Select(k => $"{k[0].GetString()} [{string.Join(",", k[1].EnumerateArray().Select(d => d.GetInt32()))}]").ToList();
        var actual = model.StateDict().Select(e => $"{e.Name} [{string.Join(",", e.Tensor?.Shape ?? [])}]").ToList();
        Assert.Equal(expected, actual);
        if (golden.TryGetProperty("group_counts", out var groups))
            Assert.Equal(groups.Deserialize<int[]>()!, model.NamedModules().Select(m => m.Module).OfType<Nn.GroupNorm>().Select(g => g.NumGroups));
    }
}
