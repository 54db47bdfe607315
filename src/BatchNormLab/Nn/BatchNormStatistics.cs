namespace BatchNormLab.Nn;

/// <summary>
/// The population statistics of [IS15] §3.1 for a trained model's BatchNorm layers: with the weights
/// frozen, E[x] = the average of the batch means and Var[x] = m/(m−1) · the average of the biased batch
/// variances over K training batches (m = values per channel in a batch). PyTorch's cumulative running
/// average (momentum None) of the batch mean and of the unbiased batch variance m/(m−1)·σ²_B is exactly
/// this for batches of equal size, so the recomputation resets the running statistics and makes one
/// training-mode forward pass over the batches with momentum null.
/// </summary>
public static class BatchNormStatistics
{
    /// <summary>
    /// Replaces the running statistics of every BatchNorm layer below <paramref name="model"/> that tracks
    /// them with the population statistics over <paramref name="batches"/> (inputs of equal batch size for
    /// [IS15]'s formula). Parameters and their gradients are untouched; each layer's momentum and each
    /// module's training flag are put back. Other layers run as in training (a noise layer draws its noise).
    /// Returns the number of batches used.
    /// </summary>
    public static int RecomputePopulation(Module model, IEnumerable<Tensor> batches)
    {
        using var batch = batches.GetEnumerator();
        if (!batch.MoveNext()) throw new ArgumentException("population statistics need at least one batch", nameof(batches));
        var layers = model.NamedModules().Select(m => m.Module).OfType<BatchNorm>().Where(b => b.TrackRunningStats).ToList();
        var momenta = layers.Select(b => b.Momentum).ToArray();
        var modes = model.NamedModules().Select(m => (m.Module, m.Module.Training)).ToArray();
        int count = 0;
        try
        {
            foreach (var bn in layers)
            {
                bn.ResetRunningStats();
                bn.Momentum = null;
            }
            model.Train();
            using (Autograd.NoGrad())
                do
                {
                    model.Forward(batch.Current);
                    count++;
                } while (batch.MoveNext());
        }
        finally
        {
            for (int i = 0; i < layers.Count; i++) layers[i].Momentum = momenta[i];
            // Parents before children (NamedModules order), so each module ends with its own flag.
            foreach (var (module, training) in modes) module.Train(training);
        }
        return count;
    }
}
