namespace Lora.Core.Data;

/// <summary>Deterministic transforms of image datasets and their labels, for building adaptation tasks.</summary>
/// <remarks>
/// Each returns a new dataset and leaves its input untouched. A geometric transform is a fixed permutation of
/// the input features, i.e. a linear map P applied to x: a network trained on x needs its first layer's weights
/// permuted (W → W·Pᵀ) to serve P·x, a full-rank change, which makes it a demanding test of low-rank adaptation.
/// </remarks>
public static class ImageTransforms
{
    /// <summary>Rotates every image clockwise by <paramref name="quarterTurns"/> × 90° (any integer; negative turns
    /// counter-clockwise). Height and width swap for odd turns.</summary>
    public static Dataset Rotate90(Dataset data, int quarterTurns = 1)
    {
        RequireImage(data);
        int turns = ((quarterTurns % 4) + 4) % 4;
        int h = data.Height, w = data.Width;
        int nh = turns % 2 == 0 ? h : w, nw = turns % 2 == 0 ? w : h;
        return Remap(data, $"{data.Name} rotated {90 * turns}°", nh, nw, (r, c) => turns switch
        {
            // new (r, c) reads old pixel: clockwise maps old (y, x) to (x, h-1-y)
            0 => (r, c),
            1 => (h - 1 - c, r),
            2 => (h - 1 - r, w - 1 - c),
            _ => (c, w - 1 - r),
        });
    }

    /// <summary>Mirrors every image left to right.</summary>
    public static Dataset FlipHorizontal(Dataset data)
    {
        RequireImage(data);
        return Remap(data, data.Name + " flipped", data.Height, data.Width, (r, c) => (r, data.Width - 1 - c));
    }

    /// <summary>Mirrors every image top to bottom.</summary>
    public static Dataset FlipVertical(Dataset data)
    {
        RequireImage(data);
        return Remap(data, data.Name + " flipped vertically", data.Height, data.Width, (r, c) => (data.Height - 1 - r, c));
    }

    /// <summary>Replaces every feature x by 1 − x (for pixels in [0, 1]: dark on light becomes light on dark).</summary>
    public static Dataset Invert(Dataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var features = new float[data.Features.Length];
        for (int i = 0; i < features.Length; i++) features[i] = 1f - data.Features[i];
        return new Dataset(data.Name + " inverted", features, (int[])data.Labels.Clone(), data.FeatureCount, data.ClassCount, data.Height, data.Width);
    }

    /// <summary>Relabels class c as <c>map[c]</c>; classes mapped to −1 are dropped. The new class count is max(map) + 1.</summary>
    /// <example><c>RemapClasses(d, [1, 2, 3, 4, 5, 6, 7, 8, 9, 0])</c> shifts every digit's label by one.</example>
    /// <exception cref="ArgumentException">A map whose length is not the class count, or values below −1, or all −1.</exception>
    public static Dataset RemapClasses(Dataset data, ReadOnlySpan<int> map)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (map.Length != data.ClassCount)
            throw new ArgumentException($"The class map has {map.Length} entries; the dataset has {data.ClassCount} classes.", nameof(map));
        int classes = 0;
        foreach (int m in map)
        {
            if (m < -1) throw new ArgumentException($"Class map entry {m} must be a class (≥ 0) or −1 to drop.", nameof(map));
            classes = Math.Max(classes, m + 1);
        }
        if (classes == 0) throw new ArgumentException("The class map drops every class.", nameof(map));
        var keep = new List<int>();
        for (int i = 0; i < data.Count; i++) if (map[data.Labels[i]] >= 0) keep.Add(i);
        var subset = data.Subset(keep.ToArray(), data.Name + " remapped");
        var labels = new int[subset.Count];
        for (int i = 0; i < labels.Length; i++) labels[i] = map[subset.Labels[i]];
        return new Dataset(subset.Name, subset.Features, labels, subset.FeatureCount, classes, subset.Height, subset.Width);
    }

    static void RequireImage(Dataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (!data.IsImage) throw new ArgumentException($"Dataset '{data.Name}' has no image height and width.", nameof(data));
    }

    /// <summary>Builds a dataset of nh × nw images whose pixel (r, c) is the old pixel at source(r, c).</summary>
    static Dataset Remap(Dataset data, string name, int nh, int nw, Func<int, int, (int R, int C)> source)
    {
        var gather = new int[nh * nw]; // the permutation, computed once for all images
        for (int r = 0; r < nh; r++)
            for (int c = 0; c < nw; c++)
            {
                var (sr, sc) = source(r, c);
                gather[r * nw + c] = sr * data.Width + sc;
            }
        int f = data.FeatureCount;
        var features = new float[data.Features.Length];
        for (int i = 0; i < data.Count; i++)
        {
            var src = data.Features.AsSpan(i * f, f);
            var dst = features.AsSpan(i * f, f);
            for (int k = 0; k < f; k++) dst[k] = src[gather[k]];
        }
        return new Dataset(name, features, (int[])data.Labels.Clone(), f, data.ClassCount, nh, nw);
    }
}
