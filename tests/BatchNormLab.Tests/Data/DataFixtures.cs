using System.Buffers.Binary;
using System.IO.Compression;
using BatchNormLab.Data;
using BatchNormLab.IO;

namespace BatchNormLab.Tests;

/// <summary>A fresh temporary directory for fixture files, deleted with its contents on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("bnlab-data-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Write(string name, byte[] bytes)
    {
        string path = File(name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllBytes(path, bytes);
        return path;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>Small dataset files written byte by byte, so the readers are checked against the formats, not against themselves.</summary>
internal static class DataFixtures
{
    /// <summary>Bytes that run through all 256 values, different per salt.</summary>
    public static byte[] Pattern(int length, int salt) =>
        [.. Enumerable.Range(0, length).Select(i => (byte)((i * 31 + salt * 7 + 3) % 256))];

    public static byte[] IdxFile(int magic, int[] dims, byte[] payload)
    {
        var bytes = new byte[4 + 4 * dims.Length + payload.Length];
        BinaryPrimitives.WriteInt32BigEndian(bytes, magic);
        for (int d = 0; d < dims.Length; d++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * d), dims[d]);
        payload.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    public static byte[] IdxImages(int count, int rows, int columns, int salt = 0) =>
        IdxFile(0x00000803, [count, rows, columns], Pattern(count * rows * columns, salt));

    public static byte[] IdxLabels(params byte[] labels) => IdxFile(0x00000801, [labels.Length], labels);

    public static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal)) gzip.Write(data);
        return output.ToArray();
    }

    /// <summary>One CIFAR-10 record: the label byte, then 3072 pixel bytes.</summary>
    public static byte[] CifarRecord(byte label, int salt) => [label, .. Pattern(3072, salt)];

    /// <summary>Asserts that <paramref name="load"/> fails with a DataException naming <paramref name="path"/> (full) and saying each fragment.</summary>
    public static DataException AssertDataError(Action load, string path, params string[] fragments)
    {
        var e = Assert.Throws<DataException>(load);
        Assert.Contains(System.IO.Path.GetFullPath(path), e.Message);
        foreach (var fragment in fragments) Assert.Contains(fragment, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }
}
