using System.IO.Compression;
using BatchNormLab.IO;

namespace BatchNormLab.Data;

/// <summary>Whole-file reads that turn I/O failures into <see cref="DataException"/>s naming the file.</summary>
internal static class DataFile
{
    public static byte[] Read(string path)
    {
        if (!File.Exists(path)) throw DataException.InFile(path, "file not found");
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw DataException.InFile(path, $"cannot read the file ({e.Message})", e);
        }
    }

    /// <summary>
    /// The file's bytes, gunzipped when they start with the gzip magic 1f 8b (whatever the file is
    /// called: a renamed .gz must not be parsed as raw data).
    /// </summary>
    public static byte[] ReadMaybeGzip(string path)
    {
        byte[] bytes = Read(path);
        if (bytes.Length < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b) return bytes;
        try
        {
            using var gzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
            using var output = new MemoryStream();
            gzip.CopyTo(output);
            return output.ToArray();
        }
        catch (InvalidDataException e)
        {
            // zlib's own wording often misleads (a bad checksum reads "unsupported compression method").
            throw DataException.InFile(path, "corrupt gzip data: it does not decompress", e);
        }
    }
}

/// <summary>Byte pixels to float32 in [0, 1].</summary>
internal static class Pixels
{
    static readonly float[] Unit = Enumerable.Range(0, 256).Select(b => b / 255f).ToArray();

    public static void ToUnit(ReadOnlySpan<byte> bytes, Span<float> into)
    {
        for (int i = 0; i < bytes.Length; i++) into[i] = Unit[bytes[i]];
    }
}
