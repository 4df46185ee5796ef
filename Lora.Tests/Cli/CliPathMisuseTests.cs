namespace Lora.Tests.Cli;

/// <summary>Paths and option values a user gets wrong: each is one line on stderr and exit code 2, leaves the inputs
/// as they were and writes nothing.</summary>
public class CliPathMisuseTests
{
    static readonly string[] Tiny = ["--hidden", "16", "--base-epochs", "1", "--epochs", "1", "--full-epochs", "1", "--quiet"];

    static void AssertUserError((int Code, string Out, string Err) r, string expected)
    {
        Assert.True(r.Code == 2, $"exit {r.Code}: {r.Err}");
        Assert.Single(r.Err.TrimEnd('\n').Split('\n'));
        Assert.Contains(expected, r.Err);
        Assert.DoesNotContain("unexpected failure", r.Err);
    }

    static string[] Entries(string dir) => Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories).Order().ToArray();

    [Fact]
    public void AnOutputUnderAFileIsAUserError()
    {
        string root = CliHarness.TempDir();
        try
        {
            string file = Path.Combine(root, "notes.txt");
            File.WriteAllText(file, "x");
            // Creating the parent threw an IOException, reported as an unexpected failure (exit 1).
            AssertUserError(CliHarness.Run(["train", "--out", Path.Combine(file, "run"), .. Tiny]), "cannot create the output directory");
            Assert.Equal([file], Entries(root));
        }
        finally { Directory.Delete(root, true); }
    }

    [Theory]
    [InlineData("eval", "--model")]
    [InlineData("train", "--out")]
    [InlineData("merge", "--base")]
    public void AnEmptyOptionValueIsRefused(string verb, string option)
    {
        // An empty --model read config.json from the current directory.
        AssertUserError(CliHarness.Run(verb, option, ""), $"{option} is empty");
    }

    [Fact]
    public void MergeNeverReplacesItsInputsAndDirectoryOptionsMustBeDirectories()
    {
        string root = CliHarness.TempDir();
        try
        {
            string run = Path.Combine(root, "run"), baseDir = Path.Combine(run, "base"), adapterDir = Path.Combine(run, "adapter");
            Assert.Equal(0, CliHarness.Run(["train", "--out", run, .. Tiny]).Code);
            var before = Entries(root).Select(p => (p, File.Exists(p) ? File.ReadAllBytes(p) : null)).ToArray();
            // --force used to replace the adapter (or the whole run, base and adapter included) with the merged model.
            AssertUserError(CliHarness.Run("merge", "--base", baseDir, "--adapter", adapterDir, "--out", adapterDir, "--force"), "is the input");
            AssertUserError(CliHarness.Run("merge", "--base", baseDir, "--adapter", adapterDir, "--out", run, "--force"), "holds the input");
            AssertUserError(CliHarness.Run("merge", "--base", baseDir, "--adapter", adapterDir, "--out", baseDir + "/", "--force"), "is the input");
            // A file where a directory belongs: 'could not find a part of the path .../config.json/config.json' before.
            AssertUserError(CliHarness.Run("eval", "--model", Path.Combine(baseDir, "config.json")), "is a file, not a directory");
            AssertUserError(CliHarness.Run("eval", "--model", baseDir, "--adapter", Path.Combine(adapterDir, "adapter_config.json")), "is a file, not a directory");
            AssertUserError(CliHarness.Run("eval", "--model", Path.Combine(root, "missing")), "no such directory");
            Assert.Equal(before.Select(b => b.p), Entries(root));
            foreach (var (p, bytes) in before) if (bytes is not null) Assert.Equal(bytes, File.ReadAllBytes(p));
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void EveryTargetMustSelectALayer()
    {
        string root = CliHarness.TempDir();
        try
        {
            // The library follows PEFT (one matching entry suffices); the report named the typo as an adapted target.
            AssertUserError(CliHarness.Run(["train", "--out", Path.Combine(root, "run"), "--targets", "layers.0,LAYERS.1", .. Tiny]), "'LAYERS.1' selects no layer");
            Assert.Empty(Entries(root));
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void ABatchSizeBeyondTheTrainingSetTrainsFullBatch()
    {
        string root = CliHarness.TempDir();
        try
        {
            // Exit 1 (OverflowException) before: the trainer sized its buffers by the batch size, not the set.
            var r = CliHarness.Run(["train", "--out", Path.Combine(root, "run"), "--batch-size", "2147483647", .. Tiny]);
            Assert.True(r.Code == 0, r.Err);
            Assert.True(File.Exists(Path.Combine(root, "run", "adapter", "adapter_model.safetensors")));
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void AConfigFileThatIsADirectorySaysSo()
    {
        string root = CliHarness.TempDir();
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "model", "config.json"));
            Directory.CreateDirectory(Path.Combine(root, "adapter", "adapter_config.json"));
            // Linux reported both as "Access to the path ... is denied", which points at permissions.
            AssertUserError(CliHarness.Run("eval", "--model", Path.Combine(root, "model")), "config.json is a directory, not a file");
            var e = Assert.Throws<FileNotFoundException>(() => Lora.Core.IO.PeftAdapter.Load(Path.Combine(root, "adapter")));
            Assert.Contains("adapter_config.json is a directory, not a file", e.Message);
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void LibraryParameterNamesStayOutOfTheMessage()
    {
        string root = CliHarness.TempDir();
        try
        {
            var r = CliHarness.Run(["train", "--out", Path.Combine(root, "run"), "--rank", "17", .. Tiny]);
            AssertUserError(r, "the rank must be at most min(fan_in, out) = 16.");
            Assert.DoesNotContain("(Parameter", r.Err);
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void EvalUsesTheSplitOfTheSeedTheRunWasTrainedWith()
    {
        string root = CliHarness.TempDir();
        try
        {
            string run = Path.Combine(root, "run"), baseDir = Path.Combine(run, "base"), merged = Path.Combine(root, "merged");
            Assert.Equal(0, CliHarness.Run(["train", "--out", run, "--seed", "7", .. Tiny]).Code);
            var plain = CliHarness.Run("eval", "--model", baseDir);
            var seven = CliHarness.Run("eval", "--model", baseDir, "--seed", "7");
            var one = CliHarness.Run("eval", "--model", baseDir, "--seed", "1");
            Assert.True(plain.Code == 0, plain.Err);
            // Without --seed, eval used seed 1's split: for a run trained with --seed 7, mostly training samples.
            Assert.Equal(seven.Out, plain.Out);
            Assert.NotEqual(one.Out, plain.Out);
            Assert.Equal(0, CliHarness.Run("merge", "--base", baseDir, "--adapter", Path.Combine(run, "adapter"), "--out", merged).Code);
            // A merged model keeps the seed of its base.
            Assert.Equal(CliHarness.Run("eval", "--model", merged, "--seed", "7").Out, CliHarness.Run("eval", "--model", merged).Out);
            Assert.NotEqual(CliHarness.Run("eval", "--model", merged, "--seed", "1").Out, CliHarness.Run("eval", "--model", merged).Out);
        }
        finally { Directory.Delete(root, true); }
    }
}
