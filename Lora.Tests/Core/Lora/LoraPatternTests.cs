using System.Text;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Tests.Core.IO;

namespace Lora.Tests.Core.Lora;

/// <summary>Per-layer ranks and alphas (PEFT's <c>rank_pattern</c> and <c>alpha_pattern</c>) in the config, on the
/// model and in the files.</summary>
public class LoraPatternTests
{
    [Theory]
    [InlineData("layers.0", "layers.0", true)]
    [InlineData("0", "layers.0", true)]             // a dot-aligned suffix
    [InlineData("0", "layers.10", false)]           // not a bare suffix
    [InlineData("layers.0", "layers.10", false)]    // the whole remainder must match
    [InlineData("ayers.0", "layers.0", false)]
    [InlineData(@"layers\.[12]", "layers.2", true)]  // any regular expression
    [InlineData(@"layers\.[12]", "layers.3", false)]
    [InlineData("^layers\\.1", "layers.1", true)]    // the exact keys Lora writes
    [InlineData("^layers\\.1", "model.layers.1", false)]
    [InlineData("layers.1", "model.layers.1", true)]
    public void AKeyMatchesThePathWholeOrFromADotAsInPeft(string key, string path, bool matches)
    {
        var c = new LoraConfig { R = 4, Alpha = 8, RankPattern = new Dictionary<string, int> { [key] = 2 }, AlphaPattern = new Dictionary<string, double> { [key] = 3 } };
        Assert.Equal(matches ? 2 : 4, c.RankFor(path));
        Assert.Equal(matches ? 3.0 : 8.0, c.AlphaFor(path));
        Assert.Equal(matches ? 1.5f : 2f, c.ScaleFor(path));
    }

    [Fact]
    public void TheFirstMatchingKeyWinsAndRankAndAlphaAreLookedUpApart()
    {
        var c = new LoraConfig
        {
            R = 8, Alpha = 16, UseRsLora = true,
            RankPattern = new Dictionary<string, int> { ["0"] = 2, [@"layers\.\d"] = 4 },
            AlphaPattern = new Dictionary<string, double> { [@"layers\.\d"] = 32, ["0"] = 1 },
        };
        Assert.Equal(2, c.RankFor("layers.0"));          // both rank keys match; "0" comes first
        Assert.Equal(32.0, c.AlphaFor("layers.0"));      // both alpha keys match; the other one comes first there
        Assert.Equal(4, c.RankFor("layers.1"));
        Assert.Equal(8, c.RankFor("head"));
        Assert.Equal((float)(32 / Math.Sqrt(2)), c.ScaleFor("layers.0"));
        Assert.Equal(c.Scale, c.ScaleFor("head"));
    }

    [Fact]
    public void InvalidPatternsThrowArgumentExceptionNamingTheKey()
    {
        Assert.Contains("'layers.('", Assert.Throws<ArgumentException>(() => new LoraConfig { RankPattern = new Dictionary<string, int> { ["layers.("] = 2 } }).Message);
        Assert.Contains("['layers.0'] = 0", Assert.Throws<ArgumentException>(() => new LoraConfig { RankPattern = new Dictionary<string, int> { ["layers.0"] = 0 } }).Message);
        Assert.Contains("['x'] = NaN", Assert.Throws<ArgumentException>(() => new LoraConfig { AlphaPattern = new Dictionary<string, double> { ["x"] = double.NaN } }).Message);
        Assert.Contains("['x'] = -1", Assert.Throws<ArgumentException>(() => new LoraConfig { AlphaPattern = new Dictionary<string, double> { ["x"] = -1 } }).Message);
        Assert.Throws<ArgumentException>(() => new LoraConfig { RankPattern = new Dictionary<string, int> { [""] = 2 } });
        Assert.Throws<ArgumentNullException>(() => new LoraConfig { AlphaPattern = null! });
    }

    [Fact]
    public void ApplyLoraGivesEachLayerItsRankAndScale()
    {
        var model = new Mlp([12, 10, 8, 3], seed: 3);
        var config = new LoraConfig
        {
            R = 4, Alpha = 8, Init = LoraInit.Gaussian,
            RankPattern = new Dictionary<string, int> { ["layers.2"] = 2, ["0"] = 6 },
            AlphaPattern = new Dictionary<string, double> { ["1"] = 2 },
        };
        var report = model.ApplyLora(config, seed: 5);
        var adapters = model.LoraLayers().Select(l => l.Layer.Adapters[0]).ToList();
        Assert.Equal([6, 4, 2], adapters.Select(a => a.Rank));
        Assert.Equal([8.0, 2.0, 8.0], adapters.Select(a => a.Alpha));
        Assert.Equal([8f / 6, 2f / 4, 8f / 2], adapters.Select(a => a.Scale));
        Assert.Equal(6 * (12 + 10) + 4 * (10 + 8) + 2 * (8 + 3), report.TrainableParameters);
        // Gaussian init draws A ~ N(0, 1/r²) with the layer's own r: the rank-6 layer's A is the narrowest.
        double Std(float[] v) => Math.Sqrt(v.Select(x => (double)x * x).Average());
        Assert.True(Std(adapters[0].A.ToArray()) < Std(adapters[2].A.ToArray()));
    }

    [Theory]
    [InlineData("rank", "layers.9")]   // no such layer
    [InlineData("alpha", "layer.0")]   // a typo
    [InlineData("rank", "layers.1")]   // a layer that exists but is not targeted
    public void APatternKeyThatSelectsNoTargetedLayerIsRefusedAndChangesNothing(string which, string key)
    {
        var model = new Mlp([12, 10, 3], seed: 3);
        var config = which == "rank"
            ? new LoraConfig { R = 2, TargetModules = ["layers.0"], RankPattern = new Dictionary<string, int> { ["layers.0"] = 3, [key] = 4 } }
            : new LoraConfig { R = 2, TargetModules = ["layers.0"], AlphaPattern = new Dictionary<string, double> { [key] = 8 } };
        var e = Assert.Throws<ArgumentException>(() => model.ApplyLora(config));
        Assert.Contains($"'{key}'", e.Message);
        Assert.Contains(which == "rank" ? "RankPattern" : "AlphaPattern", e.Message);
        Assert.Contains("[layers.0]", e.Message);
        Assert.Empty(model.LoraLayers());
    }

    [Fact]
    public void ARankFromThePatternBeyondTheLayerFailsNamingTheLayerAndLeavesTheModelUnchanged()
    {
        var model = new Mlp([12, 10, 3], seed: 3);
        var config = new LoraConfig { R = 2, RankPattern = new Dictionary<string, int> { ["layers.1"] = 4 } };
        var e = Assert.Throws<ArgumentException>(() => model.ApplyLora(config));
        Assert.Contains("'layers.1'", e.Message);
        Assert.Contains("rank_pattern", e.Message);
        Assert.Empty(model.LoraLayers());
    }

    [Fact]
    public void MixedRanksSaveAndLoadBitwiseWithExactPatternKeys()
    {
        var model = new Mlp([12, 10, 8, 3], seed: 3);
        model.ApplyLora(new LoraConfig
        {
            R = 4, Alpha = 8, Init = LoraInit.Gaussian,
            RankPattern = new Dictionary<string, int> { ["layers.2"] = 2 },
            AlphaPattern = new Dictionary<string, double> { ["layers.0"] = 3 },
        }, seed: 5);
        foreach (var (_, l) in model.LoraLayers()) l.Adapters[0].B.Data.Fill(0.25f); // as if trained
        var peft = LoraAdapterFiles.ToPeft(model);
        Assert.Equal(4, peft.Config.R);
        Assert.Equal(8, peft.Config.LoraAlpha);
        Assert.Equal([KeyValuePair.Create(@"^layers\.2", 2)], peft.Config.RankPattern);
        Assert.Equal([KeyValuePair.Create(@"^layers\.0", 3.0)], peft.Config.AlphaPattern);
        string json = peft.Config.ToJson();
        Assert.Contains("\"rank_pattern\": {\n    \"^layers\\\\.2\": 2\n  }", json);
        Assert.Contains("\"alpha_pattern\": {\n    \"^layers\\\\.0\": 3\n  }", json);
        var read = PeftAdapterConfig.FromJson(Encoding.UTF8.GetBytes(json), "adapter_config.json");
        Assert.Equal(peft.Config, read);

        string dir = Path.Combine(Path.GetTempPath(), "lora-ranks-" + Guid.NewGuid().ToString("N"));
        try
        {
            LoraAdapterFiles.Save(model, dir);
            var copy = new Mlp([12, 10, 8, 3], seed: 3);
            LoraAdapterFiles.Load(copy, dir);
            var pairs = model.LoraLayers().Zip(copy.LoraLayers()).ToList();
            foreach (var (a, b) in pairs)
            {
                var (x, y) = (a.Layer.Adapters[0], b.Layer.Adapters[0]);
                Assert.Equal((x.Rank, x.Alpha, x.Scale), (y.Rank, y.Alpha, y.Scale));
                Assert.Equal(x.A.ToArray().Bits(), y.A.ToArray().Bits());
                Assert.Equal(x.B.ToArray().Bits(), y.B.ToArray().Bits());
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("\"rank_pattern\": {}", "\"rank_pattern\": []", "adapter_config.json: rank_pattern:")]
    [InlineData("\"rank_pattern\": {}", "\"rank_pattern\": {\"layers.0\": 0}", "adapter_config.json: rank_pattern.layers.0:")]
    [InlineData("\"rank_pattern\": {}", "\"rank_pattern\": {\"layers.0\": 2.5}", "adapter_config.json: rank_pattern.layers.0:")]
    [InlineData("\"rank_pattern\": {}", "\"rank_pattern\": {\"layers.(\": 2}", "adapter_config.json: rank_pattern.layers.(:")]
    [InlineData("\"rank_pattern\": {}", "\"rank_pattern\": {\"a\": 2, \"a\": 3}", "adapter_config.json: rank_pattern")]
    [InlineData("\"alpha_pattern\": {}", "\"alpha_pattern\": {\"layers.0\": \"8\"}", "adapter_config.json: alpha_pattern.layers.0:")]
    [InlineData("\"alpha_pattern\": {}", "\"alpha_pattern\": {\"layers.0\": -8}", "adapter_config.json: alpha_pattern.layers.0:")]
    [InlineData("\"rank_pattern\": {}", "\"rank_pattern\": {\"layers.1\": 2}", "lora_A.weight'")] // the tensors have rank 4
    public void CorruptPatternsAreRejectedNamingFileAndKey(string find, string replace, string expected)
    {
        string dir = Path.Combine(Path.GetTempPath(), "lora-badpattern-" + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(dir);
            File.Copy(PeftFixture.PathOf("adapter/adapter_model.safetensors"), Path.Combine(dir, PeftAdapter.WeightsFileName));
            string text = File.ReadAllText(PeftFixture.PathOf("adapter/adapter_config.json"));
            Assert.Contains(find, text);
            File.WriteAllText(Path.Combine(dir, PeftAdapter.ConfigFileName), text.Replace(find, replace));
            var model = ModelFiles.Load<Mlp>(PeftFixture.Dir);
            var before = model.NamedParameters().Select(p => (p.Name, p.Parameter.ToArray())).ToList();
            var e = Assert.Throws<InvalidDataException>(() => LoraAdapterFiles.Load(model, dir));
            Assert.Contains(expected, e.Message);
            Assert.Empty(model.LoraLayers());
            Assert.Equal(before.Select(b => b.Name), model.NamedParameters().Select(p => p.Name));
        }
        finally { Directory.Delete(dir, true); }
    }
}
