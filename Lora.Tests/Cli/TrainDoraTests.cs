using System.Text.Json;
using Lora.Core.IO;

namespace Lora.Tests.Cli;

/// <summary><c>lora train --dora</c>: the run adapts with DoRA and writes a DoRA adapter that eval and merge read;
/// on the cnn its convolutions get PEFT's (1, out, 1, 1) magnitudes.</summary>
public class TrainDoraTests
{
    [Fact]
    public void DoraRunWritesADoraAdapterThatEvalAndMergeRead()
    {
        string root = CliHarness.TempDir();
        try
        {
            string run = Path.Combine(root, "run");
            var (code, output, err) = CliHarness.Run(["train", "--out", run, "--hidden", "16", "--base-epochs", "2", "--epochs", "2",
                "--full-epochs", "1", "--quiet", "--dora"]);
            Assert.True(code == 0, err);
            Assert.Contains("DoRA (r=8, layers.0)", output);
            using var metrics = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(run, "metrics.json")));
            var m = metrics.RootElement;
            Assert.True(m.GetProperty("config").GetProperty("use_dora").GetBoolean());
            // 64-16-10 MLP: r = 8 on layers.0, A (8, 64) + B (16, 8) + the magnitude (16).
            Assert.Equal(8 * 64 + 16 * 8 + 16, m.GetProperty("trainable_params").GetProperty("lora").GetInt64());
            var adapter = PeftAdapter.Load(Path.Combine(run, "adapter"));
            Assert.True(adapter.Config.UseDora);
            Assert.Equal([16], Assert.Single(adapter.Modules).Magnitude!.Shape);
            var (evalCode, _, evalErr) = CliHarness.Run("eval", "--model", Path.Combine(run, "base"), "--adapter", Path.Combine(run, "adapter"));
            Assert.True(evalCode == 0, evalErr);
            var (mergeCode, _, mergeErr) = CliHarness.Run("merge", "--base", Path.Combine(run, "base"), "--adapter", Path.Combine(run, "adapter"), "--out", Path.Combine(root, "merged"));
            Assert.True(mergeCode == 0, mergeErr);
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void DoraOnTheCnnAdaptsTheConvolutionsWithPeftsMagnitudeShape()
    {
        string root = CliHarness.TempDir();
        try
        {
            string run = Path.Combine(root, "run");
            var (code, output, err) = CliHarness.Run(["train", "--model", "cnn", "--out", run, "--base-epochs", "1", "--epochs", "1",
                "--full-epochs", "1", "--quiet", "--dora", "--hidden", "4,8"]);
            Assert.True(code == 0, err);
            Assert.Contains("DoRA (r=", output);
            var adapter = PeftAdapter.Load(Path.Combine(run, "adapter"));
            Assert.True(adapter.Config.UseDora);
            var conv = adapter.Modules.First(m => m.A.Shape.Length == 4);
            Assert.Equal([1, conv.B.Shape[0], 1, 1], conv.Magnitude!.Shape);
            var (evalCode, _, evalErr) = CliHarness.Run("eval", "--model", Path.Combine(run, "base"), "--adapter", Path.Combine(run, "adapter"));
            Assert.True(evalCode == 0, evalErr);
        }
        finally { Directory.Delete(root, true); }
    }
}
