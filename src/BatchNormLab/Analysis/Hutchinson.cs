namespace BatchNormLab.Analysis;

/// <summary>An estimate of a Hessian's trace, with the standard error of the mean over its samples.</summary>
/// <param name="Mode">BatchNorm's mode while the Hessian was taken.</param>
/// <param name="Group">Name of the parameter group.</param>
/// <param name="Trace">The estimate of tr(H): the mean of vᵀHv.</param>
/// <param name="StandardError">Standard error of that mean, s/√samples.</param>
/// <param name="Samples">Number of vectors v drawn.</param>
public sealed record TraceEstimate(HessianMode Mode, string Group, double Trace, double StandardError, int Samples);

/// <summary>Hutchinson's trace estimator: tr(H) = E[vᵀHv] for v with independent Rademacher (±1) entries.</summary>
public static class Hutchinson
{
    /// <summary>The mean of vᵀHv over <paramref name="samples"/> Rademacher vectors drawn from <paramref name="rng"/>, and its standard error s/√samples.</summary>
    public static TraceEstimate Trace(HessianOperator op, int samples, Rng rng)
    {
        if (samples < 2) throw new ArgumentOutOfRangeException(nameof(samples), samples, "a standard error needs at least 2 samples");
        var quadratic = new double[samples];
        for (int s = 0; s < samples; s++)
        {
            var v = Vectors.Rademacher(rng, op.Dimension);
            quadratic[s] = Vectors.Dot(v, op.Apply(v));
        }
        double mean = quadratic.Average();
        double variance = quadratic.Sum(q => (q - mean) * (q - mean)) / (samples - 1);
        return new TraceEstimate(op.Mode, op.Group.Name, mean, Math.Sqrt(variance / samples), samples);
    }
}
