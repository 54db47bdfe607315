namespace BatchNormLab.Experiments;

/// <summary>A model's weight layers (Linear and Conv2d, numbered from 1 in forward order) and where each weight sits in the flat parameter vector.</summary>
public sealed record WeightLayer(int Number, string Name, Tensor Weight, int Offset)
{
    /// <summary>The number of entries of the weight, its span in the flat parameter vector from <see cref="Offset"/>.</summary>
    public int Length => Weight.Length;

    /// <summary>Every Linear/Conv2d weight of <paramref name="model"/>, with its offset in <see cref="ParameterVector.Flatten"/> of <see cref="Module.Parameters"/>.</summary>
    public static IReadOnlyList<WeightLayer> Of(Module model)
    {
        var offsets = new Dictionary<Tensor, int>(ReferenceEqualityComparer.Instance);
        int offset = 0;
        foreach (var p in model.Parameters())
        {
            offsets[p] = offset;
            offset += p.Length;
        }
        var layers = new List<WeightLayer>();
        foreach (var (name, module) in model.NamedModules())
        {
            var weight = module switch { Linear l => l.Weight, Conv2d c => c.Weight, _ => null };
            if (weight is not null) layers.Add(new WeightLayer(layers.Count + 1, name, weight, offsets[weight]));
        }
        return layers;
    }

    /// <summary>Layer numbers at the same relative depths as the paper's picks in a network of <paramref name="paperLayers"/> weight layers.</summary>
    public static int[] Scaled(int[] paperPicks, int paperLayers, int layers) =>
        paperPicks.Select(p => Math.Clamp((int)Math.Round((double)p * layers / paperLayers), 2, layers)).Distinct().ToArray();
}
