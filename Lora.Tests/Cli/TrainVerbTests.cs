using System.IO.Compression;
using System.Text.Json;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Training;

namespace Lora.Tests.Cli;

/// <summary>The main job and its verbs, run in-process with a tiny configuration so the suite stays fast.</summary>
public class TrainVerbTests
{
    static readonly string[] Tiny = ["--hidden", "16", "--base-epochs", "2", "--epochs", "2", "--full-epochs", "1", "--quiet"];

    static (int Code, string Out, string Err) Train(string outDir, params string[] extra) =>
        CliHarness.Run(["train", "--out", outDir, .. Tiny, .. extra]);

    [Fact]
    public void AModelThatCannotFitInMemoryIsRefusedBeforeAnythingIsAllocated()
    {
        // 6.35 G parameters, about 311 GB at the job's peak: this used to end in the kernel's out-of-memory killer
        // with no message. It is one line on stderr and exit 2, and no output directory is left behind.
        string root = CliHarness.TempDir();
        try
        {
            string run = Path.Combine(root, "run");
            var (code, _, err) = CliHarness.Run("train", "--out", run, "--hidden", "46000,46000,46000,46000", "--quiet");
            Assert.Equal(2, code);
            Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains("6,351,588,010 parameters", err);
            Assert.Contains("use smaller --hidden widths", err);
            Assert.False(Directory.Exists(run));
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void TheMemoryCheckComparesTheEstimateWithWhatIsAvailable()
    {
        var task = Lora.Core.Models.DemoTasks.Mlp;
        var options = task.Defaults with { Hidden = [100] };
        var data = task.LoadData(options, null);
        long parameters = task.BaseConfig(data, options).ParameterCount();
        Assert.Equal(64 * 100 + 100 + 100 * 10 + 10, parameters); // 64-100-10: weights and biases, counted from the config
        Assert.Equal(task.CreateBase(data, options).ParameterCount(), parameters);
        long needed = Lora.Core.Experiments.AdaptationExperiment.EstimatedPeakBytes(parameters);
        Lora.Cli.Verbs.TrainVerb.CheckMemory(task, data, options, needed);
        Lora.Cli.Verbs.TrainVerb.CheckMemory(task, data, options, 0); // unknown: no refusal
        var e = Assert.Throws<Lora.Cli.UsageException>(() => Lora.Cli.Verbs.TrainVerb.CheckMemory(task, data, options, needed - 1));
        Assert.Contains("MLP 64-100-10", e.Message);
    }

    [Fact]
    public void TrainWritesEveryOutputAndTheyReload()
    {
        string root = CliHarness.TempDir();
        try
        {
            string run = Path.Combine(root, "run");
            var (code, output, err) = Train(run);
            Assert.True(code == 0, err);
            Assert.Contains("accuracy on task B", output);
            Assert.Contains("trainable parameters", output);

            using var metrics = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(run, "metrics.json")));
            var m = metrics.RootElement;
            foreach (var path in new[] { "base.accuracy", "task_b.before", "task_b.lora", "task_b.full", "trainable_params.lora",
                         "trainable_params.full", "trainable_state_bytes.lora", "trainable_state_bytes.full", "seconds_per_epoch.lora",
                         "seconds_per_epoch.full", "peak_working_set_bytes", "config.rank", "config.alpha", "config.lora_lr" })
            {
                var e = path.Split('.').Aggregate(m, (node, key) => node.GetProperty(key));
                Assert.True(e.ValueKind == JsonValueKind.Number, path);
            }
            Assert.Equal(8, m.GetProperty("config").GetProperty("rank").GetInt32());
            // 64-16-10 MLP, LoRA r = 8 on layers.0: A (8, 64) + B (16, 8).
            Assert.Equal(8 * 64 + 16 * 8, m.GetProperty("trainable_params").GetProperty("lora").GetInt64());
            Assert.Equal(64 * 16 + 16 + 16 * 10 + 10, m.GetProperty("trainable_params").GetProperty("full").GetInt64());

            var model = ModelFiles.Load<Mlp>(Path.Combine(run, "base"));
            Assert.Equal([64, 16, 10], model.Config.Sizes);
            var adapter = PeftAdapter.Load(Path.Combine(run, "adapter"));
            Assert.Equal(8, adapter.Config.R);
            Assert.Equal(["layers.0"], adapter.Modules.Select(x => x.ModulePath));
            System.Xml.Linq.XDocument.Load(Path.Combine(run, "curves.svg"));
            Assert.DoesNotContain(Directory.GetDirectories(root), d => Path.GetFileName(d) != "run");
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void ALongTargetListKeepsTheTableColumnsApart()
    {
        string root = CliHarness.TempDir();
        try
        {
            var (code, output, err) = Train(Path.Combine(root, "run"), "--targets", "layers.0,layers.1");
            Assert.True(code == 0, err);
            var header = output.Split('\n').Single(l => l.Contains("full fine-tuning"));
            // Every column of the header and of the rows starts at the same offset, two spaces after the longest entry.
            int lora = header.IndexOf("LoRA (r=8, layers.0,layers.1)", StringComparison.Ordinal), full = header.IndexOf("full fine-tuning", StringComparison.Ordinal);
            Assert.True(lora >= 0 && full >= lora + "LoRA (r=8, layers.0,layers.1)".Length + 2, header);
            var accuracy = output.Split('\n').Single(l => l.StartsWith("accuracy on task B", StringComparison.Ordinal));
            Assert.Equal(' ', accuracy[full - 1]);
            Assert.NotEqual(' ', accuracy[full]);
        }
        finally { Directory.Delete(root, true); }
    }

    [Theory]
    [InlineData("cosine")]
    [InlineData("constant")]
    public void TheScheduleShapesEveryPhaseAndIsRecorded(string schedule)
    {
        string root = CliHarness.TempDir();
        try
        {
            string run = Path.Combine(root, "run");
            var (code, _, err) = Train(run, "--schedule", schedule, "--lr", "0.02"); // 2 LoRA epochs
            Assert.True(code == 0, err);
            using var metrics = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(run, "metrics.json")));
            var m = metrics.RootElement;
            Assert.Equal(schedule, m.GetProperty("config").GetProperty("schedule").GetString());
            // The rate of each LoRA epoch's last step: the peak throughout when constant; under warm-up + cosine it
            // falls every epoch and ends near 0 (the decay reaches 0 one step after the phase's last step).
            double[] lr = m.GetProperty("history").GetProperty("lora").EnumerateArray().Select(e => e.GetProperty("lr").GetDouble()).ToArray();
            Assert.Equal(2, lr.Length);
            if (schedule == "constant") Assert.All(lr, x => Assert.Equal(0.02, x, 1e-7));
            else
            {
                Assert.True(lr[0] < 0.02 && lr[1] < lr[0], string.Join(", ", lr));
                Assert.True(lr[1] < 0.01 * 0.02, string.Join(", ", lr));
            }
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void ExistingOutputIsRefusedWithoutForceAndKept()
    {
        string root = CliHarness.TempDir();
        try
        {
            string run = Path.Combine(root, "run");
            Directory.CreateDirectory(run);
            File.WriteAllText(Path.Combine(run, "keep.txt"), "precious");
            var (code, _, err) = Train(run);
            Assert.Equal(2, code);
            Assert.Contains("--force", err);
            Assert.Equal("precious", File.ReadAllText(Path.Combine(run, "keep.txt")));
        }
        finally { Directory.Delete(root, true); }
    }

    [Theory]
    [InlineData("--rank", "abc")]
    [InlineData("--rank", "0")]
    [InlineData("--rank", "17")]          // larger than the 16-wide layer allows
    [InlineData("--lr", "fast")]
    [InlineData("--targets", "layers.9")] // matches no layer
    [InlineData("--modules-to-save", "layers.9")] // selects no module
    [InlineData("--modules-to-save", "layers.0")] // also the LoRA target
    [InlineData("--modules-to-save", ",")]        // an empty list
    [InlineData("--shift", "sideways")]
    [InlineData("--schedule", "linear")]
    public void BadOptionsExitTwoAndLeaveNothing(string name, string value)
    {
        string root = CliHarness.TempDir();
        try
        {
            var (code, output, err) = Train(Path.Combine(root, "run"), name, value);
            Assert.Equal(2, code);
            Assert.Equal("", output);
            Assert.Single(err.TrimEnd('\n').Split('\n'));
            Assert.Empty(Directory.EnumerateFileSystemEntries(root));
        }
        finally { Directory.Delete(root, true); }
    }

    [Theory]
    [InlineData("missing")]
    [InlineData("bad-magic")]
    [InlineData("count-mismatch")]
    [InlineData("truncated")]
    [InlineData("corrupt-gzip")]
    public void BadDataExitsTwoAndLeavesNothing(string kind)
    {
        string root = CliHarness.TempDir();
        try
        {
            string data = Path.Combine(root, "data");
            if (kind != "missing") IdxFiles.Write(data, kind);
            var (code, _, err) = Train(Path.Combine(root, "run"), "--data", data);
            Assert.Equal(2, code);
            Assert.Single(err.TrimEnd('\n').Split('\n'));
            Assert.False(Directory.Exists(Path.Combine(root, "run")));
            Assert.DoesNotContain(Directory.EnumerateDirectories(root), d => Path.GetFileName(d).Contains("run"));
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void TrainsOnIdxDirectory()
    {
        string root = CliHarness.TempDir();
        try
        {
            string data = Path.Combine(root, "data");
            IdxFiles.Write(data, "good");
            var (code, output, err) = CliHarness.Run("train", "--out", Path.Combine(root, "run"), "--data", data, "--hidden", "8",
                "--rank", "4", "--base-epochs", "2", "--epochs", "2", "--full-epochs", "1", "--quiet");
            Assert.True(code == 0, err);
            Assert.Contains("MLP 16-8-10", output); // IDX data is read as 10 classes, as MNIST defines
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void MergedModelEqualsBasePlusAdapterAndEvalAgrees()
    {
        string root = CliHarness.TempDir();
        try
        {
            string run = Path.Combine(root, "run"), merged = Path.Combine(root, "merged");
            Assert.Equal(0, Train(run).Code);
            var (code, _, err) = CliHarness.Run("merge", "--base", Path.Combine(run, "base"), "--adapter", Path.Combine(run, "adapter"), "--out", merged);
            Assert.True(code == 0, err);
            Assert.Equal(2, CliHarness.Run("merge", "--base", Path.Combine(run, "base"), "--adapter", Path.Combine(run, "adapter"), "--out", merged).Code);
            // The merged model records the adapter, and merging it a second time is refused before anything is written.
            string recorded = SafeTensors.ReadHeader(Path.Combine(merged, "model.safetensors")).Metadata["lora_merged_adapters"];
            Assert.Matches("^[0-9a-f]{64}$", recorded);
            string twice = Path.Combine(root, "twice");
            var again = CliHarness.Run("merge", "--base", merged, "--adapter", Path.Combine(run, "adapter"), "--out", twice);
            Assert.Equal(2, again.Code);
            Assert.Contains("already merged", again.Err);
            Assert.False(Directory.Exists(twice));

            var adapted = ModelFiles.Load(Path.Combine(run, "base"));
            LoraAdapterFiles.Load(adapted, Path.Combine(run, "adapter"));
            var plain = ModelFiles.Load(merged);
            Assert.Empty(plain.LoraLayers());
            var data = Lora.Core.Data.Digits.Load();
            var a = Logits(adapted, data);
            var b = Logits(plain, data);
            // Merging rounds W + s·B·A once per weight; through three layers the logits move by a few ulps of their
            // magnitude (bounded here by 1e-4 relative to the largest logit).
            float scale = a.Max(Math.Abs);
            for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-4f * scale, $"logit {i}: {a[i]} vs {b[i]}");

            var withAdapter = CliHarness.Run("eval", "--model", Path.Combine(run, "base"), "--adapter", Path.Combine(run, "adapter"), "--shift", "rotate90");
            var mergedEval = CliHarness.Run("eval", "--model", merged, "--shift", "rotate90");
            Assert.Equal(0, withAdapter.Code);
            Assert.Equal(withAdapter.Out.Replace(" (with adapter)", ""), mergedEval.Out);
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void MergeWithMissingOrGarbageAdapterExitsTwoAndWritesNothing()
    {
        string root = CliHarness.TempDir();
        try
        {
            string run = Path.Combine(root, "run");
            Assert.Equal(0, Train(run).Code);
            string bad = Path.Combine(root, "bad");
            Directory.CreateDirectory(bad);
            File.Copy(Path.Combine(run, "adapter", "adapter_config.json"), Path.Combine(bad, "adapter_config.json"));
            File.WriteAllBytes(Path.Combine(bad, "adapter_model.safetensors"), [1, 2, 3]);
            foreach (var adapterDir in new[] { bad, Path.Combine(root, "nope") })
            {
                var (code, _, err) = CliHarness.Run("merge", "--base", Path.Combine(run, "base"), "--adapter", adapterDir, "--out", Path.Combine(root, "out"));
                Assert.Equal(2, code);
                Assert.Single(err.TrimEnd('\n').Split('\n'));
                Assert.False(Directory.Exists(Path.Combine(root, "out")));
            }
            Assert.Equal(2, CliHarness.Run("merge", "--base", Path.Combine(run, "base")).Code);
        }
        finally { Directory.Delete(root, true); }
    }

    static float[] Logits(Module model, Lora.Core.Data.Dataset data)
    {
        model.Eval();
        using var _ = Lora.Autograd.Tape.NoGrad();
        var x = new Lora.Autograd.Tensor(data.Features, new Lora.Autograd.Shape(data.Count, data.FeatureCount));
        return model.Forward(x).ToArray();
    }
}

/// <summary>Writes small MNIST-format directories, good or broken in one chosen way.</summary>
internal static class IdxFiles
{
    public static void Write(string dir, string kind)
    {
        Directory.CreateDirectory(dir);
        const int rows = 4, cols = 4;
        foreach (var (prefix, count) in new[] { ("train", 60), ("t10k", 30) })
        {
            var rng = new Random(count);
            var pixels = new byte[count * rows * cols];
            var labels = new byte[count];
            for (int i = 0; i < count; i++)
            {
                labels[i] = (byte)(i % 3);
                for (int p = 0; p < rows * cols; p++) pixels[i * rows * cols + p] = (byte)(p % 3 == labels[i] ? 200 + rng.Next(50) : rng.Next(40));
            }
            byte[] images = [.. Header(kind == "bad-magic" ? 0x0804u : 0x0803u, count, rows, cols), .. pixels];
            byte[] labelFile = [.. Header(0x0801u, kind == "count-mismatch" ? count - 1 : count), .. labels[..(kind == "count-mismatch" ? count - 1 : count)]];
            if (kind == "truncated") images = images[..(images.Length - 7)];
            File.WriteAllBytes(Path.Combine(dir, $"{prefix}-labels-idx1-ubyte"), labelFile);
            if (kind == "corrupt-gzip")
            {
                using var ms = new MemoryStream();
                using (var gz = new GZipStream(ms, CompressionLevel.Fastest)) gz.Write(images);
                byte[] z = ms.ToArray();
                for (int i = 20; i < z.Length - 8; i += 3) z[i] ^= 0x5A;
                File.WriteAllBytes(Path.Combine(dir, $"{prefix}-images-idx3-ubyte.gz"), z);
            }
            else File.WriteAllBytes(Path.Combine(dir, $"{prefix}-images-idx3-ubyte"), images);
        }
    }

    static byte[] Header(uint magic, params int[] dims)
    {
        var b = new byte[4 + 4 * dims.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(b, magic);
        for (int i = 0; i < dims.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(4 + 4 * i), dims[i]);
        return b;
    }
}
