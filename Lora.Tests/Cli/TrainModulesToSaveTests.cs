using System.Text.Json;
using Lora.Core.IO;
using Lora.Core.Modules;

namespace Lora.Tests.Cli;

/// <summary><c>lora train --modules-to-save</c> (its bad values are in <see cref="TrainVerbTests"/>).</summary>
public class TrainModulesToSaveTests
{
    static (int Code, string Out, string Err) Train(string outDir, params string[] extra) =>
        CliHarness.Run(["train", "--out", outDir, "--hidden", "16", "--base-epochs", "2", "--epochs", "2", "--full-epochs", "1", "--quiet", .. extra]);

    [Fact]
    public void ModulesToSaveTrainsTheHeadInFullAndWritesItIntoTheAdapter()
    {
        string root = CliHarness.TempDir();
        try
        {
            string run = Path.Combine(root, "run");
            var (code, output, err) = Train(run, "--modules-to-save", "layers.1");
            Assert.True(code == 0, err);
            Assert.Contains("LoRA (r=8, layers.0; full: layers.1)", output);
            using var metrics = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(run, "metrics.json")));
            var m = metrics.RootElement;
            Assert.Equal(["layers.1"], m.GetProperty("config").GetProperty("modules_to_save").EnumerateArray().Select(e => e.GetString()));
            // 64-16-10 MLP: LoRA r = 8 on layers.0 (A (8, 64) + B (16, 8)) plus the head's full copy (10, 16) + (10).
            Assert.Equal(8 * 64 + 16 * 8 + 16 * 10 + 10, m.GetProperty("trainable_params").GetProperty("lora").GetInt64());

            var adapter = PeftAdapter.Load(Path.Combine(run, "adapter"));
            Assert.Equal(["layers.1"], adapter.Config.ModulesToSave);
            var head = Assert.Single(adapter.SavedModules);
            Assert.Equal("layers.1", head.ModulePath);
            Assert.Equal([10, 16], head.Parameters["weight"].Shape);
            Assert.Equal([10], head.Parameters["bias"].Shape);
            // The copy trained: it differs from the base head it started from, which stays in base/.
            var baseHead = ModelFiles.Load<Mlp>(Path.Combine(run, "base")).NamedParameters().Single(p => p.Name == "layers.1.weight").Parameter.ToArray();
            Assert.NotEqual(baseHead, head.Parameters["weight"].Data);
            var (evalCode, _, evalErr) = CliHarness.Run("eval", "--model", Path.Combine(run, "base"), "--adapter", Path.Combine(run, "adapter"));
            Assert.True(evalCode == 0, evalErr);
        }
        finally { Directory.Delete(root, true); }
    }
}
