using BatchNormLab.Data;

namespace BatchNormLab.Tests;

public sealed class DatasetTests
{
    [Fact]
    public void TakeAndSubsetKeepSamplesAndLabelsTogether()
    {
        var data = new Dataset("d", Tensor.FromArray(new float[] { 0, 1, 10, 11, 20, 21, 30, 31 }, 4, 2), new[] { 3, 1, 2, 0 }, 4);
        var first = data.Take(3);
        Assert.Equal(("d", 3, 4), (first.Name, first.Count, first.Classes));
        Assert.Equal(new float[] { 0, 1, 10, 11, 20, 21 }, first.Inputs.ToFloatArray());
        Assert.Equal(new[] { 3, 1, 2 }, first.Labels);
        var picked = data.Subset([3, 0]);
        Assert.Equal(new float[] { 30, 31, 0, 1 }, picked.Inputs.ToFloatArray());
        Assert.Equal(new[] { 0, 3 }, picked.Labels);
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Take(5));
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Subset([4]));

        var regression = new Dataset("r", Tensor.FromArray(new float[] { 1, 2, 3 }, 3, 1), Tensor.FromArray(new float[] { 10, 20, 30, 40, 50, 60 }, 3, 2));
        var last = regression.Subset([2]);
        Assert.Equal(new float[] { 60 - 10, 60 }, last.Targets!.ToFloatArray());
        Assert.Null(last.Labels);
        Assert.Equal(0, last.Classes);
    }

    [Fact]
    public void InconsistentDatasetsAreRefused()
    {
        var x = Tensor.Zeros(3, 2);
        Assert.Throws<ArgumentException>(() => new Dataset("d", x, new[] { 0, 1 }, 2));
        Assert.Throws<ArgumentException>(() => new Dataset("d", x, new[] { 0, 1, 2 }, 2));
        Assert.Throws<ArgumentException>(() => new Dataset("d", x, Tensor.Zeros(2, 1)));
        Assert.Throws<ArgumentException>(() => new Dataset("d", Tensor.Zeros(DType.Float64, 3, 2), new[] { 0, 1, 1 }, 2));
    }
}
