using Lora.Cli;
using Lora.Cli.Output;

namespace Lora.Tests.Cli;

public class CliBasicsTests
{
    [Fact]
    public void HelpPrintsUsageAndSucceeds()
    {
        var (code, output, err) = CliHarness.Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("usage: lora", output);
        Assert.Equal("", err);
    }

    [Fact]
    public void NoArgumentsPrintsUsageAndFailsWithTwo()
    {
        var (code, output, _) = CliHarness.Run();
        Assert.Equal(2, code);
        Assert.Contains("usage: lora", output);
    }

    [Fact]
    public void VersionPrintsAssemblyVersion()
    {
        var (code, output, _) = CliHarness.Run("--version");
        Assert.Equal(0, code);
        Assert.Equal($"lora {CliApp.Version}", output.Trim());
        Assert.Matches(@"^\d+\.\d+\.\d+", CliApp.Version);
    }

    [Fact]
    public void UnknownVerbIsOneLineAndExitTwo()
    {
        var (code, output, err) = CliHarness.Run("frobnicate");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Single(err.TrimEnd('\n').Split('\n'));
        Assert.Contains("frobnicate", err);
    }

    [Theory]
    [InlineData("--rank", "abc", "expected an integer")]
    [InlineData("--rank", "0", "out of range")]
    [InlineData("--lr", "fast", "expected a number")]
    [InlineData("--lr", "NaN", "expected a number")]
    public void BadOptionValuesAreUsageErrors(string name, string value, string message)
    {
        var o = CliOptions.Parse("train", [name, value], ["rank", "lr"], []);
        var e = Assert.Throws<UsageException>(() => { o.Int("rank", 8, min: 1); o.Float("lr", 0.01f, min: 0f); });
        Assert.Contains(message, e.Message);
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public void OptionsParseValuesFlagsAndEqualsForm()
    {
        var o = CliOptions.Parse("train", ["pos", "--rank=4", "--lr", "0.5", "--force"], ["rank", "lr"], ["force"]);
        Assert.Equal(4, o.Int("rank", 8));
        Assert.Equal(0.5f, o.Float("lr", 1f));
        Assert.True(o.Flag("force"));
        Assert.False(o.Flag("quiet"));
        Assert.Equal(["pos"], o.Positionals);
    }

    [Theory]
    [InlineData("--bogus")]
    [InlineData("--rank")]
    [InlineData("--force=1")]
    public void MalformedOptionsAreRejected(string arg)
    {
        Assert.Throws<UsageException>(() => CliOptions.Parse("train", [arg], ["rank"], ["force"]));
    }

    [Fact]
    public void RepeatedOptionIsRejected()
    {
        Assert.Throws<UsageException>(() => CliOptions.Parse("train", ["--rank", "1", "--rank", "2"], ["rank"], []));
    }

    [Fact]
    public void AtomicDirectoryLeavesNothingWhenNotCommitted()
    {
        string root = CliHarness.TempDir();
        try
        {
            string target = Path.Combine(root, "out");
            using (var dir = AtomicDirectory.Create(target, force: false))
                File.WriteAllText(Path.Combine(dir.Staging, "a.txt"), "x");
            Assert.False(Directory.Exists(target));
            Assert.Empty(Directory.EnumerateFileSystemEntries(root));
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void AtomicDirectoryRefusesExistingUnlessForced()
    {
        string root = CliHarness.TempDir();
        try
        {
            string target = Path.Combine(root, "out");
            Directory.CreateDirectory(target);
            File.WriteAllText(Path.Combine(target, "old.txt"), "old");
            Assert.Throws<UsageException>(() => AtomicDirectory.Create(target, force: false));
            using (var dir = AtomicDirectory.Create(target, force: true))
            {
                File.WriteAllText(Path.Combine(dir.Staging, "new.txt"), "new");
                dir.Commit();
            }
            Assert.Equal(["new.txt"], Directory.GetFiles(target).Select(Path.GetFileName));
            Assert.Single(Directory.EnumerateFileSystemEntries(root));
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void SvgHasOnePolylinePerSeriesAndParsesAsXml()
    {
        var loss = new[] { new Series("LoRA", "#d62728", [1.0, 0.5, 0.25]), new Series("full", "#1f77b4", [1.2, 0.4, 0.2]) };
        var acc = new[] { new Series("LoRA", "#d62728", [0.5, 0.8, 0.9]), new Series("full", "#1f77b4", [0.6, 0.85, 0.95]) };
        string svg = SvgCurves.Render("curves <test>", loss, acc);
        var doc = System.Xml.Linq.XDocument.Parse(svg);
        Assert.Equal(4, doc.Descendants().Count(e => e.Name.LocalName == "polyline"));
        Assert.Contains("curves &lt;test&gt;", svg);
    }
}
