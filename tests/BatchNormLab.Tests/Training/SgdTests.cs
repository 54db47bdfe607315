using BatchNormLab.Training;
using Xunit;

namespace BatchNormLab.Tests;

/// <summary>SGD against torch.optim.SGD (tools/golden/make_sgd_golden.py), and the schedules against their formulas.</summary>
public sealed class SgdTests
{
    static readonly double[] Start = [1.0, -2.0, 3.0, 0.5];
    static readonly double[][] Gradients = [[0.1, -0.2, 0.3, -0.4], [0.5, 0.25, -0.125, 1.0], [-1.0, 0.75, 0.2, -0.3]];

    static readonly Dictionary<string, double[][]> TorchAfterEachStep = new()
    {
        ["plain"] = [[0.99, -1.98, 2.97, 0.54], [0.94, -2.005, 2.9825000000000004, 0.44000000000000006], [1.04, -2.08, 2.9625000000000004, 0.4700000000000001]],
        ["momentum_decay"] = [[0.989, -1.978, 2.967, 0.5395], [0.928111, -1.981222, 2.9468330000000003, 0.4745105], [0.9723827890000001, -2.057140578, 2.905735867, 0.4455454395]],
        ["nesterov"] = [[0.9904525, -1.980905, 2.9713575, 0.53797625], [0.9388352035062499, -1.9964204070125, 2.97088061051875, 0.45914057112812506], [1.0098573271709583, -2.070334013716917, 2.9457521487003753, 0.461678755431934]],
        ["dampening"] = [[0.98, -1.96, 2.94, 0.58], [0.88, -1.9849999999999999, 2.9325, 0.43999999999999995], [1.01, -2.1325, 2.89275, 0.42399999999999993]],
    };

    static Sgd Make(string name, Tensor w) => name switch
    {
        "plain" => new Sgd([w], 0.1),
        "momentum_decay" => new Sgd([w], 0.1, momentum: 0.9, weightDecay: 1e-2),
        "nesterov" => new Sgd([w], 0.05, momentum: 0.9, weightDecay: 5e-4, nesterov: true),
        _ => new Sgd([w], 0.2, momentum: 0.5, dampening: 0.1),
    };

    [Theory]
    [InlineData("plain")]
    [InlineData("momentum_decay")]
    [InlineData("nesterov")]
    [InlineData("dampening")]
    public void MatchesTorchOptimSgd(string name)
    {
        var w = Tensor.FromArray((double[])Start.Clone(), 4);
        w.RequiresGrad = true;
        var sgd = Make(name, w);
        for (int step = 0; step < 3; step++)
        {
            w.Grad = Tensor.FromArray(Gradients[step], 4);
            sgd.Step();
            var expected = TorchAfterEachStep[name][step];
            var actual = w.ToDoubleArray();
            for (int i = 0; i < 4; i++) Assert.Equal(expected[i], actual[i], 1e-14);
        }
    }

    [Fact]
    public void RestoredMomentumContinuesBitwise()
    {
        var a = Tensor.FromArray((float[])[1f, 2f, 3f], 3);
        var b = Tensor.FromArray((float[])[1f, 2f, 3f], 3);
        var sgdA = new Sgd([a], 0.1, momentum: 0.9, nesterov: true);
        var sgdB = new Sgd([b], 0.1, momentum: 0.9, nesterov: true);
        a.Grad = Tensor.FromArray((float[])[0.3f, -0.1f, 0.7f], 3);
        sgdA.Step();
        b.CopyFrom(a);
        sgdB.LoadMomentumBuffers(sgdA.MomentumBuffers);
        for (int i = 0; i < 3; i++)
        {
            a.Grad = Tensor.FromArray((float[])[0.1f * i, 0.2f, -0.3f], 3);
            b.Grad = a.Grad.Clone();
            sgdA.Step();
            sgdB.Step();
        }
        Assert.Equal(a.ToFloatArray(), b.ToFloatArray());
    }

    [Fact]
    public void BadSettingsAreRejected()
    {
        var w = Tensor.Zeros(2);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd([w], -0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd([w], double.NaN));
        Assert.Throws<ArgumentException>(() => new Sgd([w], 0.1, nesterov: true));
    }

    [Fact]
    public void SchedulesFollowTheirFormulas()
    {
        var step = new Schedule(ScheduleKind.Step, 0.1, 100, StepEvery: 30, Gamma: 0.5);
        Assert.Equal(0.1, step.At(29));
        Assert.Equal(0.05, step.At(30));
        Assert.Equal(0.025, step.At(60), 15);

        var cosine = new Schedule(ScheduleKind.Cosine, 1.0, 110, WarmupSteps: 10, MinRate: 0.0);
        Assert.Equal(0.1, cosine.At(0), 15);          // warm-up: (t+1)/W of the rate, which is 1 before the decay starts
        Assert.Equal(1.0, cosine.At(10), 15);         // decay starts at the end of warm-up
        Assert.Equal(0.5, cosine.At(60), 12);         // half-way: (1 + cos(π/2))/2
        Assert.Equal(0.0, cosine.At(110), 15);

        var constant = new Schedule(ScheduleKind.Constant, 0.3, 10);
        Assert.All(Enumerable.Range(0, 10), t => Assert.Equal(0.3, constant.At(t)));
    }
}
