using BatchNormLab.Kernels;

namespace BatchNormLab;

// Matrix products on the GEMM kernel. Transposes are flags, not copies.
public sealed partial class Tensor
{
    /// <summary>The matrix product of two matrices: (m×k)·(k×n).</summary>
    public Tensor MatMul(Tensor other) => MatMul(this, other, transA: false, transB: false);

    /// <summary>
    /// C = op(A)·op(B), op = transpose when the flag is set. With G = dC:
    ///   C = A·B:   dA = G·Bᵀ,   dB = Aᵀ·G
    ///   C = A·Bᵀ:  dA = G·B,    dB = Gᵀ·A
    ///   C = Aᵀ·B:  dA = B·Gᵀ,   dB = A·G
    ///   C = Aᵀ·Bᵀ: dA = Bᵀ·Gᵀ,  dB = Gᵀ·Aᵀ
    /// </summary>
    internal static Tensor MatMul(Tensor a, Tensor b, bool transA, bool transB)
    {
        CheckSameDType(a, b, "MatMul");
        if (a.Rank != 2 || b.Rank != 2)
            throw new ArgumentException($"MatMul needs two matrices, got shapes {Format(a.shape)} and {Format(b.shape)}");
        int m = transA ? a.shape[1] : a.shape[0], k = transA ? a.shape[0] : a.shape[1];
        int kb = transB ? b.shape[1] : b.shape[0], n = transB ? b.shape[0] : b.shape[1];
        if (k != kb)
            throw new ArgumentException($"MatMul: inner dimensions differ ({Format(a.shape)}{(transA ? "ᵀ" : "")} · {Format(b.shape)}{(transB ? "ᵀ" : "")})");
        var c = Uninitialized(a.DType, [m, n]);
        if (a.DType == DType.Float32)
            Gemm.Multiply(transA, transB, m, n, k, 1f, a.FloatSpan, a.shape[1], b.FloatSpan, b.shape[1], 0f, c.FloatSpan, n);
        else
            Gemm.Multiply(transA, transB, m, n, k, 1.0, a.DoubleSpan, a.shape[1], b.DoubleSpan, b.shape[1], 0.0, c.DoubleSpan, n);
        return Record(c, "MatMul", [a, b], g => (transA, transB) switch
        {
            (false, false) => [a.RequiresGrad ? MatMul(g, b, false, true) : null, b.RequiresGrad ? MatMul(a, g, true, false) : null],
            (false, true) => [a.RequiresGrad ? MatMul(g, b, false, false) : null, b.RequiresGrad ? MatMul(g, a, true, false) : null],
            (true, false) => [a.RequiresGrad ? MatMul(b, g, false, true) : null, b.RequiresGrad ? MatMul(a, g, false, false) : null],
            (true, true) => [a.RequiresGrad ? MatMul(b, g, true, true) : null, b.RequiresGrad ? MatMul(g, a, true, true) : null],
        });
    }
}
