using System.Numerics;

namespace BatchNormLab.Kernels;

/// <summary>
/// Direct-loop convolution with the same signatures as <see cref="Conv2dKernels"/>: the reference the fast
/// kernels are tested against.
/// </summary>
public static class Conv2dReference
{
    /// <summary>y[n,o,i,j] = b[o] + Σ_{c,u,v} W[o,c,u,v]·x[n,c,i·s+u−p, j·s+v−p].</summary>
    public static void Forward<T>(ReadOnlySpan<T> x, int n, int c, int h, int w, ReadOnlySpan<T> weight, ReadOnlySpan<T> bias,
        int cOut, int kh, int kw, int stride, int padding, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hOut = Conv2dKernels.OutputSize(h, kh, stride, padding), wOut = Conv2dKernels.OutputSize(w, kw, stride, padding);
        for (int m = 0; m < n; m++)
            for (int o = 0; o < cOut; o++)
                for (int i = 0; i < hOut; i++)
                    for (int j = 0; j < wOut; j++)
                    {
                        T sum = bias.IsEmpty ? T.Zero : bias[o];
                        for (int ch = 0; ch < c; ch++)
                            for (int u = 0; u < kh; u++)
                                for (int v = 0; v < kw; v++)
                                {
                                    int hi = i * stride + u - padding, wi = j * stride + v - padding;
                                    if (hi >= 0 && hi < h && wi >= 0 && wi < w)
                                        sum += weight[((o * c + ch) * kh + u) * kw + v] * x[((m * c + ch) * h + hi) * w + wi];
                                }
                        y[((m * cOut + o) * hOut + i) * wOut + j] = sum;
                    }
    }

    /// <summary>dx[n,c,i·s+u−p, j·s+v−p] += W[o,c,u,v]·dy[n,o,i,j] over all (o,u,v,i,j); dx is overwritten.</summary>
    public static void BackwardInput<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> weight, int n, int c, int h, int w,
        int cOut, int kh, int kw, int stride, int padding, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hOut = Conv2dKernels.OutputSize(h, kh, stride, padding), wOut = Conv2dKernels.OutputSize(w, kw, stride, padding);
        dx.Clear();
        for (int m = 0; m < n; m++)
            for (int o = 0; o < cOut; o++)
                for (int i = 0; i < hOut; i++)
                    for (int j = 0; j < wOut; j++)
                    {
                        T g = dy[((m * cOut + o) * hOut + i) * wOut + j];
                        for (int ch = 0; ch < c; ch++)
                            for (int u = 0; u < kh; u++)
                                for (int v = 0; v < kw; v++)
                                {
                                    int hi = i * stride + u - padding, wi = j * stride + v - padding;
                                    if (hi >= 0 && hi < h && wi >= 0 && wi < w)
                                        dx[((m * c + ch) * h + hi) * w + wi] += weight[((o * c + ch) * kh + u) * kw + v] * g;
                                }
                    }
    }

    /// <summary>dW[o,c,u,v] = Σ dy[n,o,i,j]·x[n,c,i·s+u−p, j·s+v−p]; db[o] = Σ dy[n,o,i,j]; both overwritten.</summary>
    public static void BackwardWeight<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> x, int n, int c, int h, int w,
        int cOut, int kh, int kw, int stride, int padding, Span<T> dWeight, Span<T> dBias) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hOut = Conv2dKernels.OutputSize(h, kh, stride, padding), wOut = Conv2dKernels.OutputSize(w, kw, stride, padding);
        dWeight.Clear();
        dBias.Clear();
        for (int m = 0; m < n; m++)
            for (int o = 0; o < cOut; o++)
                for (int i = 0; i < hOut; i++)
                    for (int j = 0; j < wOut; j++)
                    {
                        T g = dy[((m * cOut + o) * hOut + i) * wOut + j];
                        if (!dBias.IsEmpty) dBias[o] += g;
                        for (int ch = 0; ch < c; ch++)
                            for (int u = 0; u < kh; u++)
                                for (int v = 0; v < kw; v++)
                                {
                                    int hi = i * stride + u - padding, wi = j * stride + v - padding;
                                    if (hi >= 0 && hi < h && wi >= 0 && wi < w)
                                        dWeight[((o * c + ch) * kh + u) * kw + v] += g * x[((m * c + ch) * h + hi) * w + wi];
                                }
                    }
    }
}
