using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Tests.Core.IO;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Lora;

/// <summary>Models and adapters through files: round trips, failed loads, and the PyTorch/PEFT fixture.</summary>
public class LoraFilesTests
{
    static Mlp Adapted(out LoraReport report, LoraBias bias = LoraBias.None)
    {
        var m = new Mlp([8, 16, 12, 4], ActivationKind.Relu, 0, seed: 21);
        report = m.ApplyLora(new LoraConfig { R = 3, Alpha = 5, Dropout = 0.05, UseRsLora = true, Bias = bias, TargetModules = ["layers.0", "re:layers\\.2"] });
        foreach (var (_, l) in m.LoraLayers()) Random(l.Adapters[0].B.Length, 4, 0.3).CopyTo(l.Adapters[0].B.Data);
        if (bias != LoraBias.None) foreach (var p in m.Parameters().Where(p => !p.Frozen && p.Name.EndsWith(".bias"))) p.Data[0] += 1;
        return m;
    }

    [Theory]
    [InlineData(LoraBias.None)]
    [InlineData(LoraBias.LoraOnly)]
    [InlineData(LoraBias.All)]
    public void SaveThenLoadIsBitwise(LoraBias bias)
    {
        using var dir = new TempDir();
        var m = Adapted(out _, bias);
        ModelFiles.Save(m, dir.File("base"));
        LoraAdapterFiles.Save(m, dir.File("adapter"));
        var loaded = ModelFiles.Load(dir.File("base"));
        LoraAdapterFiles.Load(loaded, dir.File("adapter"), trainable: true);
        AssertSameModel(m, loaded, inFeatures: 8);
        var cfg = PeftAdapter.Load(dir.File("adapter")).Config;
        Assert.Equal(["layers.0", "layers.2"], cfg.TargetModules);
        Assert.True(cfg.UseRsLora);
        Assert.Equal(3, cfg.R);
    }

    [Fact]
    public void FailedAdapterLoadLeavesTheModelUnchanged()
    {
        using var dir = new TempDir();
        var m = Adapted(out _);
        LoraAdapterFiles.Save(m, dir.File("adapter"));
        // a model with other widths: the adapter does not fit
        var other = new Mlp([8, 16, 10, 4], ActivationKind.Relu, 0, seed: 1);
        var before = Snapshot(other);
        var ex = Assert.Throws<InvalidDataException>(() => LoraAdapterFiles.Load(other, dir.File("adapter")));
        Assert.Contains("adapter_model.safetensors", ex.Message);
        Assert.Contains("layers.2", ex.Message);
        AssertUnchanged(other, before);

        // the same adapter name twice on one model
        var twice = ModelFiles.Load(SaveBase(m, dir.File("base")));
        LoraAdapterFiles.Load(twice, dir.File("adapter"));
        before = Snapshot(twice);
        Assert.Throws<InvalidDataException>(() => LoraAdapterFiles.Load(twice, dir.File("adapter")));
        AssertUnchanged(twice, before);

        // a config whose r disagrees with the tensors
        string cfgPath = Path.Combine(dir.File("adapter"), "adapter_config.json");
        File.WriteAllText(cfgPath, File.ReadAllText(cfgPath).Replace("\"r\": 3", "\"r\": 2"));
        var fresh = ModelFiles.Load(dir.File("base"));
        before = Snapshot(fresh);
        Assert.Throws<InvalidDataException>(() => LoraAdapterFiles.Load(fresh, dir.File("adapter")));
        AssertUnchanged(fresh, before);
        Assert.ThrowsAny<IOException>(() => LoraAdapterFiles.Load(fresh, dir.File("missing")));  // DirectoryNotFound or FileNotFound
        AssertUnchanged(fresh, before);
    }

    [Fact]
    public void FailedModelLoadLeavesTheModelUnchanged()
    {
        using var dir = new TempDir();
        var small = new Mlp([8, 6, 4], ActivationKind.Relu, 0, seed: 2);
        ModelFiles.Save(small, dir.File("small"));
        var m = new Mlp([8, 16, 12, 4], ActivationKind.Relu, 0, seed: 3);
        var before = Snapshot(m);
        Assert.Contains("config.json", Assert.Throws<InvalidDataException>(() => ModelFiles.LoadInto(m, dir.File("small"))).Message);
        AssertUnchanged(m, before);
        // a truncated weights file
        ModelFiles.Save(m, dir.File("same"));
        var weights = Path.Combine(dir.File("same"), "model.safetensors");
        var bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..(bytes.Length - 7)]);
        foreach (var p in m.Parameters()) p.Data[0] += 1;
        before = Snapshot(m);
        Assert.Throws<InvalidDataException>(() => ModelFiles.LoadInto(m, dir.File("same")));
        AssertUnchanged(m, before);
        // a merged LoRA model cannot save or load base weights
        m.ApplyLora(new LoraConfig { R = 2 });
        m.MergeAdapters();
        Assert.Throws<InvalidOperationException>(() => ModelFiles.Save(m, dir.File("merged")));
    }

    [Fact]
    public void MergedPlainModelReloadsWithTheAdaptedOutputs()
    {
        using var dir = new TempDir();
        var m = Adapted(out _);
        var x = Random(5 * 8, 3);
        var adapted = Run(m.Eval(), x, 5);
        ModelFiles.Save(m.MergeAndUnload(), dir.File("merged"));
        var plain = ModelFiles.Load(dir.File("merged"));
        Assert.Empty(plain.LoraLayers());
        var y = Run(plain.Eval(), x, 5);
        // merging moves each W element by (r+1)·ε·(|W| + s·Σ|B||A|); through three unit-scale layers < 1e-5.
        for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(y[i] - adapted[i]) <= 1e-5, $"[{i}]");
    }

    [Fact]
    public void LoadsThePeftFixtureAndReproducesPytorch()
    {
        var model = ModelFiles.Load<Mlp>(PeftFixture.Dir);
        LoraAdapterFiles.Load(model, PeftFixture.PathOf("adapter"));
        Assert.All(model.Parameters(), p => Assert.True(p.Frozen));           // loaded for inference
        var io = SafeTensors.Read(PeftFixture.PathOf("io.safetensors"));
        var x = io.Tensors.First(t => t.Name == "x");
        int n = x.Shape[0];
        var lora = Run(model.Eval(), x.Data, n);
        AssertMatches(model, x.Data, n, lora, PeftFixture.ExpectedRows("y_lora_f64"), withLora: true);
        model.DisableAdapters();
        var baseOut = Run(model, x.Data, n);
        AssertMatches(model, x.Data, n, baseOut, PeftFixture.ExpectedRows("y_base_f64"), withLora: false);
    }

    [Fact]
    public void LoadsThePeftFixtureWithRsLoraRegexTargetsAndBiasAll()
    {
        // PyTorch wrote this adapter with use_rslora, target_modules as the regex "layers\.[02]" and bias "all":
        // layers.1 stays a plain Linear but its bias is replaced by the adapter's.
        var model = ModelFiles.Load<Mlp>(PeftFixture.Dir);
        LoraAdapterFiles.Load(model, PeftFixture.PathOf("adapter_bias"), trainable: true);
        Assert.Equal(["layers.0", "layers.2"], model.LoraLayers().Select(l => l.Path));
        Assert.IsType<Linear>(model.Layers[1]);
        Assert.Equal(PeftFixture.Expected.GetProperty("scaling_bias").GetDouble(), model.LoraLayers().First().Layer.Adapters[0].Scale, 6);
        // trainable like after ApplyLora with bias "all": the factors and every bias
        Assert.All(model.NamedParameters(), p => Assert.Equal(LoraModel.IsLoraParameter(p.Name) || p.Name.EndsWith(".bias"), !p.Parameter.Frozen));
        var x = SafeTensors.Read(PeftFixture.PathOf("io.safetensors")).Tensors.First(t => t.Name == "x");
        var y = Run(model.Eval(), x.Data, x.Shape[0]);
        AssertMatches(model, x.Data, x.Shape[0], y, PeftFixture.ExpectedRows("y_lora_bias_f64"), withLora: true);
        // and it saves back with the same biases and factors
        var peft = LoraAdapterFiles.ToPeft(model);
        Assert.Equal(PeftBias.All, peft.Config.Bias);
        Assert.Equal(["layers.0", "layers.1", "layers.2"], peft.Biases.Keys.Order());
        var original = PeftAdapter.Load(PeftFixture.PathOf("adapter_bias"));
        foreach (var (path, t) in original.Biases) Assert.Equal(t.Data, peft.Biases[path].Data);
        foreach (var m in original.Modules)
        {
            var saved = peft.Modules.Single(s => s.ModulePath == m.ModulePath);
            Assert.Equal(m.A.Data, saved.A.Data);
            Assert.Equal(m.B.Data, saved.B.Data);
        }
    }

    [Fact]
    public void LoadsThePeftPatternFixtureAndSavesItBackExactly()
    {
        // Per-module r and lora_alpha from rank_pattern / alpha_pattern (PyTorch wrote the file; see PeftForwardTests).
        var model = ModelFiles.Load<Mlp>(PeftFixture.Dir);
        LoraAdapterFiles.Load(model, PeftFixture.PathOf("adapter_pattern"));
        var adapters = model.LoraLayers().Select(l => l.Layer.Adapters[0]).ToList();
        Assert.Equal([3, 2, 4], adapters.Select(a => a.Rank));
        var scales = PeftFixture.Expected.GetProperty("scalings_pattern").EnumerateArray().Select(e => (float)e.GetDouble());
        Assert.Equal(scales, adapters.Select(a => a.Scale));
        var x = SafeTensors.Read(PeftFixture.PathOf("io.safetensors")).Tensors.First(t => t.Name == "x");
        var y = Run(model.Eval(), x.Data, x.Shape[0]);
        AssertMatches(model, x.Data, x.Shape[0], y, PeftFixture.ExpectedRows("y_lora_pattern_f64"), withLora: true);

        // Saved back: the most common r (none: the first layer's, 3) and alpha (8), exact keys for the other layers.
        string dir = Path.Combine(Path.GetTempPath(), "lora-pattern-" + Guid.NewGuid().ToString("N"));
        try
        {
            LoraAdapterFiles.Save(model, dir);
            var saved = PeftAdapter.Load(dir);
            Assert.Equal(3, saved.Config.R);
            Assert.Equal(8, saved.Config.LoraAlpha);
            Assert.Equal([KeyValuePair.Create("^layers\\.1", 2), KeyValuePair.Create("^layers\\.2", 4)], saved.Config.RankPattern);
            Assert.Equal([KeyValuePair.Create("^layers\\.2", 16.0)], saved.Config.AlphaPattern);
            var again = ModelFiles.Load<Mlp>(PeftFixture.Dir);
            LoraAdapterFiles.Load(again, dir);
            Assert.Equal(y.Bits(), Run(again.Eval(), x.Data, x.Shape[0]).Bits());
            var original = PeftAdapter.Load(PeftFixture.PathOf("adapter_pattern"));
            foreach (var m in original.Modules)
            {
                var s = saved.Modules.Single(t => t.ModulePath == m.ModulePath);
                Assert.Equal(m.A.Data.Bits(), s.A.Data.Bits());
                Assert.Equal(m.B.Data.Bits(), s.B.Data.Bits());
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    static void AssertMatches(Mlp model, float[] x, int n, float[] actual, double[][] expected, bool withLora) =>
        AssertMatchesTorch(Enumerable.Range(0, model.Layers.Count).Select(i => Layer(model.Layers[i], withLora)).ToList(), x, n, actual, expected);

    static string SaveBase(Mlp m, string dir) { ModelFiles.Save(m, dir); return dir; }

    static void AssertUnchanged(Module m, Dictionary<string, float[]> before)
    {
        Assert.Equal(before.Keys.Order(), m.NamedParameters().Select(p => p.Name).Order());
        foreach (var (name, p) in m.NamedParameters()) Assert.Equal(before[name], p.ToArray());
    }
}
