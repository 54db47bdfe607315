using System.Numerics;
using BatchNormLab.Kernels;

namespace BatchNormLab;

// Pointwise functions, each with its derivative beside it.
public sealed partial class Tensor
{
    // y = eˣ:  dx = g·y
    /// <summary>Elementwise eˣ (torch.exp); same shape and dtype, differentiable to any order.</summary>
    public Tensor Exp()
    {
        var y = Unary(UnaryOp.Exp);
        return Record(y, "Exp", [this], g => [g * y]);
    }

    // y = ln x:  dx = g / x
    /// <summary>Elementwise natural logarithm (torch.log): −∞ at 0, NaN below; differentiable to any order.</summary>
    public Tensor Log()
    {
        var x = this;
        return Record(Unary(UnaryOp.Log), "Log", [this], g => [g / x]);
    }

    // y = √x:  dx = g / (2y)
    /// <summary>Elementwise √x (torch.sqrt): NaN for x &lt; 0; differentiable to any order.</summary>
    public Tensor Sqrt()
    {
        var y = Unary(UnaryOp.Sqrt);
        return Record(y, "Sqrt", [this], g => [g / (y * 2.0)]);
    }

    // y = xᵖ:  dx = g·p·xᵖ⁻¹
    /// <summary>
    /// Elementwise xᵖ for a scalar exponent (torch.pow); <paramref name="p"/> takes the tensor's dtype and gets no gradient.
    /// NaN for a negative base with a non-integer p; differentiable to any order (the backward is built from Pow).
    /// </summary>
    public Tensor Pow(double p)
    {
        var y = UninitializedLike(this);
        Dispatch(DType, new PowerKernel(this, p, y));
        var x = this;
        return Record(y, "Pow", [this], g => [g * (x.Pow(p - 1) * p)]);
    }

    // y = |x|:  dx = g·sign(x)
    /// <summary>Elementwise |x| (torch.abs); the gradient at 0 is 0, as in PyTorch, and the second derivative is 0.</summary>
    public Tensor Abs()
    {
        var x = this;
        return Record(Unary(UnaryOp.Abs), "Abs", [this], g => [g * x.Unary(UnaryOp.Sign)]);
    }

    // y = max(x, 0):  dx = g·[x > 0]  (the mask is a constant: ReLU's second derivative is 0)
    /// <summary>Elementwise max(x, 0) (torch.relu); the gradient at 0 is 0, as in PyTorch, and the second derivative is 0.</summary>
    public Tensor Relu()
    {
        var x = this;
        var y = UninitializedLike(this);
        Dispatch(DType, new UnaryKernel(UnaryOp.Relu, this, y));
        return Record(y, "Relu", [this], g => [ReluBackward(g, x)]);
    }

    // dx = g·[x > 0] in one pass: linear in g, so its derivative in g is itself; none in x (the step is flat a.e.,
    // as for g * x.Step(), whose step was not recorded either).
    static Tensor ReluBackward(Tensor g, Tensor x)
    {
        var dx = UninitializedLike(g);
        Dispatch(g.DType, new ReluBackwardKernel(g, x, dx));
        return Record(dx, "ReluBackward", [g], h => [ReluBackward(h, x)]);
    }

    // y = 1/(1+e⁻ˣ):  dx = g·y·(1−y)
    /// <summary>Elementwise logistic sigmoid 1/(1+e⁻ˣ) (torch.sigmoid); differentiable to any order.</summary>
    public Tensor Sigmoid()
    {
        var y = Unary(UnaryOp.Sigmoid);
        return Record(y, "Sigmoid", [this], g => [g * (y * (1.0 - y))]);
    }

    // y = tanh x:  dx = g·(1−y²)
    /// <summary>Elementwise hyperbolic tangent (torch.tanh); differentiable to any order.</summary>
    public Tensor Tanh()
    {
        var y = Unary(UnaryOp.Tanh);
        return Record(y, "Tanh", [this], g => [g * (1.0 - y * y)]);
    }

    /// <summary>Elementwise x² (torch.square), recorded as the product x·x.</summary>
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
