using BatchNormLab.Kernels;

namespace BatchNormLab;

// Pointwise functions, each with its derivative beside it.
public sealed partial class Tensor
{
    // y = eˣ:  dx = g·y
    public Tensor Exp()
    {
        var y = UnaryKernel(UnaryOp.Exp);
        return Record(y, "Exp", [this], g => [g * y]);
    }

    // y = ln x:  dx = g / x
    public Tensor Log()
    {
        var x = this;
        return Record(UnaryKernel(UnaryOp.Log), "Log", [this], g => [g / x]);
    }

    // y = √x:  dx = g / (2y)
    public Tensor Sqrt()
    {
        var y = UnaryKernel(UnaryOp.Sqrt);
        return Record(y, "Sqrt", [this], g => [g / (y * 2.0)]);
    }

    // y = xᵖ:  dx = g·p·xᵖ⁻¹
    public Tensor Pow(double p)
    {
        var y = UninitializedLike(this);
        if (DType == DType.Float32) Elementwise.Power(FloatSpan, (float)p, y.FloatSpan);
        else Elementwise.Power(DoubleSpan, p, y.DoubleSpan);
        var x = this;
        return Record(y, "Pow", [this], g => [g * (x.Pow(p - 1) * p)]);
    }

    // y = |x|:  dx = g·sign(x)
    public Tensor Abs()
    {
        var x = this;
        return Record(UnaryKernel(UnaryOp.Abs), "Abs", [this], g => [g * x.UnaryKernel(UnaryOp.Sign)]);
    }

    // y = max(x, 0):  dx = g·[x > 0]  (the mask is a constant: ReLU's second derivative is 0)
    public Tensor Relu()
    {
        var x = this;
        var y = RecycledLike(this);
        if (DType == DType.Float32) Elementwise.Unary(UnaryOp.Relu, FloatSpan, y.FloatSpan);
        else Elementwise.Unary(UnaryOp.Relu, DoubleSpan, y.DoubleSpan);
        return Record(y, "Relu", [this], g => [ReluBackward(g, x)]);
    }

    // dx = g·[x > 0] in one pass: linear in g, so its derivative in g is itself; none in x (the step is flat a.e.,
    // as for g * x.Step(), whose step was not recorded either).
    static Tensor ReluBackward(Tensor g, Tensor x)
    {
        var dx = RecycledLike(g);
        if (g.DType == DType.Float32) Elementwise.ReluBackward(g.FloatSpan, x.FloatSpan, dx.FloatSpan);
        else Elementwise.ReluBackward(g.DoubleSpan, x.DoubleSpan, dx.DoubleSpan);
        return Record(dx, "ReluBackward", [g], h => [ReluBackward(h, x)]);
    }

    // y = 1/(1+e⁻ˣ):  dx = g·y·(1−y)
    public Tensor Sigmoid()
    {
        var y = UnaryKernel(UnaryOp.Sigmoid);
        return Record(y, "Sigmoid", [this], g => [g * (y * (1.0 - y))]);
    }

    // y = tanh x:  dx = g·(1−y²)
    public Tensor Tanh()
    {
        var y = UnaryKernel(UnaryOp.Tanh);
        return Record(y, "Tanh", [this], g => [g * (1.0 - y * y)]);
    }

    public Tensor Square() => this * this;
}
