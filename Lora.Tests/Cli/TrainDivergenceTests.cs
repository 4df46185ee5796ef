using System.Text.Json;

namespace Lora.Tests.Cli;

/// <summary><c>lora train</c> when a learning rate makes a phase diverge: one line naming the phase and its option,
/// exit code 2, no output directory; and a perplexity beyond float range written as null in metrics.json.</summary>
public class TrainDivergenceTests
{
    static readonly string[] TinyMlp = ["--hidden", "16", "--base-epochs", "1", "--epochs", "1", "--full-epochs", "1"];

    // The tiny n-gram model's LoRA phase turns NaN within a few steps at lr 1e9 (its pretraining is at 1e-3); the
    // tiny MLP's LoRA phase at any rate stays finite, so the LoRA case runs on the n-gram model.
    static readonly string[] TinyNgram = ["--model", "embedding", "--hidden", "4", "--rank", "2", "--base-epochs", "1",
        "--epochs", "1", "--full-epochs", "1", "--batch-size", "8192"];

    /// <summary>(options that make one phase diverge, the phase's name, the option and value the message ends with).</summary>
    public static TheoryData<string[], string, string> Diverging => new()
    {
        { [.. TinyMlp, "--base-lr", "1e38"], "pretraining", "--base-lr 1E+38" },
        { [.. TinyNgram, "--lr", "1e9"], "LoRA adaptation", "--lr 1E+09" },
        { [.. TinyMlp, "--full-lr", "1e38"], "full fine-tuning", "--full-lr 1E+38" },
    };

    [Theory]
    [MemberData(nameof(Diverging))]
    public void ADivergedPhaseIsOneLineAndNoOutput(string[] options, string phase, string learningRate)
    {
        string root = CliHarness.TempDir();
        try
        {
            string run = Path.Combine(root, "run");
            var (code, output, err) = CliHarness.Run(["train", "--out", run, "--quiet", .. options]);
            Assert.Equal(2, code);
            Assert.Equal("", output);
            string line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"lora: train: {phase} diverged at epoch 1, step ", line);
            Assert.Contains("the loss is NaN", line);
            Assert.EndsWith($"This phase's learning rate: {learningRate}.", line.TrimEnd());
            Assert.False(Directory.Exists(run));
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public void APerplexityBeyondFloatRangeIsNullInMetrics()
    {
        string root = CliHarness.TempDir();
        try
        {
            // At lr 1e9 the tiny rnn's LoRA phase ends with a finite test loss far above ln(double.MaxValue) ≈ 709.8.
            string run = Path.Combine(root, "run");
            var (code, output, err) = CliHarness.Run(["train", "--model", "rnn", "--out", run, "--lr", "1e9", "--hidden", "4,8",
                "--rank", "2", "--base-epochs", "1", "--epochs", "1", "--full-epochs", "1", "--batch-size", "1024", "--quiet"]);
            Assert.True(code == 0, err);
            Assert.Contains("perplexity on task B", output);
            using var metrics = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(run, "metrics.json")));
            var m = metrics.RootElement;
            Assert.Equal(JsonValueKind.Null, m.GetProperty("perplexity").GetProperty("lora").ValueKind);
            Assert.True(m.GetProperty("history").GetProperty("lora")[0].GetProperty("test_loss").GetDouble() > 710);
            Assert.Equal(JsonValueKind.Number, m.GetProperty("perplexity").GetProperty("full").ValueKind);
        }
        finally { Directory.Delete(root, recursive: true); }
    }
}
