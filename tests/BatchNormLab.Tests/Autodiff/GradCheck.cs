using BatchNormLab;

namespace BatchNormLab.Tests;

/// <summary>float64 central-difference checks of analytic gradients.</summary>
internal static class GradCheck
{
    /// <summary>
    /// Compares d/d(inputs) of L = Σ f(inputs)⊙R (R a fixed random weighting, so every output element
    /// matters) with (L(x+h) − L(x−h))/2h for every input element. Inputs must be float64.
    /// </summary>
    public static void Check(Func<Tensor[], Tensor> f, Tensor[] inputs, double h = 1e-6, double atol = 1e-7, double rtol = 1e-5, string name = "")
    {
        foreach (var t in inputs) t.RequiresGrad = true;
        var output = f(inputs);
        var weights = Tensor.RandomNormal(new Rng(99), output.Shape, dtype: DType.Float64);
        var analytic = Autograd.Grad((output * weights).Sum(), inputs);
        double Loss()
        {
            using var _ = Autograd.NoGrad();
            return (f(inputs) * weights).Sum().Item();
        }
        for (int i = 0; i < inputs.Length; i++)
        {
            var x = inputs[i];
            for (int j = 0; j < x.Length; j++)
            {
                double original = x.GetFlat(j);
                x.SetFlat(j, original + h);
                double plus = Loss();
                x.SetFlat(j, original - h);
                double minus = Loss();
                x.SetFlat(j, original);
                double numeric = (plus - minus) / (2 * h), value = analytic[i].GetFlat(j);
                Assert.True(Math.Abs(value - numeric) <= atol + rtol * Math.Abs(numeric),
                    $"{name}: input {i}, element {j}: analytic {value:R}, numeric {numeric:R}");
            }
        }
    }

    public static Tensor Random(ulong seed, params int[] shape) => Tensor.RandomNormal(new Rng(seed), shape, dtype: DType.Float64);

    /// <summary>Uniform values away from 0 (for log, sqrt, division).</summary>
    public static Tensor Positive(ulong seed, params int[] shape) => Tensor.RandomUniform(new Rng(seed), shape, 0.5, 2.0, DType.Float64);
}
