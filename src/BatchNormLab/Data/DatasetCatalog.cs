namespace BatchNormLab.Data;

/// <summary>
/// The datasets a run can name, as (train, test) pairs ready to train on: image sets read from their
/// standard files (see <see cref="DataDirectory"/>) and normalised per channel with the training
/// set's mean and std; synthetic sets generated from the run's seed and split 10 000 / 2 000
/// (Gaussian mixture: 10 classes in 32 dimensions, flat or laid out as 2×4×4 images for the conv
/// nets) or 1 000 / 200 (the deep linear network's y = A·x, 10 dimensions).
/// </summary>
public static class DatasetCatalog
{
    /// <summary>The dataset names <see cref="Load"/> accepts.</summary>
    public static readonly string[] Names = ["fashion-mnist", "cifar10", "gaussian-mixture", "gaussian-images", "linear-regression"];

    /// <summary>The (train, test) pair named <paramref name="name"/>; image sets are found via <paramref name="dataOption"/> (see <see cref="DataDirectory.Resolve(string?, string)"/>), synthetic ones generated from <paramref name="seed"/>.</summary>
    public static (Dataset Train, Dataset Test) Load(string name, string? dataOption, ulong seed)
    {
        switch (name)
        {
            case "fashion-mnist":
            case "cifar10":
                string directory = DataDirectory.Resolve(dataOption, name);
                var train = name == "cifar10" ? Cifar10.Load(directory, train: true) : FashionMnist.Load(directory, train: true);
                var test = name == "cifar10" ? Cifar10.Load(directory, train: false) : FashionMnist.Load(directory, train: false);
                var normalization = ChannelNormalization.Fit(train);
                return (normalization.Apply(train), normalization.Apply(test));
            case "gaussian-mixture":
                return Split(Synthetic.GaussianMixture(seed, 12_000, classes: 10, dims: 32), 10_000);
            case "gaussian-images":
                var mixture = Synthetic.GaussianMixture(seed, 12_000, classes: 10, dims: 32);
                return Split(new Dataset(name, mixture.Inputs.Reshape(mixture.Count, 2, 4, 4), mixture.Labels!, mixture.Classes), 10_000);
            case "linear-regression":
                return Split(Synthetic.LinearRegression(seed, 1_200, dims: 10).Data, 1_000);
            default:
                throw new ArgumentException($"unknown dataset '{name}'; datasets: {string.Join(", ", Names)}");
        }
    }

    /// <summary>
    /// The shape of one example and the number of outputs a model needs (classes, or regression targets) for dataset
    /// <paramref name="name"/>, without reading an image dataset's files (its shape is fixed); a synthetic one is generated.
    /// </summary>
    public static (int[] Sample, int Outputs) Shape(string name, string? dataOption, ulong seed)
    {
        switch (name)
        {
            case "fashion-mnist": return ([1, 28, 28], 10);
            case "cifar10": return ([3, 32, 32], 10);
            default:
                var train = Load(name, dataOption, seed).Train;
                return (train.Inputs.Shape[1..], train.Labels is null ? train.Targets!.Size(1) : train.Classes);
        }
    }

    static (Dataset, Dataset) Split(Dataset all, int trainCount) =>
        (all.Subset(Enumerable.Range(0, trainCount).ToArray()), all.Subset(Enumerable.Range(trainCount, all.Count - trainCount).ToArray()));
}
