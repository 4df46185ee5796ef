using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Models;
using Lora.Core.Modules;

namespace Lora.Tests.Cli;

/// <summary><c>lora train --model NAME</c> for every demo, with tiny settings: the outputs, the metrics.json keys, and
/// that the saved base and adapter load back and work with <c>lora eval</c>, <c>lora merge</c> and <c>lora inspect</c>.</summary>
public class DemoModelTests
{
    /// <summary>Tiny settings per model (a few epochs, small widths) so each run takes well under 5 s.</summary>
    public static TheoryData<string, string[]> Tiny => new()
    {
        { "mlp", ["--hidden", "16", "--base-epochs", "2", "--epochs", "2", "--full-epochs", "1"] },
        { "cnn", ["--hidden", "4,8", "--base-epochs", "2", "--epochs", "2", "--full-epochs", "1"] },
        { "rnn", ["--hidden", "4,8", "--rank", "2", "--base-epochs", "1", "--epochs", "1", "--full-epochs", "1", "--batch-size", "1024"] },
        { "embedding", ["--hidden", "4", "--rank", "2", "--base-epochs", "1", "--epochs", "1", "--full-epochs", "1", "--batch-size", "8192"] },
    };

    static readonly string[] Keys = ["base.accuracy", "task_b.before", "task_b.lora", "task_b.full", "trainable_params.lora",
        "trainable_params.full", "trainable_state_bytes.lora", "trainable_state_bytes.full", "seconds_per_epoch.lora",
        "seconds_per_epoch.full", "peak_working_set_bytes", "config.rank", "config.alpha", "config.lora_lr"];

    static readonly string[] LanguageModelKeys = ["perplexity.base", "perplexity.before", "perplexity.lora", "perplexity.full",
        "tokens_per_second.lora", "tokens_per_second.full"];

    [Fact]
    public void EveryModelHasTinySettingsHere()
    {
        var covered = Tiny.Select(row => (string)row[0]).ToHashSet();
        Assert.All(DemoTasks.All, t => Assert.Contains(t.Name, covered));
    }

    [Theory]
    [MemberData(nameof(Tiny))]
    public void TrainWritesEveryOutputAndTheyLoadEvalAndMerge(string model, string[] tiny)
    {
        string root = CliHarness.TempDir();
        try
        {
            string run = Path.Combine(root, "run");
            var task = DemoTasks.Find(model)!;
            var (code, output, err) = CliHarness.Run(["train", "--model", model, "--out", run, "--quiet", .. tiny]);
            Assert.True(code == 0, err);
            Assert.Contains("accuracy on task B", output);
            Assert.Equal(task.IsLanguageModel, output.Contains("perplexity on task B"));

            using var metrics = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(run, "metrics.json")));
            var m = metrics.RootElement;
            foreach (var path in task.IsLanguageModel ? [.. Keys, .. LanguageModelKeys] : Keys)
            {
                var e = path.Split('.').Aggregate(m, (node, key) => node.GetProperty(key));
                Assert.True(e.ValueKind == JsonValueKind.Number && double.IsFinite(e.GetDouble()), path);
            }
            Assert.Equal(model, m.GetProperty("config").GetProperty("model").GetString());
            Assert.Equal(task.ModelType, m.GetProperty("config").GetProperty("architecture").GetProperty("model_type").GetString());
            long loraParams = m.GetProperty("trainable_params").GetProperty("lora").GetInt64();
            long fullParams = m.GetProperty("trainable_params").GetProperty("full").GetInt64();
            Assert.InRange(loraParams, 1, fullParams - 1);
            System.Xml.Linq.XDocument.Load(Path.Combine(run, "curves.svg"));

            // The base loads as its model type and the adapter onto it, with as many parameters as LoRA trained.
            string baseDir = Path.Combine(run, "base"), adapterDir = Path.Combine(run, "adapter");
            var loaded = ModelFiles.Load(baseDir);
            Assert.Equal(task.ModelType, ((IConfiguredModel)loaded).Config.ModelType);
            long baseParams = loaded.ParameterCount();
            Assert.Equal(fullParams, baseParams);
            LoraAdapterFiles.Load(loaded, adapterDir);
            Assert.Equal(loraParams, loaded.ParameterCount() - baseParams);

            var adapted = Eval(CliHarness.Run("eval", "--model", baseDir, "--adapter", adapterDir, "--task", "b"));
            Assert.Equal(m.GetProperty("task_b").GetProperty("lora").GetDouble(), adapted.Accuracy, 4);
            var plain = Eval(CliHarness.Run("eval", "--model", baseDir, "--task", "b"));
            Assert.Equal(m.GetProperty("task_b").GetProperty("before").GetDouble(), plain.Accuracy, 4);
            Assert.Equal(m.GetProperty("base").GetProperty("accuracy").GetDouble(), Eval(CliHarness.Run("eval", "--model", baseDir)).Accuracy, 4);

            string merged = Path.Combine(root, "merged");
            var mergeRun = CliHarness.Run("merge", "--base", baseDir, "--adapter", adapterDir, "--out", merged);
            Assert.True(mergeRun.Code == 0, mergeRun.Err);
            Assert.Empty(ModelFiles.Load(merged).LoraLayers());
            var mergedEval = Eval(CliHarness.Run("eval", "--model", merged, "--task", "b"));
            // Merging rounds W + s·B·A once per weight: the loss moves by rounding only, and at most a borderline
            // sample or two may change its argmax.
            Assert.Equal(adapted.Loss, mergedEval.Loss, 3);
            Assert.True(Math.Abs(adapted.Accuracy - mergedEval.Accuracy) * adapted.Count <= 2.0001, $"{adapted.Accuracy} vs {mergedEval.Accuracy}");

            // eval refuses the image options for a model whose demo does not use them.
            foreach (var (option, value, setting) in new[] { ("--data", root, Lora.Core.Experiments.DemoSettings.Data), ("--shift", "flip", Lora.Core.Experiments.DemoSettings.Shift) })
            {
                if (task.Settings.HasFlag(setting)) continue;
                var r = CliHarness.Run("eval", "--model", baseDir, option, value);
                Assert.Equal(2, r.Code);
                Assert.Contains("does not apply", r.Err);
                Assert.Single(r.Err.TrimEnd('\n').Split('\n'));
            }

            var inspect = CliHarness.Run("inspect", baseDir);
            Assert.Equal(0, inspect.Code);
            Assert.Contains(((IConfiguredModel)loaded).Config.Summary, inspect.Out);
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void UnknownModelOrOptionsThatDoNotApplyExitTwoWithOneLine()
    {
        string root = CliHarness.TempDir();
        try
        {
            List<string[]> cases = [["--model", "transformer"], ["--model", ""]];
            var optional = new (string Option, string Value, Lora.Core.Experiments.DemoSettings Setting)[]
            {
                ("--data", root, Lora.Core.Experiments.DemoSettings.Data), ("--shift", "flip", Lora.Core.Experiments.DemoSettings.Shift),
                ("--hidden", "8", Lora.Core.Experiments.DemoSettings.Hidden),
            };
            foreach (var task in DemoTasks.All)
                foreach (var (option, value, setting) in optional)
                    if (!task.Settings.HasFlag(setting)) cases.Add(["--model", task.Name, option, value]);
            foreach (var args in cases)
            {
                var (code, output, err) = CliHarness.Run(["train", "--out", Path.Combine(root, "run"), "--quiet", .. args]);
                Assert.True(code == 2, string.Join(" ", args));
                Assert.Equal("", output);
                Assert.Single(err.TrimEnd('\n').Split('\n'));
                Assert.False(Directory.Exists(Path.Combine(root, "run")));
            }
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void EvalRejectsBadTaskAndForeignConfigs()
    {
        string root = CliHarness.TempDir();
        try
        {
            string model = Path.Combine(root, "m");
            ModelFiles.Save(new Mlp([64, 8, 10], seed: 3), model);
            Assert.Equal(2, CliHarness.Run("eval", "--model", model, "--task", "c").Code);
            Assert.Equal(2, CliHarness.Run("eval", "--model", model, "--task", "a", "--shift", "flip").Code);
            // An unknown model_type is refused naming the file and the key.
            File.WriteAllText(Path.Combine(model, "config.json"), "{\"model_type\": \"transformer\", \"sizes\": [64, 8, 10]}");
            var (code, _, err) = CliHarness.Run("eval", "--model", model);
            Assert.Equal(2, code);
            Assert.Contains("config.json: model_type:", err);
            Assert.Single(err.TrimEnd('\n').Split('\n'));
        }
        finally { Directory.Delete(root, true); }
    }

    static (double Loss, double Accuracy, int Count) Eval((int Code, string Out, string Err) run)
    {
        Assert.True(run.Code == 0, run.Err);
        var match = Regex.Match(run.Out, @": ([\d,]+) samples, loss ([\d.]+), accuracy ([\d.]+)%");
        Assert.True(match.Success, run.Out);
        return (double.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture), double.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture) / 100,
            int.Parse(match.Groups[1].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture));
    }
}
