using System.Text;
using BatchNormLab.Data;
using BatchNormLab.IO;
using Xunit;

namespace BatchNormLab.Tests;

public sealed class SafetensorsTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-st-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void RoundTripsValuesShapesAndMetadata()
    {
        string path = Path.Combine(dir, "a.safetensors");
        var f = Tensor.FromArray((float[])[1.5f, -2f, float.Epsilon, 3e38f, 0f, 7f], 2, 3);
        var d = Tensor.FromArray((double[])[Math.PI, -1e-300], 2);
        Safetensors.Write(path, [new("layer.weight", f), new("x", d), new("bn.num_batches_tracked", null, 42)], new Dictionary<string, string> { ["step"] = "7" });

        var (entries, metadata) = Safetensors.Read(path);
        Assert.Equal(["layer.weight", "x", "bn.num_batches_tracked"], entries.Select(e => e.Name));
        Assert.Equal([2, 3], entries[0].Tensor!.Shape);
        Assert.Equal(f.ToFloatArray(), entries[0].Tensor!.ToFloatArray());
        Assert.Equal(d.ToDoubleArray(), entries[1].Tensor!.ToDoubleArray());
        Assert.Equal(42, entries[2].Int64);
        Assert.Equal("7", metadata["step"]);
        // The header length is a multiple of 8 so the data is aligned, as the format recommends.
        Assert.Equal(0, BitConverter.ToInt64(File.ReadAllBytes(path), 0) % 8);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp-*"));
    }

    [Fact]
    public void MalformedFilesNameTheFileAndTheProblem()
    {
        string truncated = Path.Combine(dir, "t.safetensors");
        Safetensors.Write(truncated, [new("w", Tensor.Ones(100))]);
        var bytes = File.ReadAllBytes(truncated);
        File.WriteAllBytes(truncated, bytes[..^10]);
        var e = Assert.Throws<DataException>(() => Safetensors.Read(truncated));
        Assert.Contains(truncated, e.Message);
        Assert.Contains("'w'", e.Message);

        string garbage = Path.Combine(dir, "g.safetensors");
        File.WriteAllBytes(garbage, Encoding.ASCII.GetBytes("this is not a safetensors file at all"));
        Assert.Contains("not a safetensors file", Assert.Throws<DataException>(() => Safetensors.Read(garbage)).Message);

        string missing = Path.Combine(dir, "missing.safetensors");
        Assert.Contains(missing, Assert.Throws<DataException>(() => Safetensors.Read(missing)).Message);
    }
}
