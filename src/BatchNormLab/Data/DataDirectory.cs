using BatchNormLab.IO;

namespace BatchNormLab.Data;

/// <summary>
/// Where a dataset's files are: the --data option, then the BNLAB_DATA environment variable, then
/// the Debian package's location (Fashion-MNIST only). Nothing is ever downloaded at run time, so
/// when nothing is found the error says how to get the files.
/// </summary>
public static class DataDirectory
{
    /// <summary>The environment variable naming a data root, consulted after --data.</summary>
    public const string EnvironmentVariable = "BNLAB_DATA";

    /// <summary>Where <c>apt-get install dataset-fashion-mnist</c> puts the files.</summary>
    public const string DebianFashionMnist = "/usr/share/datasets/fashion-mnist";

    /// <summary>The dataset names understood here.</summary>
    public static readonly IReadOnlyList<string> Datasets = ["fashion-mnist", "cifar10"];

    /// <summary>
    /// The directory that directly holds <paramref name="dataset"/>'s files ("fashion-mnist" or
    /// "cifar10"). A candidate directory may hold them itself or in a subfolder named like the
    /// dataset (for CIFAR-10 also cifar-10-batches-bin, as the archive extracts).
    /// </summary>
    public static string Resolve(string? dataOption, string dataset) =>
        Resolve(dataOption, dataset, Environment.GetEnvironmentVariable(EnvironmentVariable),
            dataset == "fashion-mnist" ? DebianFashionMnist : null);

    /// <summary>
    /// <see cref="Resolve(string?, string)"/> with the environment value and default location given,
    /// so tests need not change the process environment. An explicit --data directory without the
    /// files is an error; a BNLAB_DATA without them falls through to the default (it may be a root
    /// for other datasets) and is named in the final error.
    /// </summary>
    internal static string Resolve(string? dataOption, string dataset, string? environmentValue, string? defaultPath)
    {
        if (!Datasets.Contains(dataset))
            throw new ArgumentException($"unknown dataset '{dataset}' (known: {string.Join(", ", Datasets)})", nameof(dataset));
        if (!string.IsNullOrEmpty(dataOption))
        {
            if (!Directory.Exists(dataOption)) throw new DataException($"--data {Path.GetFullPath(dataOption)}: directory not found");
            return Find(dataOption, dataset)
                ?? throw new DataException($"--data {Path.GetFullPath(dataOption)}: no {dataset} files there or in {string.Join(" or ", Subfolders(dataset).Select(s => s + "/"))} (expected {Expected(dataset)})");
        }
        var tried = new List<string>();
        foreach (var (root, what) in new[] { (environmentValue, $"{EnvironmentVariable}="), (defaultPath, "") })
        {
            if (string.IsNullOrEmpty(root)) continue;
            if (Find(root, dataset) is { } found) return found;
            tried.Add(what + Path.GetFullPath(root));
        }
        string looked = tried.Count > 0 ? $"looked in {string.Join(" and ", tried)}; " : "";
        string expected = $"a directory holding {Expected(dataset)}";
        throw new DataException(dataset == "fashion-mnist"
            ? $"fashion-mnist not found: {looked}install it with `apt-get install -y dataset-fashion-mnist`, or pass --data DIR or set {EnvironmentVariable}=DIR with DIR {expected}"
            : $"cifar10 not found: {looked}download the \"CIFAR-10 binary version\" (cifar-10-binary.tar.gz, https://www.cs.toronto.edu/~kriz/cifar.html), extract it and pass --data DIR or set {EnvironmentVariable}=DIR with DIR {expected}; nothing is downloaded at run time");
    }

    static string? Find(string root, string dataset) =>
        new[] { root }.Concat(Subfolders(dataset).Select(s => Path.Combine(root, s))).FirstOrDefault(d => Holds(d, dataset));

    static string[] Subfolders(string dataset) => dataset == "cifar10"
        ? ["cifar10", Cifar10.ArchiveFolder, Path.Combine("cifar10", Cifar10.ArchiveFolder)]
        : [dataset];

    static bool Holds(string directory, string dataset) => dataset == "cifar10"
        ? Cifar10.FileNames.All(n => File.Exists(Path.Combine(directory, n)))
        : FashionMnist.FileNames.All(n => File.Exists(Path.Combine(directory, n)) || File.Exists(Path.Combine(directory, n + ".gz")));

    static string Expected(string dataset) => dataset == "cifar10"
        ? string.Join(", ", Cifar10.FileNames)
        : string.Join(", ", FashionMnist.FileNames.Select(n => n + "[.gz]"));
}
