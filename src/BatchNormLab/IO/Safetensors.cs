using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BatchNormLab.IO;

/// <summary>One named entry of a safetensors file: a float tensor, or an int64 scalar (PyTorch's num_batches_tracked).</summary>
/// <param name="Name">The entry's key, e.g. <c>bn.running_mean</c>.</param>
/// <param name="Tensor">The float32 or float64 tensor, or null for an int64 entry.</param>
/// <param name="Int64">The int64 value when <paramref name="Tensor"/> is null.</param>
public sealed record NamedTensor(string Name, Tensor? Tensor, long? Int64 = null);

/// <summary>
/// The safetensors format (Hugging Face), which PyTorch users load with safetensors.torch.load_file:
/// an 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__":
/// {string: string}}, then the raw little-endian tensor bytes. F32, F64 and I64 are read and written.
/// </summary>
public static class Safetensors
{
    /// <summary>Writes <paramref name="entries"/> in order, with optional string <paramref name="metadata"/>, to <paramref name="path"/> atomically; names must be unique and not <c>__metadata__</c>.</summary>
    public static void Write(string path, IEnumerable<NamedTensor> entries, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = entries.ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 }) header["__metadata__"] = new JsonObject(metadata.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));
        long offset = 0;
        foreach (var e in list)
        {
            if (e.Name == "__metadata__" || !header.TryAdd(e.Name, null)) throw new ArgumentException($"duplicate or reserved tensor name '{e.Name}'");
            var (dtype, shape, bytes) = e.Tensor is { } t ? (t.DType == DType.Float32 ? "F32" : "F64", t.Shape, (long)t.Length * (t.DType == DType.Float32 ? 4 : 8)) : ("I64", Array.Empty<int>(), 8L);
            header[e.Name] = new JsonObject
            {
                ["dtype"] = dtype,
                ["shape"] = new JsonArray(shape.Select(d => (JsonNode?)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8; // data starts 8-byte aligned
        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(length, padded);
            stream.Write(length);
            stream.Write(json);
            for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var e in list)
            {
                if (e.Tensor is null)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(length, e.Int64 ?? 0);
                    stream.Write(length);
                }
                else if (e.Tensor.DType == DType.Float32) stream.Write(MemoryMarshal.AsBytes(e.Tensor.FloatSpan));
                else stream.Write(MemoryMarshal.AsBytes(e.Tensor.DoubleSpan));
            }
        });
    }

    /// <summary>Reads every entry, in file order; a malformed file gives a <see cref="DataException"/> naming it.</summary>
    public static (List<NamedTensor> Entries, Dictionary<string, string> Metadata) Read(string path)
    {
        if (!File.Exists(path)) throw new DataException($"{path}: file not found");
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8) throw new DataException($"{path}: not a safetensors file (shorter than its 8-byte header length)");
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        if (headerLength < 2 || headerLength > bytes.Length - 8) throw new DataException($"{path}: not a safetensors file (header length {headerLength} does not fit a file of {bytes.Length} bytes)");
        JsonObject header;
        try { header = JsonNode.Parse(bytes.AsSpan(8, (int)headerLength))!.AsObject(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { throw new DataException($"{path}: safetensors header is not a JSON object ({e.Message})"); }
        int dataStart = 8 + (int)headerLength;
        var metadata = new Dictionary<string, string>();
        var entries = new List<(long Start, NamedTensor Entry)>();
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
            {
                foreach (var (k, v) in node!.AsObject()) metadata[k] = v?.GetValue<string>() ?? "";
                continue;
            }
            try
            {
                string dtype = node!["dtype"]!.GetValue<string>();
                int[] shape = node["shape"]!.AsArray().Select(d => d!.GetValue<int>()).ToArray();
                long start = node["data_offsets"]![0]!.GetValue<long>(), end = node["data_offsets"]![1]!.GetValue<long>();
                int size = dtype switch { "F32" => 4, "F64" or "I64" => 8, _ => throw new DataException($"{path}: tensor '{name}' has dtype {dtype}; BatchNormLab reads F32, F64 and I64") };
                long count = shape.Aggregate(1L, (a, d) => a * d);
                if (shape.Any(d => d < 0) || end - start != count * size || start < 0 || dataStart + end > bytes.Length)
                    throw new DataException($"{path}: tensor '{name}' (shape [{string.Join(", ", shape)}], {dtype}) has data offsets [{start}, {end}] that do not match its size or the file ({bytes.Length} bytes)");
                var data = bytes.AsSpan(dataStart + (int)start, (int)(end - start));
                NamedTensor entry = dtype switch
                {
                    "F32" => new(name, Tensor.FromArray(MemoryMarshal.Cast<byte, float>(data).ToArray(), shape)),
                    "F64" => new(name, Tensor.FromArray(MemoryMarshal.Cast<byte, double>(data).ToArray(), shape)),
                    _ when count == 1 => new(name, null, BinaryPrimitives.ReadInt64LittleEndian(data)),
                    _ => throw new DataException($"{path}: tensor '{name}' is an I64 array; only I64 scalars are read"),
                };
                entries.Add((start, entry));
            }
            catch (Exception e) when (e is InvalidOperationException or NullReferenceException or FormatException)
            {
                throw new DataException($"{path}: entry '{name}' of the safetensors header is malformed");
            }
        }
        return (entries.OrderBy(e => e.Start).Select(e => e.Entry).ToList(), metadata);
    }
}
