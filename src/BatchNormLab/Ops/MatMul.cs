using System.Numerics;
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
        Dispatch(a.DType, new MatMulKernel(transA, transB, m, n, k, a, b, c));
        return Record(c, "MatMul", [a, b], g => (transA, transB) switch
        {
            (false, false) => [a.RequiresGrad ? MatMul(g, b, false, true) : null, b.RequiresGrad ? MatMul(a, g, true, false) : null],
            (false, true) => [a.RequiresGrad ? MatMul(g, b, false, false) : null, b.RequiresGrad ? MatMul(g, a, true, false) : null],
            (true, false) => [a.RequiresGrad ? MatMul(b, g, false, true) : null, b.RequiresGrad ? MatMul(a, g, false, false) : null],
            (true, true) => [a.RequiresGrad ? MatMul(b, g, true, true) : null, b.RequiresGrad ? MatMul(g, a, true, true) : null],
        });
    }


    // C = op(A)·op(B)
    readonly record struct MatMulKernel(bool TransA, bool TransB, int M, int N, int K, Tensor A, Tensor B, Tensor C) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> =>
            Gemm.Multiply(TransA, TransB, M, N, K, T.One, A.Span<T>(), A.shape[1], B.Span<T>(), B.shape[1], T.Zero, C.Span<T>(), N);
    }
}
