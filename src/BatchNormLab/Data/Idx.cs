using System.Buffers.Binary;
using BatchNormLab.IO;

namespace BatchNormLab.Data;

/// <summary>Images from an IDX file: <see cref="Count"/> images of Rows×Columns bytes, row-major.</summary>
/// <param name="Count">Number of images.</param>
/// <param name="Rows">Image height in pixels.</param>
/// <param name="Columns">Image width in pixels.</param>
/// <param name="Pixels">Count·Rows·Columns bytes, image after image.</param>
public sealed record IdxImages(int Count, int Rows, int Columns, byte[] Pixels);

/// <summary>
/// LeCun's IDX format of (Fashion-)MNIST: a big-endian magic number 0x000008nn (unsigned bytes,
/// nn dimensions), nn big-endian int32 sizes, then the bytes. Raw or gzipped (detected by the
/// gzip magic). The size must match the header exactly: a short file is never read as a smaller
/// dataset, and trailing bytes mean the file is not what its header says.
/// </summary>
public static class Idx
{
    /// <summary>Magic number of an IDX images file: unsigned bytes, 3 dimensions.</summary>
    public const int ImagesMagic = 0x00000803;
    /// <summary>Magic number of an IDX labels file: unsigned bytes, 1 dimension.</summary>
    public const int LabelsMagic = 0x00000801;

    /// <summary>Reads an IDX images file (raw or gzipped); throws <see cref="DataException"/> when it is malformed.</summary>
    public static IdxImages ReadImages(string path)
    {
        var (dims, bytes) = Read(path, ImagesMagic, "images");
        return new IdxImages(dims[0], dims[1], dims[2], bytes);
    }

    /// <summary>Reads an IDX labels file (raw or gzipped): one byte per label; throws <see cref="DataException"/> when it is malformed.</summary>
    public static byte[] ReadLabels(string path) => Read(path, LabelsMagic, "labels").Bytes;

    static (int[] Dims, byte[] Bytes) Read(string path, int magic, string kind)
    {
        byte[] file = DataFile.ReadMaybeGzip(path);
        int rank = magic & 0xFF, header = 4 + 4 * rank;
        if (file.Length < 4) throw DataException.InFile(path, $"truncated: {file.Length} bytes, too short for an IDX {kind} header");
        int found = BinaryPrimitives.ReadInt32BigEndian(file);
        if (found != magic)
        {
            int other = magic == ImagesMagic ? LabelsMagic : ImagesMagic;
            string hint = found == other ? $" (this is an IDX {(kind == "images" ? "labels" : "images")} file)" : "";
            throw DataException.InFile(path, $"wrong magic number 0x{found:X8}, expected 0x{magic:X8} for IDX {kind}{hint}");
        }
        if (file.Length < header) throw DataException.InFile(path, $"truncated: {file.Length} bytes, the IDX {kind} header alone is {header}");

        var dims = new int[rank];
        long expected = 1;
        for (int d = 0; d < rank; d++)
        {
            dims[d] = BinaryPrimitives.ReadInt32BigEndian(file.AsSpan(4 + 4 * d));
            if (dims[d] < 0) throw DataException.InFile(path, $"invalid IDX header: dimension {d} is {dims[d]}");
            expected *= dims[d];
            if (expected > Array.MaxLength) throw DataException.InFile(path, $"invalid IDX header: sizes [{string.Join(", ", dims[..(d + 1)])}] are too large");
        }
        long actual = file.Length - header;
        string declared = $"the header declares {dims[0]} {kind}" + (rank > 1 ? $" of {string.Join("x", dims[1..])}" : "");
        if (actual < expected)
            throw DataException.InFile(path, $"truncated: {declared} ({expected} bytes) but only {actual} bytes follow");
        if (actual > expected)
            throw DataException.InFile(path, $"{actual - expected} unexpected bytes after the data: {declared} ({expected} bytes)");
        return (dims, file[header..]);
    }
}

/// <summary>
/// Fashion-MNIST (and MNIST, whose files are named the same) from a directory holding
/// train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
/// t10k-labels-idx1-ubyte, each raw or .gz.
/// </summary>
public static class FashionMnist
{
    /// <summary>Fashion-MNIST's shape: 10 classes of 28×28 single-channel images.</summary>
    public const int Classes = 10, Side = 28;

    /// <summary>The four files without their optional .gz.</summary>
    internal static readonly string[] FileNames =
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    /// <summary>The training (60000) or test (10000) set: pixels/255 in float32 [N, 1, 28, 28], 10 classes.</summary>
    public static Dataset Load(string directory, bool train)
    {
        string prefix = train ? "train" : "t10k";
        string imagesPath = Find(directory, $"{prefix}-images-idx3-ubyte");
        string labelsPath = Find(directory, $"{prefix}-labels-idx1-ubyte");
        var images = Idx.ReadImages(imagesPath);
        byte[] labels = Idx.ReadLabels(labelsPath);

        if (images.Rows != Side || images.Columns != Side)
            throw DataException.InFile(imagesPath, $"images are {images.Rows}x{images.Columns}, expected {Side}x{Side}");
        if (images.Count == 0) throw DataException.InFile(imagesPath, "the file holds no images");
        if (labels.Length != images.Count)
            throw DataException.InFile(labelsPath, $"{labels.Length} labels but {Path.GetFullPath(imagesPath)} holds {images.Count} images");
        int bad = Array.FindIndex(labels, l => l >= Classes);
        if (bad >= 0) throw DataException.InFile(labelsPath, $"label {labels[bad]} at index {bad} is out of range (expected 0..{Classes - 1})");

        var pixels = GC.AllocateUninitializedArray<float>(images.Pixels.Length);
        Pixels.ToUnit(images.Pixels, pixels);
        var inputs = new Tensor(pixels, 0, [images.Count, 1, Side, Side]);
        return new Dataset(train ? "fashion-mnist-train" : "fashion-mnist-test", inputs, Array.ConvertAll(labels, l => (int)l), Classes);
    }

    /// <summary>The raw file if present, else the .gz; a missing pair is reported by both names.</summary>
    static string Find(string directory, string name)
    {
        string raw = Path.Combine(directory, name), gz = raw + ".gz";
        if (File.Exists(raw)) return raw;
        if (File.Exists(gz)) return gz;
        throw DataException.InFile(raw, $"file not found (nor {name}.gz)");
    }
}
