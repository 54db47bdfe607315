namespace BatchNormLab.Data;

/// <summary>
/// The standard CIFAR augmentation, per image: zero-pad by <see cref="Padding"/> on every side and crop
/// a random H×W window (a shift of −Padding…+Padding in each direction, the uncovered border zero),
/// then mirror left–right with probability ½. Works for any H×W, e.g. 28×28 Fashion-MNIST.
/// </summary>
public sealed class Augment
{
    /// <summary>Zero padding on each side before the random crop, in pixels (default 4): the largest shift.</summary>
    public int Padding { get; }
    /// <summary>Whether images are mirrored left–right with probability ½ (default true).</summary>
    public bool HorizontalFlip { get; }

    /// <summary>Creates the augmentation; <paramref name="padding"/> must be ≥ 0.</summary>
    public Augment(int padding = 4, bool horizontalFlip = true)
    {
        if (padding < 0) throw new ArgumentOutOfRangeException(nameof(padding), padding, "padding must be ≥ 0");
        (Padding, HorizontalFlip) = (padding, horizontalFlip);
    }

    /// <summary>
    /// Augments each image of float32 [B, C, H, W] in place, drawing per image, in order: the crop's
    /// top and left offsets in [0, 2·Padding], then the flip.
    /// </summary>
    public void ApplyInPlace(Tensor images, Rng rng)
    {
        if (images.DType != DType.Float32 || images.Rank != 4)
            throw new ArgumentException($"augmentation needs float32 [B, C, H, W] images, got {images}", nameof(images));
        int channels = images.Size(1), height = images.Size(2), width = images.Size(3), size = channels * height * width;
        var x = images.FloatSpan;
        var source = new float[size];
        for (int b = 0; b < images.Size(0); b++)
        {
            int top = rng.NextInt(2 * Padding + 1), left = rng.NextInt(2 * Padding + 1);
            bool flip = HorizontalFlip && rng.NextDouble() < 0.5;
            var image = x.Slice(b * size, size);
            image.CopyTo(source);
            CropFlip(source, image, channels, height, width, top - Padding, left - Padding, flip);
        }
    }

    /// <summary>
    /// dst[c, y, x] = src[c, y + dy, x' + dx] with x' = W−1−x when flipped, else x; zero outside src.
    /// (dy, dx) = (top, left) − padding is the crop's offset in the unpadded image.
    /// </summary>
    internal static void CropFlip(ReadOnlySpan<float> src, Span<float> dst, int channels, int height, int width, int dy, int dx, bool flip)
    {
        for (int c = 0; c < channels; c++)
        {
            for (int y = 0; y < height; y++)
            {
                var row = dst.Slice((c * height + y) * width, width);
                int sy = y + dy;
                if (sy < 0 || sy >= height) { row.Clear(); continue; }
                var from = src.Slice((c * height + sy) * width, width);
                for (int x = 0; x < width; x++)
                {
                    int sx = (flip ? width - 1 - x : x) + dx;
                    row[x] = sx >= 0 && sx < width ? from[sx] : 0f;
                }
            }
        }
    }
}
