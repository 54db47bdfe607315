using BatchNormLab.Data;
using BatchNormLab.IO;

namespace BatchNormLab.Tests;

public sealed class DataDirectoryTests : IDisposable
{
    readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    /// <summary>Empty files with the dataset's names: Resolve only looks for them.</summary>
    string Populate(string folder, string dataset)
    {
        var names = dataset == "cifar10"
            ? ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"]
            : new[] { "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz" };
        foreach (var name in names) dir.Write(Path.Combine(folder, name), []);
        return dir.File(folder);
    }

    [Fact]
    public void OptionComesBeforeEnvironmentBeforeDefault()
    {
        string option = Populate("option", "fashion-mnist"), env = Populate("env", "fashion-mnist"), debian = Populate("debian", "fashion-mnist");
        Assert.Equal(option, DataDirectory.Resolve(option, "fashion-mnist", env, debian));
        Assert.Equal(env, DataDirectory.Resolve(null, "fashion-mnist", env, debian));
        Assert.Equal(env, DataDirectory.Resolve("", "fashion-mnist", env, debian));
        Assert.Equal(debian, DataDirectory.Resolve(null, "fashion-mnist", null, debian));
        // A BNLAB_DATA root without this dataset falls through to the default.
        Assert.Equal(debian, DataDirectory.Resolve(null, "fashion-mnist", dir.File("option-less"), debian));
        // The public overload takes an explicit option whatever the environment says.
        Assert.Equal(option, DataDirectory.Resolve(option, "fashion-mnist"));
    }

    [Fact]
    public void DatasetSubfoldersOfARootAreFound()
    {
        string fashion = Populate(Path.Combine("root", "fashion-mnist"), "fashion-mnist");
        string cifar = Populate(Path.Combine("root", "cifar-10-batches-bin"), "cifar10");
        string root = dir.File("root");
        Assert.Equal(fashion, DataDirectory.Resolve(null, "fashion-mnist", root, null));
        Assert.Equal(cifar, DataDirectory.Resolve(root, "cifar10", null, null));
        string nested = Populate(Path.Combine("other", "cifar10", "cifar-10-batches-bin"), "cifar10");
        Assert.Equal(nested, DataDirectory.Resolve(null, "cifar10", dir.File("other"), null));
    }

    [Fact]
    public void AnExplicitDirectoryWithoutTheFilesIsAnError()
    {
        string empty = Directory.CreateDirectory(dir.File("empty")).FullName;
        var e = Assert.Throws<DataException>(() => DataDirectory.Resolve(empty, "fashion-mnist", null, null));
        Assert.Contains($"--data {empty}", e.Message);
        Assert.Contains("train-images-idx3-ubyte[.gz]", e.Message);
        Assert.Contains("t10k-labels-idx1-ubyte[.gz]", e.Message);

        e = Assert.Throws<DataException>(() => DataDirectory.Resolve(dir.File("absent"), "cifar10", null, null));
        Assert.Contains(dir.File("absent"), e.Message);
        Assert.Contains("directory not found", e.Message);
    }

    [Fact]
    public void NothingFoundSaysHowToGetTheData()
    {
        string env = Directory.CreateDirectory(dir.File("env")).FullName;
        var e = Assert.Throws<DataException>(() => DataDirectory.Resolve(null, "fashion-mnist", env, dir.File("no-debian")));
        Assert.Contains("apt-get install -y dataset-fashion-mnist", e.Message);
        Assert.Contains($"BNLAB_DATA={env}", e.Message);
        Assert.Contains(dir.File("no-debian"), e.Message);
        Assert.Contains("--data DIR", e.Message);

        e = Assert.Throws<DataException>(() => DataDirectory.Resolve(null, "cifar10", null, null));
        Assert.Contains("CIFAR-10 binary version", e.Message);
        Assert.Contains("cifar-10-binary.tar.gz", e.Message);
        Assert.Contains("--data DIR", e.Message);
        Assert.DoesNotContain("apt-get", e.Message);

        Assert.Throws<ArgumentException>(() => DataDirectory.Resolve(null, "imagenet", null, null));
    }
}
