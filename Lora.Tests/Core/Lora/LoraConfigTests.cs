using Lora.Core.Lora;

namespace Lora.Tests.Core.Lora;

public class LoraConfigTests
{
    [Fact]
    public void DefaultsArePeftLike()
    {
        var c = new LoraConfig();
        Assert.Equal(8, c.R);
        Assert.Equal(8.0, c.Alpha);
        Assert.Equal(0.0, c.Dropout);
        Assert.Equal(LoraInit.KaimingUniform, c.Init);
        Assert.Equal(LoraBias.None, c.Bias);
        Assert.Equal(["all-linear"], c.TargetModules);
    }

    [Theory]
    [InlineData(8, 16.0, false, 2.0)]
    [InlineData(4, 16.0, true, 8.0)]   // rsLoRA: 16/√4
    [InlineData(16, 8.0, false, 0.5)]
    public void ScaleIsAlphaOverROrOverSqrtR(int r, double alpha, bool rs, double expected)
    {
        var c = new LoraConfig { R = r, Alpha = alpha, UseRsLora = rs };
        Assert.Equal((float)expected, c.Scale);
    }

    [Fact]
    public void InvalidValuesThrowArgumentExceptionNamingTheValue()
    {
        Assert.Contains("0", Assert.Throws<ArgumentException>(() => new LoraConfig { R = 0 }).Message);
        Assert.Contains("-1", Assert.Throws<ArgumentException>(() => new LoraConfig { Alpha = -1 }).Message);
        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => new LoraConfig { Alpha = double.NaN }).Message);
        Assert.Contains("1", Assert.Throws<ArgumentException>(() => new LoraConfig { Dropout = 1.0 }).Message);
        Assert.Throws<ArgumentException>(() => new LoraConfig { Dropout = -0.1 });
        Assert.Throws<ArgumentException>(() => new LoraConfig { TargetModules = [] });
        Assert.Contains("re:(", Assert.Throws<ArgumentException>(() => new LoraConfig { TargetModules = ["re:("] }).Message);
        Assert.Contains("layers..0", Assert.Throws<ArgumentException>(() => new LoraConfig { TargetModules = ["layers..0"] }).Message);
        Assert.Throws<ArgumentException>(() => new LoraConfig { Init = (LoraInit)42 });
        Assert.Throws<ArgumentException>(() => new LoraConfig { Bias = (LoraBias)42 });
        Assert.Throws<ArgumentException>(() => new LoraConfig { PissaIterations = 0 });
    }

    [Theory]
    // plain names: exact or dot-aligned suffix (PEFT's rule)
    [InlineData("layers.0", "layers.0", true)]
    [InlineData("0", "layers.0", true)]
    [InlineData("ayers.0", "layers.0", false)]
    [InlineData("layers.0", "layers.01", false)]
    [InlineData("layers.0", "encoder.layers.0", true)]
    [InlineData("q_proj", "model.layers.3.attn.q_proj", true)]
    // globs: * stays inside a segment, ** crosses dots, ? is one non-dot character; suffix rule applies
    [InlineData("layers.*", "layers.12", true)]
    [InlineData("layers.*", "enc.layers.2", true)]
    [InlineData("layers.*", "layers.2.inner", false)]
    [InlineData("layers.**", "layers.2.inner", true)]
    [InlineData("layers.?", "layers.2", true)]
    [InlineData("layers.?", "layers.12", false)]
    [InlineData("*_proj", "attn.q_proj", true)]
    // regex: full match only
    [InlineData("re:layers\\.[01]", "layers.1", true)]
    [InlineData("re:layers\\.[01]", "layers.2", false)]
    [InlineData("re:layers\\.[01]", "x.layers.1", false)]
    [InlineData("re:.*\\.1", "x.layers.1", true)]
    [InlineData("all-linear", "anything.at.all", true)]
    public void PatternSyntax(string pattern, string path, bool expected)
    {
        Assert.Equal(expected, TargetModulePattern.Parse(pattern).Matches(path));
        Assert.Equal(expected, new LoraConfig { TargetModules = [pattern] }.Targets(path));
    }

    [Fact]
    public void AnyEntryMatching()
    {
        var c = new LoraConfig { TargetModules = ["layers.0", "re:layers\\.2"] };
        Assert.True(c.Targets("layers.0"));
        Assert.False(c.Targets("layers.1"));
        Assert.True(c.Targets("layers.2"));
    }

    [Fact]
    public void RecordEqualityComparesTargetsByValue()
    {
        Assert.Equal(new LoraConfig { TargetModules = ["a", "b"] }, new LoraConfig { TargetModules = new List<string> { "a", "b" } });
        Assert.NotEqual(new LoraConfig { R = 4 }, new LoraConfig { R = 8 });
    }
}
