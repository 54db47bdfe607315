using BatchNormLab.Data;
using static BatchNormLab.Tests.DataFixtures;

namespace BatchNormLab.Tests;

public sealed class Cifar10Tests : IDisposable
{
    readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    /// <summary>Five training batches of two records (labels 2f, 2f+1) and a test batch of three, under <paramref name="folder"/>.</summary>
    void WriteBatches(string folder)
    {
        for (int f = 1; f <= 5; f++)
            dir.Write(Path.Combine(folder, $"data_batch_{f}.bin"), [.. CifarRecord((byte)(2 * f - 2), 10 * f), .. CifarRecord((byte)(2 * f - 1), 10 * f + 1)]);
        dir.Write(Path.Combine(folder, "test_batch.bin"), [.. CifarRecord(3, 100), .. CifarRecord(0, 101), .. CifarRecord(9, 102)]);
    }

    [Fact]
    public void RecordsBecomePlanarImagesInUnitRange()
    {
        WriteBatches("");
        var train = Cifar10.Load(dir.Path, train: true);
        Assert.Equal(new[] { 10, 3, 32, 32 }, train.Inputs.Shape);
        Assert.Equal(Enumerable.Range(0, 10), train.Labels!);
        Assert.Equal(10, train.Classes);
        // Record bytes 1.. are R plane, G plane, B plane, each 32x32 row-major: element [n, c, y, x].
        var pixels = train.Inputs.ToFloatArray();
        for (int n = 0; n < 10; n++)
        {
            byte[] record = CifarRecord(0, 10 * (n / 2 + 1) + n % 2);
            foreach (var (c, y, x) in new[] { (0, 0, 0), (0, 0, 31), (1, 5, 7), (2, 31, 31), (2, 17, 3) })
                Assert.Equal(record[1 + c * 1024 + y * 32 + x] / 255f, pixels[n * 3072 + c * 1024 + y * 32 + x]);
        }
        Assert.Equal(Enumerable.Range(0, 10).SelectMany(n => CifarRecord(0, 10 * (n / 2 + 1) + n % 2)[1..]).Select(b => b / 255f), pixels);
    }

    [Fact]
    public void TheExtractedArchiveFolderIsAccepted()
    {
        WriteBatches(Cifar10.ArchiveFolder);
        var test = Cifar10.Load(dir.Path, train: false);
        Assert.Equal(new[] { 3, 0, 9 }, test.Labels);
        Assert.Equal(CifarRecord(9, 102)[1..].Select(b => b / 255f), test.Inputs.ToFloatArray()[(2 * 3072)..]);
    }

    [Fact]
    public void MalformedBatchesAreNamedWithTheirProblem()
    {
        WriteBatches("");
        string cut = dir.Write("data_batch_2.bin", [.. CifarRecord(1, 0), .. CifarRecord(2, 0)[..^1]]);
        AssertDataError(() => Cifar10.Load(dir.Path, train: true), cut, "truncated", "6145 bytes", "3073-byte records");

        WriteBatches("");
        string badLabel = dir.Write("test_batch.bin", [.. CifarRecord(1, 0), .. CifarRecord(10, 0)]);
        AssertDataError(() => Cifar10.Load(dir.Path, train: false), badLabel, "record 1 has label 10", "0..9");

        WriteBatches("");
        File.Delete(dir.File("data_batch_3.bin"));
        File.Delete(dir.File("data_batch_5.bin"));
        AssertDataError(() => Cifar10.Load(dir.Path, train: true), dir.File("data_batch_3.bin"), "file not found", "also missing: data_batch_5.bin");

        string empty = dir.Write("test_batch.bin", []);
        AssertDataError(() => Cifar10.Load(dir.Path, train: false), empty, "empty");
    }
}
