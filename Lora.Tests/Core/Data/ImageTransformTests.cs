using Lora.Core.Data;

namespace Lora.Tests.Core.Data;

/// <summary>Image transforms move exactly the pixels they promise and compose as the group they form.</summary>
public class ImageTransformTests
{
    // One 2×3 image:  1 2 3
    //                 4 5 6
    static Dataset Tiny() => new("tiny", [1, 2, 3, 4, 5, 6], [1], 6, 3, 2, 3);

    [Fact]
    public void RotatesClockwiseAndCounterClockwise()
    {
        var cw = ImageTransforms.Rotate90(Tiny());
        Assert.Equal((3, 2), (cw.Height, cw.Width));
        Assert.Equal([4, 1, 5, 2, 6, 3], cw.Features); // 4 1 / 5 2 / 6 3
        var ccw = ImageTransforms.Rotate90(Tiny(), -1);
        Assert.Equal([3, 6, 2, 5, 1, 4], ccw.Features); // 3 6 / 2 5 / 1 4
        Assert.Equal([6, 5, 4, 3, 2, 1], ImageTransforms.Rotate90(Tiny(), 2).Features);
        Assert.Equal(Tiny().Features, ImageTransforms.Rotate90(Tiny(), 4).Features);
    }

    [Fact]
    public void FlipsAndInverts()
    {
        Assert.Equal([3, 2, 1, 6, 5, 4], ImageTransforms.FlipHorizontal(Tiny()).Features);
        Assert.Equal([4, 5, 6, 1, 2, 3], ImageTransforms.FlipVertical(Tiny()).Features);
        Assert.Equal([0, -1, -2, -3, -4, -5], ImageTransforms.Invert(Tiny()).Features);
    }

    [Fact]
    public void TransformsOfTheDigitsComposeAsExpected()
    {
        var d = Digits.Load();
        var four = ImageTransforms.Rotate90(ImageTransforms.Rotate90(ImageTransforms.Rotate90(ImageTransforms.Rotate90(d))));
        Assert.Equal(d.Features, four.Features);
        // Two flips are a half turn.
        Assert.Equal(ImageTransforms.Rotate90(d, 2).Features, ImageTransforms.FlipVertical(ImageTransforms.FlipHorizontal(d)).Features);
        Assert.Equal(d.Features, ImageTransforms.Invert(ImageTransforms.Invert(d)).Features);
        Assert.Equal(d.Labels, ImageTransforms.Rotate90(d).Labels);
        Assert.NotEqual(d.Features, ImageTransforms.Rotate90(d).Features);
    }

    [Fact]
    public void RemapsAndDropsClasses()
    {
        var d = Digits.Load();
        var shifted = ImageTransforms.RemapClasses(d, [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]);
        Assert.Equal(d.Labels.Select(l => (l + 1) % 10), shifted.Labels);
        Assert.Equal(d.Features, shifted.Features);
        var evens = ImageTransforms.RemapClasses(d, [0, -1, 1, -1, 2, -1, 3, -1, 4, -1]);
        Assert.Equal(5, evens.ClassCount);
        Assert.Equal(d.Labels.Count(l => l % 2 == 0), evens.Count);
        Assert.Throws<ArgumentException>(() => ImageTransforms.RemapClasses(d, [0, 1]));
        Assert.Throws<ArgumentException>(() => ImageTransforms.RemapClasses(d, Enumerable.Repeat(-1, 10).ToArray()));
        Assert.Throws<ArgumentException>(() => ImageTransforms.Rotate90(new Dataset("flat", [1, 2], [0], 2, 1)));
    }

    [Fact]
    public void DatasetChecksItsArguments()
    {
        Assert.Throws<ArgumentException>(() => new Dataset("x", [1, 2, 3], [0], 2, 1));
        Assert.Throws<ArgumentException>(() => new Dataset("x", [1, 2], [3], 2, 2));
        Assert.Throws<ArgumentException>(() => new Dataset("x", [1, 2], [0], 2, 1, 3, 3));
    }
}
