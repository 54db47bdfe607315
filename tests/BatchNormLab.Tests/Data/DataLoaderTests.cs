using BatchNormLab.Data;

namespace BatchNormLab.Tests;

public sealed class DataLoaderTests
{
    /// <summary>n samples [1, 2, 2] whose pixels all equal the sample's index; label = index mod 7.</summary>
    static Dataset Indexed(int n) => new("indexed",
        Tensor.FromArray([.. Enumerable.Range(0, n).SelectMany(i => Enumerable.Repeat((float)i, 4))], n, 1, 2, 2),
        [.. Enumerable.Range(0, n).Select(i => i % 7)], 7);

    static int[] Indices(Batch batch) => [.. Enumerable.Range(0, batch.Count).Select(b => (int)batch.Inputs.GetFlat(b * 4))];

    [Fact]
    public void AShuffledEpochVisitsEverySampleOnce()
    {
        var loader = new DataLoader(Indexed(103), 10, shuffle: true, dropLast: false, seed: 4);
        Assert.Equal(11, loader.BatchesPerEpoch);
        var batches = loader.Epoch(0).ToList();
        Assert.Equal(Enumerable.Repeat(10, 10).Append(3), batches.Select(b => b.Count));
        Assert.Equal(Enumerable.Range(0, 11), batches.Select(b => b.Index));
        Assert.All(batches, b => Assert.Equal(0, b.Epoch));
        var visited = batches.SelectMany(Indices).ToArray();
        Assert.Equal(Enumerable.Range(0, 103), visited.Order());
        Assert.NotEqual(Enumerable.Range(0, 103), visited);
        Assert.Equal(loader.Order(0), visited);
        // Labels travel with their samples.
        Assert.All(batches, b => Assert.Equal(Indices(b).Select(i => i % 7), b.Labels!));

        var epoch1 = loader.Epoch(1).SelectMany(Indices).ToArray();
        Assert.Equal(Enumerable.Range(0, 103), epoch1.Order());
        Assert.NotEqual(visited, epoch1);
    }

    [Fact]
    public void WithoutShuffleTheOrderIsTheDatasetOrder()
    {
        var loader = new DataLoader(Indexed(25), 8, shuffle: false, dropLast: false, seed: 4);
        Assert.Equal(Enumerable.Range(0, 25), loader.Epoch(3).SelectMany(Indices));
    }

    [Fact]
    public void DropLastDropsOnlyThePartialBatch()
    {
        var loader = new DataLoader(Indexed(103), 10, shuffle: true, dropLast: true, seed: 4);
        Assert.Equal(10, loader.BatchesPerEpoch);
        var batches = loader.Epoch(2).ToList();
        Assert.Equal(10, batches.Count);
        Assert.All(batches, b => Assert.Equal(10, b.Count));
        Assert.Equal(100, batches.SelectMany(Indices).Distinct().Count());

        Assert.Equal(10, new DataLoader(Indexed(100), 10, true, dropLast: true, seed: 0).BatchesPerEpoch);
        var whole = new DataLoader(Indexed(5), 8, true, dropLast: false, seed: 0);
        Assert.Equal(5, Assert.Single(whole.Epoch(0)).Count);
        var e = Assert.Throws<ArgumentException>(() => new DataLoader(Indexed(5), 8, true, dropLast: true, seed: 0));
        Assert.Contains("batch size 8", e.Message);
        Assert.Contains("5 samples", e.Message);
    }

    [Fact]
    public void TheSeedAloneFixesTheBatches()
    {
        var data = Indexed(50);
        var a = new DataLoader(data, 16, true, false, seed: 21, new Augment(1));
        var b = new DataLoader(data, 16, true, false, seed: 21, new Augment(1));
        var c = new DataLoader(data, 16, true, false, seed: 22, new Augment(1));
        Assert.Equal(a.Epoch(5).SelectMany(x => x.Inputs.ToFloatArray()), b.Epoch(5).SelectMany(x => x.Inputs.ToFloatArray()));
        Assert.NotEqual(a.Epoch(5).SelectMany(x => x.Inputs.ToFloatArray()), c.Epoch(5).SelectMany(x => x.Inputs.ToFloatArray()));
    }

    [Fact]
    public void ResumingAtABatchGivesTheTailOfTheFullEpoch()
    {
        var loader = new DataLoader(Indexed(70), 8, true, false, seed: 3, new Augment(1));
        var full = loader.Epoch(7).ToList();
        var tail = loader.Epoch(7, startBatch: 4).ToList();
        Assert.Equal(full.Count - 4, tail.Count);
        for (int i = 0; i < tail.Count; i++)
        {
            Assert.Equal(full[i + 4].Index, tail[i].Index);
            Assert.Equal(full[i + 4].Labels, tail[i].Labels);
            Assert.Equal(full[i + 4].Inputs.ToFloatArray(), tail[i].Inputs.ToFloatArray());
        }
        // The augmentation really changed the inputs, the same way both times; the order is the plain loader's.
        var plain = new DataLoader(loader.Data, 8, true, false, seed: 3).Epoch(7).ToList();
        Assert.Equal(plain.SelectMany(b => b.Labels!), full.SelectMany(b => b.Labels!));
        Assert.NotEqual(plain.SelectMany(b => b.Inputs.ToFloatArray()), full.SelectMany(b => b.Inputs.ToFloatArray()));
        Assert.Empty(loader.Epoch(7, loader.BatchesPerEpoch));
        Assert.Throws<ArgumentOutOfRangeException>(() => loader.Epoch(7, loader.BatchesPerEpoch + 1));
    }

    [Fact]
    public void RegressionTargetsTravelWithTheirInputs()
    {
        var task = Synthetic.LinearRegression(1, 30, dims: 3);
        var loader = new DataLoader(task.Data, 7, true, false, seed: 8);
        var x = task.Data.Inputs.ToFloatArray();
        var y = task.Data.Targets!.ToFloatArray();
        foreach (var batch in loader.Epoch(0))
        {
            Assert.Null(batch.Labels);
            int[] order = loader.Order(0)[(batch.Index * 7)..Math.Min(30, batch.Index * 7 + 7)];
            Assert.Equal(order.SelectMany(i => x[(i * 3)..(i * 3 + 3)]), batch.Inputs.ToFloatArray());
            Assert.Equal(order.SelectMany(i => y[(i * 3)..(i * 3 + 3)]), batch.Targets!.ToFloatArray());
        }
    }

    [Fact]
    public void AnErrorBuildingABatchReachesTheConsumerOnlyIfItTakesThatBatch()
    {
        var data = Indexed(30);
        var loader = new DataLoader(data, 10, shuffle: false, dropLast: false, seed: 0);
        data.Labels![15] = 99; // batch 1 now fails to build, on the background task
        using (var batches = loader.Epoch(0).GetEnumerator())
        {
            Assert.True(batches.MoveNext());
            Assert.Equal(0, batches.Current.Index);
            var e = Assert.Throws<ArgumentException>(() => batches.MoveNext());
            Assert.Contains("label 99", e.Message);
        }
        // Stopping after batch 0 waits for batch 1 in flight and drops it with its error.
        Assert.Single(loader.Epoch(0).Take(1));
    }
}
