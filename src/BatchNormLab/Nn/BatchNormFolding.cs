namespace BatchNormLab.Nn;

/// <summary>
/// Folds an eval-mode BatchNorm into the Linear or Conv2d before it, for inference: with the running
/// statistics fixed, BN is a per-channel affine map, so
/// <code>
/// α_c = γ_c/√(running_var_c + ε),   W'[c, …] = α_c·W[c, …],   b'_c = α_c·(b_c − running_mean_c) + β_c
/// </code>
/// gives a layer whose output equals layer-then-BN (to rounding; computed in double). Any
/// <see cref="BatchNorm"/> qualifies (Batch Renorm and Ghost BN evaluate as BN does), in eval mode and
/// with running statistics. The new layer always has a bias; the inputs are left untouched.
/// </summary>
public static class BatchNormFolding
{
    /// <summary>A new Linear computing <paramref name="linear"/> followed by <paramref name="bn"/> in eval mode.</summary>
    public static Linear FoldBatchNorm(Linear linear, BatchNorm bn)
    {
        var (weight, bias) = FoldedParameters(linear.Weight, linear.Bias, bn);
        var folded = (Linear)new Linear(linear.InFeatures, linear.OutFeatures, bias: true, rng: new Rng(0)).To(linear.Weight.DType);
        SetParameters(folded.Weight, folded.Bias!, weight, bias);
        return folded;
    }

    /// <summary>A new Conv2d computing <paramref name="conv"/> followed by <paramref name="bn"/> in eval mode.</summary>
    public static Conv2d FoldBatchNorm(Conv2d conv, BatchNorm bn)
    {
        var (weight, bias) = FoldedParameters(conv.Weight, conv.Bias, bn);
        var folded = (Conv2d)new Conv2d(conv.InChannels, conv.OutChannels, conv.KernelSize, conv.Stride, conv.Padding, bias: true, rng: new Rng(0)).To(conv.Weight.DType);
        SetParameters(folded.Weight, folded.Bias!, weight, bias);
        return folded;
    }

    /// <summary>
    /// A new Sequential in which every Linear or Conv2d directly followed by a BatchNorm is replaced by
    /// the folded layer (nested Sequentials are folded too); every other module is reused as it is.
    /// The model must be in eval mode.
    /// </summary>
    public static Sequential FoldBatchNorm(Sequential model)
    {
        var folded = new Sequential();
        for (int i = 0; i < model.Count; i++)
        {
            var next = i + 1 < model.Count ? model[i + 1] as BatchNorm : null;
            switch (model[i])
            {
                case Linear linear when next is not null: folded.Add(FoldBatchNorm(linear, next)); i++; break;
                case Conv2d conv when next is not null: folded.Add(FoldBatchNorm(conv, next)); i++; break;
                case Sequential inner: folded.Add(FoldBatchNorm(inner)); break;
                case BatchNorm { Training: true } bn: throw new ArgumentException($"BatchNorm folding: layer {i} ({bn.GetType().Name}) is in training mode; call Eval() first", nameof(model));
                case var module: folded.Add(module); break;
            }
        }
        return (Sequential)folded.Train(model.Training);
    }

    static (double[] Weight, double[] Bias) FoldedParameters(Tensor layerWeight, Tensor? layerBias, BatchNorm bn)
    {
        int outputs = layerWeight.Size(0);
        if (bn.Training) throw new ArgumentException($"BatchNorm folding needs the BatchNorm in eval mode (it uses the running statistics); call Eval() first", nameof(bn));
        if (!bn.TrackRunningStats) throw new ArgumentException("BatchNorm folding needs running statistics; this BatchNorm has track_running_stats off", nameof(bn));
        if (bn.NumFeatures != outputs) throw new ArgumentException($"BatchNorm folding: the BatchNorm has {bn.NumFeatures} features, the layer {outputs} outputs", nameof(bn));
        var mean = bn.RunningMean!.ToDoubleArray();
        var variance = bn.RunningVar!.ToDoubleArray();
        var gamma = bn.Weight?.ToDoubleArray();
        var beta = bn.Bias?.ToDoubleArray();
        var b = layerBias?.ToDoubleArray();
        var weight = layerWeight.ToDoubleArray();
        int perOutput = weight.Length / outputs;
        var bias = new double[outputs];
        for (int c = 0; c < outputs; c++)
        {
            double alpha = (gamma?[c] ?? 1) / Math.Sqrt(variance[c] + bn.Eps);
            for (int j = 0; j < perOutput; j++) weight[c * perOutput + j] *= alpha;
            bias[c] = alpha * ((b?[c] ?? 0) - mean[c]) + (beta?[c] ?? 0);
        }
        return (weight, bias);
    }

    // In the layer's own dtype, so a float64 layer keeps every digit of the double computation.
    static void SetParameters(Tensor weight, Tensor bias, double[] weightValues, double[] biasValues)
    {
        weight.CopyFrom(Tensor.FromArray(weightValues, weight.Shape));
        bias.CopyFrom(Tensor.FromArray(biasValues, bias.Shape));
    }
}
