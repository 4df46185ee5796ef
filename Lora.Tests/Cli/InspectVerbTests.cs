using Lora.Core.IO;

namespace Lora.Tests.Cli;

public class InspectVerbTests
{
    static string Fixture(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "Fixtures", "peft", .. parts]);

    [Fact]
    public void ListsEveryTensorOfAFileWithItsShape()
    {
        string file = Fixture("model.safetensors");
        var header = SafeTensors.ReadHeader(file);
        var (code, output, err) = CliHarness.Run("inspect", file);
        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.NotEmpty(header.Entries);
        foreach (var e in header.Entries)
            Assert.Contains($"{e.Name}", output);
        Assert.Contains($"{header.Entries.Count} tensors", output);
        Assert.Contains("(" + string.Join(", ", header.Entries[0].Shape) + ")", output);
    }

    [Fact]
    public void SummarisesAnAdapterDirectory()
    {
        var adapter = PeftAdapter.Load(Fixture("adapter"));
        var (code, output, _) = CliHarness.Run("inspect", Fixture("adapter"));
        Assert.Equal(0, code);
        Assert.Contains($"r = {adapter.Config.R}", output);
        foreach (var m in adapter.Modules) Assert.Contains(m.ModulePath + ":", output);
    }

    [Fact]
    public void SummarisesADoraAdapterWithItsMagnitudes()
    {
        var (code, output, _) = CliHarness.Run("inspect", Fixture("adapter_dora"));
        Assert.Equal(0, code);
        Assert.Contains(", DoRA,", output);
        Assert.Contains("layers.0: A (2, 8), B (16, 2), magnitude (16)", output);
        Assert.Contains($"{(2 * 8 + 16 * 2 + 16) + (2 * 16 + 12 * 2 + 12) + (2 * 12 + 4 * 2 + 4)} parameters", output);
    }

    [Fact]
    public void SummarisesAnAdapterWithModulesToSave()
    {
        var (code, output, _) = CliHarness.Run("inspect", Fixture("adapter_save"));
        Assert.Equal(0, code);
        Assert.Contains("modules_to_save: layers.2", output);
        Assert.Contains("layers.2: trained in full, bias (4), weight (4, 12)", output);
        Assert.Contains($"{(2 * 8 + 16 * 2) + (2 * 16 + 12 * 2) + 4 * 12 + 4} parameters", output);  // A, B of layers.0 and .1, the head
    }

    [Fact]
    public void SummarisesAnAdapterRestrictedToSomeLayers()
    {
        var (code, output, _) = CliHarness.Run("inspect", Fixture("adapter_layers"));
        Assert.Equal(0, code);
        Assert.Contains("target_modules: 0, head", output);
        Assert.Contains("layers_to_transform: 0, 2 (layers_pattern: blocks, layers)", output);
        Assert.Contains("2 adapted modules", output);
        Assert.Contains("model.layers.2.0:", output);
        Assert.DoesNotContain("model.layers.1.0:", output);
    }

    [Fact]
    public void SummarisesAModelDirectory()
    {
        var (code, output, _) = CliHarness.Run("inspect", Fixture());
        Assert.Equal(0, code);
        Assert.Contains("MLP ", output);
        Assert.Contains("Linear(", output);
    }

    [Fact]
    public void MissingFileIsExitTwo()
    {
        var (code, _, err) = CliHarness.Run("inspect", Path.Combine(Path.GetTempPath(), "no-such-" + Guid.NewGuid().ToString("N")));
        Assert.Equal(2, code);
        Assert.Contains("no such file", err);
    }

    [Fact]
    public void GarbageAndTruncatedFilesAreExitTwoWithOneLine()
    {
        string dir = CliHarness.TempDir();
        try
        {
            string garbage = Path.Combine(dir, "garbage.safetensors");
            File.WriteAllBytes(garbage, "this is not a safetensors file at all"u8.ToArray());
            string truncated = Path.Combine(dir, "truncated.safetensors");
            byte[] good = File.ReadAllBytes(Fixture("model.safetensors"));
            File.WriteAllBytes(truncated, good[..(good.Length - 5)]);
            foreach (var f in new[] { garbage, truncated })
            {
                var (code, output, err) = CliHarness.Run("inspect", f);
                Assert.Equal(2, code);
                Assert.Equal("", output);
                Assert.Single(err.TrimEnd('\n').Split('\n'));
                Assert.Contains(Path.GetFileName(f), err);
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void WrongArgumentCountIsExitTwo()
    {
        Assert.Equal(2, CliHarness.Run("inspect").Code);
        Assert.Equal(2, CliHarness.Run("inspect", "a", "b").Code);
    }
}
