using System.Numerics;

namespace BatchNormLab;

/// <summary>
/// An op's kernel call written once for both element types. It is a struct, as TensorPrimitives passes its
/// operators, so the JIT compiles one specialised copy per type; <see cref="Tensor.Dispatch{TOp}"/> runs it.
/// </summary>
internal interface IElementOp
{
    void Run<T>() where T : unmanaged, IFloatingPointIeee754<T>;
}

public sealed partial class Tensor
{
    /// <summary>Runs <paramref name="op"/> with T the element type of <paramref name="dtype"/>: the one place the ops pick it.</summary>
    internal static void Dispatch<TOp>(DType dtype, TOp op) where TOp : IElementOp
    {
        if (dtype == DType.Float32) op.Run<float>();
        else op.Run<double>();
    }

    /// <summary>The values of an optional tensor (γ, β, a bias), empty when it is absent.</summary>
    internal static Span<T> SpanOrEmpty<T>(Tensor? t) => t is null ? default : t.Span<T>();
}
