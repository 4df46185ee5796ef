using Lora.Core.Data;

namespace Lora.Tests.Core.Data;

/// <summary>The embedded UCI digits load completely and as the file says.</summary>
public class DigitsTests
{
    [Fact]
    public void EmbeddedDigitsLoad()
    {
        var d = Digits.Load();
        Assert.Equal((1797, 64, 10, 8, 8), (d.Count, d.FeatureCount, d.ClassCount, d.Height, d.Width));
        // Per-class counts of the UCI test set (optdigits.tes), as the UCI page lists them.
        Assert.Equal([178, 182, 177, 183, 181, 182, 181, 179, 174, 180], d.ClassCounts());
        // The file's first row: 0,0,5,13,9,1,0,0,... label 0; pixels are counts / 16.
        Assert.Equal(new[] { 0f, 0f, 5 / 16f, 13 / 16f, 9 / 16f, 1 / 16f, 0f, 0f }, d.Sample(0)[..8].ToArray());
        Assert.Equal(0, d.Labels[0]);
        Assert.All(d.Features, v => Assert.True(v >= 0 && v <= 1 && v * 16 == MathF.Round(v * 16)));
        Assert.Contains(d.Features, v => v == 1f);
    }

    [Theory]
    [InlineData("1,2,3", "line 1")]
    [InlineData("0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,17,3", "field 64")]
    [InlineData("0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,10", "field 65")]
    [InlineData("0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,x,0,1", "field 63")]
    public void MalformedCsvIsRefused(string line, string where)
    {
        var e = Assert.Throws<InvalidDataException>(() => Digits.Parse(new StringReader(line), "digits.csv"));
        Assert.StartsWith("digits.csv: ", e.Message);
        Assert.Contains(where, e.Message);
    }
}
