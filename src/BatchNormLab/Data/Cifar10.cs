using BatchNormLab.IO;

namespace BatchNormLab.Data;

/// <summary>
/// CIFAR-10, "binary version": data_batch_1.bin … data_batch_5.bin (training) and test_batch.bin,
/// each a sequence of 3073-byte records: one label byte, then 1024 red, 1024 green and 1024 blue
/// bytes (32×32, row-major), which is already the [3, 32, 32] layout we want.
/// </summary>
public static class Cifar10
{
    /// <summary>CIFAR-10's shape: 10 classes of 32×32 images with 3 channels (RGB).</summary>
    public const int Classes = 10, Side = 32, Channels = 3;
    const int ImageBytes = Channels * Side * Side, RecordBytes = 1 + ImageBytes;

    /// <summary>The folder the official archive extracts to.</summary>
    public const string ArchiveFolder = "cifar-10-batches-bin";

    internal static readonly string[] TrainFiles = [.. Enumerable.Range(1, 5).Select(i => $"data_batch_{i}.bin")];
    internal const string TestFile = "test_batch.bin";
    internal static IEnumerable<string> FileNames => TrainFiles.Append(TestFile);

    /// <summary>
    /// The training (50000) or test (10000) set: pixels/255 in float32 [N, 3, 32, 32], 10 classes.
    /// <paramref name="directory"/> holds the .bin files or the cifar-10-batches-bin folder with them.
    /// </summary>
    public static Dataset Load(string directory, bool train)
    {
        string[] names = train ? TrainFiles : [TestFile];
        string folder = BatchFolder(directory);
        var missing = names.Where(n => !File.Exists(Path.Combine(folder, n))).ToList();
        if (missing.Count > 0)
            throw DataException.InFile(Path.Combine(folder, missing[0]),
                "file not found" + (missing.Count > 1 ? $" (also missing: {string.Join(", ", missing.Skip(1))})" : ""));

        var files = names.Select(n => (Path: Path.Combine(folder, n), Bytes: ReadBatch(Path.Combine(folder, n)))).ToList();
        long total = files.Sum(f => (long)f.Bytes.Length / RecordBytes);
        if (total * ImageBytes > Array.MaxLength) throw new DataException($"{Path.GetFullPath(folder)}: {total} CIFAR-10 images do not fit in one tensor");
        var pixels = GC.AllocateUninitializedArray<float>((int)total * ImageBytes);
        var labels = new int[total];
        int n = 0;
        foreach (var (path, bytes) in files)
        {
            for (int r = 0; r < bytes.Length / RecordBytes; r++, n++)
            {
                var record = bytes.AsSpan(r * RecordBytes, RecordBytes);
                if (record[0] >= Classes)
                    throw DataException.InFile(path, $"record {r} has label {record[0]}, expected 0..{Classes - 1} (is this CIFAR-10's binary version?)");
                labels[n] = record[0];
                Pixels.ToUnit(record[1..], pixels.AsSpan(n * ImageBytes, ImageBytes));
            }
        }
        return new Dataset(train ? "cifar10-train" : "cifar10-test", new Tensor(pixels, 0, [(int)total, Channels, Side, Side]), labels, Classes);
    }

    /// <summary><paramref name="directory"/> itself if it holds any batch file, else its cifar-10-batches-bin folder if there is one.</summary>
    internal static string BatchFolder(string directory)
    {
        string archive = Path.Combine(directory, ArchiveFolder);
        bool direct = FileNames.Any(n => File.Exists(Path.Combine(directory, n)));
        return !direct && Directory.Exists(archive) ? archive : directory;
    }

    static byte[] ReadBatch(string path)
    {
        byte[] bytes = DataFile.Read(path);
        if (bytes.Length == 0) throw DataException.InFile(path, "empty file");
        if (bytes.Length % RecordBytes != 0)
            throw DataException.InFile(path, $"truncated: {bytes.Length} bytes is not a whole number of {RecordBytes}-byte records ({bytes.Length / RecordBytes} records and {bytes.Length % RecordBytes} bytes over)");
        return bytes;
    }
}
