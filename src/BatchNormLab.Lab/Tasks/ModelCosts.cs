using BatchNormLab.Experiments;

namespace BatchNormLab.Tasks;

/// <summary>
/// The expected cost of training runs, in floating-point operations: steps × batch × 6 × the model's multiply-adds per
/// example (2 operations each in the forward pass, about twice the forward's work in the backward).
/// </summary>
internal sealed class ModelCosts(PlanSettings settings)
{
    readonly Dictionary<string, double> macsPerExample = [];

    public double Of(TrainConfig config)
    {
        string key = $"{config.Dataset} {System.Text.Json.JsonSerializer.Serialize(config.Model)}";
        if (!macsPerExample.TryGetValue(key, out double macs))
        {
            var (sample, outputs) = DatasetCatalog.Shape(config.Dataset, settings.DataDirectory, settings.Seed);
            macsPerExample[key] = macs = ForwardMacs(config.Model.Build(sample, outputs, new Rng(config.Seed)), sample);
        }
        return 6 * macs * config.BatchSize * config.Steps;
    }

    /// <summary>Multiply-adds of one example's forward pass through the model's Linear and Conv2d layers.</summary>
    static double ForwardMacs(Module model, int[] sample)
    {
        double total = 0;
        var hooks = model.NamedModules().Select(m => m.Module).Where(m => m is Linear or Conv2d)
            .Select(m => m.RegisterForwardHook((module, _, output) =>
            {
                var weight = module.Parameters()[0];
                // Each output value is one dot product over a row of the weight (Linear: in features; Conv2d: C·kh·kw).
                total += (double)output.Length / output.Size(0) * (weight.Length / weight.Size(0));
                return null;
            })).ToList();
        model.Train(false);
        using (Autograd.NoGrad()) model.Forward(Tensor.Zeros([1, .. sample]));
        foreach (var hook in hooks) hook.Dispose();
        return total;
    }
}
