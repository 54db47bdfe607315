using System.Numerics;
using BatchNormLab.Kernels;

namespace BatchNormLab;

// Pointwise functions, each with its derivative beside it.
public sealed partial class Tensor
{
    // y = eˣ:  dx = g·y
    public Tensor Exp()
    {
        var y = Unary(UnaryOp.Exp);
        return Record(y, "Exp", [this], g => [g * y]);
    }

    // y = ln x:  dx = g / x
    public Tensor Log()
    {
        var x = this;
        return Record(Unary(UnaryOp.Log), "Log", [this], g => [g / x]);
    }

    // y = √x:  dx = g / (2y)
    public Tensor Sqrt()
    {
        var y = Unary(UnaryOp.Sqrt);
        return Record(y, "Sqrt", [this], g => [g / (y * 2.0)]);
    }

    // y = xᵖ:  dx = g·p·xᵖ⁻¹
    public Tensor Pow(double p)
    {
        var y = UninitializedLike(this);
        Dispatch(DType, new PowerKernel(this, p, y));
        var x = this;
        return Record(y, "Pow", [this], g => [g * (x.Pow(p - 1) * p)]);
    }

    // y = |x|:  dx = g·sign(x)
    public Tensor Abs()
    {
        var x = this;
        return Record(Unary(UnaryOp.Abs), "Abs", [this], g => [g * x.Unary(UnaryOp.Sign)]);
    }

    // y = max(x, 0):  dx = g·[x > 0]  (the mask is a constant: ReLU's second derivative is 0)
    public Tensor Relu()
    {
        var x = this;
        var y = RecycledLike(this);
        Dispatch(DType, new UnaryKernel(UnaryOp.Relu, this, y));
        return Record(y, "Relu", [this], g => [ReluBackward(g, x)]);
    }

    // dx = g·[x > 0] in one pass: linear in g, so its derivative in g is itself; none in x (the step is flat a.e.,
    // as for g * x.Step(), whose step was not recorded either).
    static Tensor ReluBackward(Tensor g, Tensor x)
    {
        var dx = RecycledLike(g);
        Dispatch(g.DType, new ReluBackwardKernel(g, x, dx));
        return Record(dx, "ReluBackward", [g], h => [ReluBackward(h, x)]);
    }

    // y = 1/(1+e⁻ˣ):  dx = g·y·(1−y)
    public Tensor Sigmoid()
    {
        var y = Unary(UnaryOp.Sigmoid);
        return Record(y, "Sigmoid", [this], g => [g * (y * (1.0 - y))]);
    }

    // y = tanh x:  dx = g·(1−y²)
    public Tensor Tanh()
    {
        var y = Unary(UnaryOp.Tanh);
        return Record(y, "Tanh", [this], g => [g * (1.0 - y * y)]);
    }

    public Tensor Square() => this * this;


    readonly record struct PowerKernel(Tensor X, double P, Tensor Y) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> =>
            Elementwise.Power(X.Span<T>(), T.CreateTruncating(P), Y.Span<T>());
    }

    readonly record struct ReluBackwardKernel(Tensor G, Tensor X, Tensor Dx) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> =>
            Elementwise.ReluBackward(G.Span<T>(), X.Span<T>(), Dx.Span<T>());
    }
}
