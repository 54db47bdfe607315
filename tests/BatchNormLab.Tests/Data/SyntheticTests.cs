using BatchNormLab.Data;

namespace BatchNormLab.Tests;

public sealed class SyntheticTests
{
    [Fact]
    public void LinearRegressionTargetsAreAxForTheReturnedA()
    {
        var task = Synthetic.LinearRegression(seed: 11, count: 50);
        Assert.Equal(new[] { 10, 10 }, task.A.Shape);
        Assert.Equal(new[] { 50, 10 }, task.Data.Inputs.Shape);
        Assert.Equal(new[] { 50, 10 }, task.Data.Targets!.Shape);
        Assert.Null(task.Data.Labels);
        float[] a = task.A.ToFloatArray(), x = task.Data.Inputs.ToFloatArray(), y = task.Data.Targets.ToFloatArray();
        for (int n = 0; n < 50; n++)
            for (int i = 0; i < 10; i++)
            {
                double sum = 0;
                for (int j = 0; j < 10; j++) sum += (double)a[i * 10 + j] * x[n * 10 + j];
                Assert.Equal((float)sum, y[n * 10 + i]);
            }
        // A and x are standard normal: over 100 and 500 draws, means near 0 and variances near 1.
        foreach (var values in new[] { a, x })
        {
            double mean = values.Average(v => (double)v), variance = values.Average(v => (v - mean) * (v - mean));
            Assert.InRange(mean, -0.3, 0.3);
            Assert.InRange(variance, 0.7, 1.4);
        }
    }

    [Fact]
    public void TheSeedFixesEveryBit()
    {
        var first = Synthetic.LinearRegression(5, 20, dims: 4);
        var again = Synthetic.LinearRegression(5, 20, dims: 4);
        var other = Synthetic.LinearRegression(6, 20, dims: 4);
        Assert.Equal(first.A.ToFloatArray(), again.A.ToFloatArray());
        Assert.Equal(first.Data.Inputs.ToFloatArray(), again.Data.Inputs.ToFloatArray());
        Assert.Equal(first.Data.Targets!.ToFloatArray(), again.Data.Targets!.ToFloatArray());
        Assert.NotEqual(first.A.ToFloatArray(), other.A.ToFloatArray());

        var mixture = Synthetic.GaussianMixture(5, 100, 4, 8);
        Assert.Equal(mixture.Inputs.ToFloatArray(), Synthetic.GaussianMixture(5, 100, 4, 8).Inputs.ToFloatArray());
        Assert.NotEqual(mixture.Inputs.ToFloatArray(), Synthetic.GaussianMixture(7, 100, 4, 8).Inputs.ToFloatArray());
    }

    [Fact]
    public void GaussianMixtureClustersAreBalancedAndSeparated()
    {
        const int count = 4000, classes = 4, dims = 16;
        const double separation = 5;
        var data = Synthetic.GaussianMixture(3, count, classes, dims, separation);
        Assert.Equal(classes, data.Classes);
        Assert.Equal(new[] { count, dims }, data.Inputs.Shape);
        Assert.All(data.Labels!.CountBy(l => l), pair => Assert.Equal(count / classes, pair.Value));
        Assert.Equal(new[] { 0, 1, 2, 3, 0, 1 }, data.Labels![..6]);

        // Each class's mean estimates its centre (|centre| = separation); around it the noise has unit variance per dimension.
        var x = data.Inputs.ToFloatArray();
        var means = new double[classes, dims];
        for (int i = 0; i < count; i++)
            for (int d = 0; d < dims; d++) means[data.Labels[i], d] += x[i * dims + d] / (count / classes);
        for (int c = 0; c < classes; c++)
        {
            double norm = Math.Sqrt(Enumerable.Range(0, dims).Sum(d => means[c, d] * means[c, d]));
            Assert.InRange(norm, separation - 0.3, separation + 0.3);
        }
        double noise = 0;
        for (int i = 0; i < count; i++)
            for (int d = 0; d < dims; d++) noise += Math.Pow(x[i * dims + d] - means[data.Labels[i], d], 2) / ((double)count * dims);
        Assert.InRange(noise, 0.9, 1.1);
    }
}
