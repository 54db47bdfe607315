using BatchNormLab.Data;
using static BatchNormLab.Tests.DataFixtures;

namespace BatchNormLab.Tests;

public sealed class IdxTests : IDisposable
{
    readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void RawAndGzippedFilesGiveTheExactBytes()
    {
        byte[] images = IdxImages(3, 2, 4);
        string raw = dir.Write("images", images), gz = dir.Write("images.gz", Gzip(images));
        foreach (var path in new[] { raw, gz })
        {
            var read = Idx.ReadImages(path);
            Assert.Equal((3, 2, 4), (read.Count, read.Rows, read.Columns));
            Assert.Equal(Pattern(24, 0), read.Pixels);
        }
        string labels = dir.Write("labels.gz", Gzip(IdxLabels(7, 0, 9)));
        Assert.Equal(new byte[] { 7, 0, 9 }, Idx.ReadLabels(labels));
    }

    [Fact]
    public void GzipIsDetectedByItsMagicNotByTheName()
    {
        string path = dir.Write("labels-without-extension", Gzip(IdxLabels(1, 2, 3)));
        Assert.Equal(new byte[] { 1, 2, 3 }, Idx.ReadLabels(path));
    }

    [Fact]
    public void FashionMnistPixelsAreScaledToUnitAndLabelsKept()
    {
        // Test set raw, training set gzipped: both spellings are found.
        dir.Write("t10k-images-idx3-ubyte", IdxImages(3, 28, 28, salt: 1));
        dir.Write("t10k-labels-idx1-ubyte", IdxLabels(9, 0, 4));
        dir.Write("train-images-idx3-ubyte.gz", Gzip(IdxImages(2, 28, 28, salt: 2)));
        dir.Write("train-labels-idx1-ubyte.gz", Gzip(IdxLabels(5, 5)));

        var test = FashionMnist.Load(dir.Path, train: false);
        Assert.Equal(new[] { 3, 1, 28, 28 }, test.Inputs.Shape);
        Assert.Equal(new[] { 9, 0, 4 }, test.Labels);
        Assert.Equal(10, test.Classes);
        Assert.Equal(3, test.Count);
        var expected = Pattern(3 * 784, 1).Select(b => b / 255f).ToArray();
        Assert.Equal(expected, test.Inputs.ToFloatArray());
        Assert.Equal(0f, test.Inputs.ToFloatArray().Min());
        Assert.Equal(1f, test.Inputs.ToFloatArray().Max());

        var train = FashionMnist.Load(dir.Path, train: true);
        Assert.Equal(new[] { 5, 5 }, train.Labels);
        Assert.Equal(Pattern(2 * 784, 2).Select(b => b / 255f), train.Inputs.ToFloatArray());
    }

    [Fact]
    public void MalformedIdxFilesAreNamedWithTheirProblem()
    {
        byte[] images = IdxImages(3, 2, 2);
        string labelsAsImages = dir.Write("a", IdxLabels(1, 2));
        AssertDataError(() => Idx.ReadImages(labelsAsImages), labelsAsImages, "wrong magic number 0x00000801", "expected 0x00000803", "labels file");
        string garbage = dir.Write("b", [0x50, 0x4B, 3, 4, 0, 0, 0, 0]);
        AssertDataError(() => Idx.ReadLabels(garbage), garbage, "wrong magic number 0x504B0304");
        string shortImages = dir.Write("c", images[..^1]);
        AssertDataError(() => Idx.ReadImages(shortImages), shortImages, "truncated", "3 images of 2x2 (12 bytes)", "only 11 bytes");
        string shortLabels = dir.Write("d.gz", Gzip(IdxLabels(1, 2, 3)[..^2]));
        AssertDataError(() => Idx.ReadLabels(shortLabels), shortLabels, "truncated", "3 labels", "only 1 bytes");
        string shortHeader = dir.Write("e", images[..10]);
        AssertDataError(() => Idx.ReadImages(shortHeader), shortHeader, "truncated", "header");
        string trailing = dir.Write("f", [.. images, 0]);
        AssertDataError(() => Idx.ReadImages(trailing), trailing, "1 unexpected bytes after the data");
        string negative = dir.Write("g", IdxFile(0x00000801, [-5], []));
        AssertDataError(() => Idx.ReadLabels(negative), negative, "dimension 0 is -5");
        string missing = dir.File("nothing-here");
        AssertDataError(() => Idx.ReadImages(missing), missing, "file not found");
    }

    [Fact]
    public void CorruptOrCutGzipIsAnError()
    {
        byte[] gz = Gzip(IdxImages(40, 28, 28));
        byte[] corrupt = (byte[])gz.Clone();
        for (int i = 20; i < 60; i++) corrupt[i] ^= 0x5A;
        string corruptPath = dir.Write("corrupt.gz", corrupt);
        AssertDataError(() => Idx.ReadImages(corruptPath), corruptPath, "corrupt gzip");
        // A cut stream yields fewer bytes or fails to inflate: either way an error, never a short dataset.
        string cutPath = dir.Write("cut.gz", gz[..(gz.Length / 2)]);
        var e = AssertDataError(() => Idx.ReadImages(cutPath), cutPath);
        Assert.True(e.Message.Contains("truncated") || e.Message.Contains("corrupt gzip"), e.Message);
    }

    [Fact]
    public void FashionMnistChecksTheFilesAgainstEachOther()
    {
        dir.Write("t10k-images-idx3-ubyte", IdxImages(3, 28, 28));
        string labels = dir.Write("t10k-labels-idx1-ubyte", IdxLabels(1, 2));
        AssertDataError(() => FashionMnist.Load(dir.Path, train: false), labels, "2 labels", "3 images", dir.File("t10k-images-idx3-ubyte"));

        dir.Write("t10k-labels-idx1-ubyte", IdxLabels(1, 10, 2));
        AssertDataError(() => FashionMnist.Load(dir.Path, train: false), labels, "label 10 at index 1 is out of range", "0..9");

        string images = dir.Write("t10k-images-idx3-ubyte", IdxImages(3, 27, 28));
        dir.Write("t10k-labels-idx1-ubyte", IdxLabels(1, 2, 3));
        AssertDataError(() => FashionMnist.Load(dir.Path, train: false), images, "27x28", "expected 28x28");

        AssertDataError(() => FashionMnist.Load(dir.Path, train: true), dir.File("train-images-idx3-ubyte"), "file not found", "train-images-idx3-ubyte.gz");
    }

    [FashionMnistInstalledFact]
    public void RealFashionMnistTestSetHasAThousandOfEachClass()
    {
        var test = FashionMnist.Load(DataDirectory.Resolve(null, "fashion-mnist"), train: false);
        Assert.Equal(10000, test.Count);
        Assert.Equal(new[] { 10000, 1, 28, 28 }, test.Inputs.Shape);
        Assert.All(test.Labels!.CountBy(l => l), pair => Assert.Equal(1000, pair.Value));
        Assert.Equal(10, test.Labels!.Distinct().Count());
        Assert.Equal(0, test.Labels!.Min());
        Assert.Equal(9, test.Labels!.Max());
        var pixels = test.Inputs.ToFloatArray();
        Assert.Equal(0f, pixels.Min());
        Assert.Equal(1f, pixels.Max());
    }
}
