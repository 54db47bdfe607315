using System.Numerics;

namespace BatchNormLab.Kernels;

/// <summary>
/// Pooling by plain loops over every window position with bounds tests, with the signatures of
/// <see cref="PoolKernels"/>: the reference the fast kernels are tested against.
/// </summary>
public static class PoolReference
{
    /// <summary>y = max over the window (−∞ outside, first maximum wins, NaN wins); argmax = its flat index in the plane.</summary>
    public static void MaxPool2dForward<T>(ReadOnlySpan<T> x, int n, int c, int h, int w, int kh, int kw, int stride, int padding,
        Span<T> y, Span<int> argmax) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hOut = Conv2dKernels.OutputSize(h, kh, stride, padding), wOut = Conv2dKernels.OutputSize(w, kw, stride, padding);
        for (int t = 0; t < n * c; t++)
            for (int i = 0; i < hOut; i++)
                for (int j = 0; j < wOut; j++)
                {
                    T max = T.NegativeInfinity;
                    int at = -1;
                    for (int u = 0; u < kh; u++)
                        for (int v = 0; v < kw; v++)
                        {
                            int hi = i * stride + u - padding, wi = j * stride + v - padding;
                            if (hi < 0 || hi >= h || wi < 0 || wi >= w) continue;
                            T value = x[(t * h + hi) * w + wi];
                            if (at < 0 || value > max || T.IsNaN(value)) (max, at) = (value, hi * w + wi);
                        }
                    y[(t * hOut + i) * wOut + j] = max;
                    argmax[(t * hOut + i) * wOut + j] = at;
                }
    }

    /// <summary>dx[argmax] += dy, plane by plane; dx is overwritten.</summary>
    public static void MaxPool2dBackward<T>(ReadOnlySpan<T> dy, ReadOnlySpan<int> argmax, int n, int c, int h, int w, int kh, int kw,
        int stride, int padding, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int outPlane = Conv2dKernels.OutputSize(h, kh, stride, padding) * Conv2dKernels.OutputSize(w, kw, stride, padding);
        dx.Clear();
        for (int q = 0; q < n * c * outPlane; q++) dx[q / outPlane * h * w + argmax[q]] += dy[q];
    }

    /// <summary>y = Σ over the window of x (0 outside) / (kh·kw).</summary>
    public static void AvgPool2dForward<T>(ReadOnlySpan<T> x, int n, int c, int h, int w, int kh, int kw, int stride, int padding,
        Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hOut = Conv2dKernels.OutputSize(h, kh, stride, padding), wOut = Conv2dKernels.OutputSize(w, kw, stride, padding);
        for (int t = 0; t < n * c; t++)
            for (int i = 0; i < hOut; i++)
                for (int j = 0; j < wOut; j++)
                {
                    T sum = T.Zero;
                    for (int u = 0; u < kh; u++)
                        for (int v = 0; v < kw; v++)
                        {
                            int hi = i * stride + u - padding, wi = j * stride + v - padding;
                            if (hi >= 0 && hi < h && wi >= 0 && wi < w) sum += x[(t * h + hi) * w + wi];
                        }
                    y[(t * hOut + i) * wOut + j] = sum / T.CreateTruncating(kh * kw);
                }
    }

    /// <summary>dx[window] += dy / (kh·kw) for every output; dx is overwritten.</summary>
    public static void AvgPool2dBackward<T>(ReadOnlySpan<T> dy, int n, int c, int h, int w, int kh, int kw, int stride, int padding,
        Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hOut = Conv2dKernels.OutputSize(h, kh, stride, padding), wOut = Conv2dKernels.OutputSize(w, kw, stride, padding);
        dx.Clear();
        for (int t = 0; t < n * c; t++)
            for (int i = 0; i < hOut; i++)
                for (int j = 0; j < wOut; j++)
                {
                    T share = dy[(t * hOut + i) * wOut + j] / T.CreateTruncating(kh * kw);
                    for (int u = 0; u < kh; u++)
                        for (int v = 0; v < kw; v++)
                        {
                            int hi = i * stride + u - padding, wi = j * stride + v - padding;
                            if (hi >= 0 && hi < h && wi >= 0 && wi < w) dx[(t * h + hi) * w + wi] += share;
                        }
                }
    }
}
