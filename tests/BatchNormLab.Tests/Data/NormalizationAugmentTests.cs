using BatchNormLab.Data;

namespace BatchNormLab.Tests;

public sealed class NormalizationAugmentTests
{
    /// <summary>[n, 3, 4, 5] images whose channel c has mean 10c + 1 and std c + 0.5.</summary>
    static Dataset Images(ulong seed, int n)
    {
        var rng = new Rng(seed);
        var x = new float[n * 3 * 20];
        for (int i = 0; i < x.Length; i++)
        {
            int c = i / 20 % 3;
            x[i] = (float)rng.Normal(10 * c + 1, c + 0.5);
        }
        return new Dataset("images", Tensor.FromArray(x, n, 3, 4, 5), new int[n], 1);
    }

    [Fact]
    public void TrainingStatisticsNormaliseEachChannel()
    {
        var train = Images(1, 500);
        var before = train.Inputs.ToFloatArray();
        var norm = ChannelNormalization.Fit(train);
        Assert.Equal(new[] { 1.0, 11, 21 }, norm.Mean.Select(m => Math.Round(m)));
        Assert.Equal(new[] { 0.5, 1.5, 2.5 }, norm.Std.Select(s => Math.Round(s, 1)));

        var normalised = norm.Apply(train).Inputs.ToFloatArray();
        for (int c = 0; c < 3; c++)
        {
            var values = Enumerable.Range(0, normalised.Length).Where(i => i / 20 % 3 == c).Select(i => (double)normalised[i]).ToArray();
            double mean = values.Average(), std = Math.Sqrt(values.Average(v => (v - mean) * (v - mean)));
            Assert.Equal(0, mean, 1e-5);
            Assert.Equal(1, std, 1e-5);
        }
        Assert.Equal(before, train.Inputs.ToFloatArray()); // Apply copies

        // The test set uses the training statistics, and statistics restored from a config act the same.
        var test = Images(2, 7);
        var restored = new ChannelNormalization(norm.Mean, norm.Std);
        var expected = test.Inputs.ToFloatArray().Select((v, i) => (float)((v - norm.Mean[i / 20 % 3]) / norm.Std[i / 20 % 3]));
        Assert.Equal(expected, norm.Apply(test).Inputs.ToFloatArray());
        restored.ApplyInPlace(test.Inputs);
        Assert.Equal(expected, test.Inputs.ToFloatArray());
    }

    [Fact]
    public void FeaturesOfFlatInputsAreChannels()
    {
        var data = new Dataset("flat", Tensor.FromArray(new float[] { 1, 5, 3, 5, 5, 5 }, 3, 2), new[] { 0, 0, 0 }, 1);
        var norm = ChannelNormalization.Fit(data);
        Assert.Equal(new[] { 3.0, 5.0 }, norm.Mean);
        Assert.Equal(new[] { Math.Sqrt(8.0 / 3), 1.0 }, norm.Std); // a constant feature is only centred
        Assert.Throws<ArgumentException>(() => norm.ApplyInPlace(Tensor.Zeros(2, 3)));
    }

    // One 2x3x4 image: channel c, row y, column x holds 100c + 10y + x + 1 (so 0 means "padding").
    static readonly float[] Tiny = [.. Enumerable.Range(0, 24).Select(i => (float)(100 * (i / 12) + 10 * (i / 4 % 3) + i % 4 + 1))];

    static float[] CropFlip(int dy, int dx, bool flip)
    {
        var result = new float[24];
        Augment.CropFlip(Tiny, result, 2, 3, 4, dy, dx, flip);
        return result;
    }

    [Fact]
    public void CropShiftsThePixelsAndFlipMirrorsThem()
    {
        float[] channel0 = [1, 2, 3, 4, 11, 12, 13, 14, 21, 22, 23, 24];
        Assert.Equal(Tiny, CropFlip(0, 0, false));
        // Window one row down and two columns right: content moves up and left, zeros enter bottom and right.
        Assert.Equal(new float[] { 13, 14, 0, 0, 23, 24, 0, 0, 0, 0, 0, 0 }, CropFlip(1, 2, false)[..12]);
        Assert.Equal(new float[] { 113, 114, 0, 0, 123, 124, 0, 0, 0, 0, 0, 0 }, CropFlip(1, 2, false)[12..]);
        // Window one row up and one column left: content moves down and right.
        Assert.Equal(new float[] { 0, 0, 0, 0, 0, 1, 2, 3, 0, 11, 12, 13 }, CropFlip(-1, -1, false)[..12]);
        Assert.Equal(new float[] { 4, 3, 2, 1, 14, 13, 12, 11, 24, 23, 22, 21 }, CropFlip(0, 0, true)[..12]);
        // Crop first, then mirror the cropped window.
        Assert.Equal(new float[] { 0, 0, 14, 13, 0, 0, 24, 23, 0, 0, 0, 0 }, CropFlip(1, 2, true)[..12]);
        Assert.Equal(channel0, Tiny[..12]);
    }

    [Fact]
    public void AugmentDrawsCropAndFlipFromTheSeed()
    {
        var batch = Tensor.FromArray([.. Enumerable.Range(0, 50).SelectMany(_ => Tiny)], 50, 2, 3, 4);
        var augment = new Augment(padding: 1);
        var once = batch.Clone();
        augment.ApplyInPlace(once, new Rng(9));

        // Per image the draws are: top, left in [0, 2·padding], then the flip.
        var rng = new Rng(9);
        var seen = new HashSet<(int, int, bool)>();
        for (int b = 0; b < 50; b++)
        {
            int top = rng.NextInt(3), left = rng.NextInt(3);
            bool flip = rng.NextDouble() < 0.5;
            seen.Add((top, left, flip));
            Assert.Equal(CropFlip(top - 1, left - 1, flip), once.ToFloatArray()[(b * 24)..((b + 1) * 24)]);
        }
        Assert.True(seen.Count > 12, $"only {seen.Count} of 18 crops and flips drawn in 50 images");

        var twice = batch.Clone();
        augment.ApplyInPlace(twice, new Rng(9));
        Assert.Equal(once.ToFloatArray(), twice.ToFloatArray());
        var other = batch.Clone();
        augment.ApplyInPlace(other, new Rng(10));
        Assert.NotEqual(once.ToFloatArray(), other.ToFloatArray());
    }

    [Fact]
    public void AugmentKeepsTheSizeOfAnyImage()
    {
        var images = Tensor.Ones(4, 1, 28, 28);
        new Augment().ApplyInPlace(images, new Rng(1));
        Assert.Equal(new[] { 4, 1, 28, 28 }, images.Shape);
        // Each image keeps a 24x24 block of ones at least and loses at most 4 rows and 4 columns.
        for (int b = 0; b < 4; b++)
            Assert.InRange(images.ToFloatArray()[(b * 784)..((b + 1) * 784)].Sum(), 24 * 24, 28 * 28);
        Assert.Throws<ArgumentException>(() => new Augment().ApplyInPlace(Tensor.Zeros(4, 784), new Rng(1)));
    }
}
