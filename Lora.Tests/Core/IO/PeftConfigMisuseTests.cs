using System.Text.Json.Nodes;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;

namespace Lora.Tests.Core.IO;

/// <summary>adapter_config.json fields of newer PEFT versions: <c>exclude_modules</c> is honoured as PEFT does, and
/// the fields of features Lora cannot apply are refused instead of being ignored.</summary>
public class PeftConfigMisuseTests
{
    static Mlp Model() => new([4, 6, 5, 3], ActivationKind.Relu, seed: 3);

    /// <summary>An adapter on layers.0 and layers.2 (not layers.1) saved with <paramref name="edit"/> applied to its config.</summary>
    static void SaveAdapter(string dir, Action<JsonObject> edit)
    {
        var model = Model();
        model.ApplyLora(new LoraConfig { R = 2, Alpha = 4, TargetModules = ["layers.0", "layers.2"] }, seed: 5);
        LoraAdapterFiles.Save(model, dir);
        string path = Path.Combine(dir, PeftAdapter.ConfigFileName);
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
    }

    [Theory]
    [InlineData("[\"layers.1\"]")]
    [InlineData("[\"1\"]")]          // a dot-aligned suffix, as in PEFT's list form
    [InlineData("\"layers\\\\.1\"")] // a regular expression matched against the whole path
    public void ExcludedModulesNeedNoFactors(string exclude)
    {
        using var dir = new TempDir();
        // Every layer by regex, minus layers.1: before, Lora ignored exclude_modules and refused the adapter
        // ("missing key: target_modules selects the model's layer 'layers.1'"), which PEFT itself wrote.
        SaveAdapter(dir.PathName, c => { c["target_modules"] = "layers\\.\\d"; c["exclude_modules"] = JsonNode.Parse(exclude); });
        var model = Model();
        LoraAdapterFiles.Load(model, dir.PathName);
        Assert.Equal(["layers.0", "layers.2"], model.LoraLayers().Select(l => l.Path).Order());
        var config = PeftAdapter.Load(dir.PathName).Config;
        Assert.False(config.Targets("layers.1"));
        Assert.True(config.Targets("layers.2"));
    }

    [Theory]
    [InlineData("[\"layers.0\"]")]
    [InlineData("\"layers\\\\.[02]\"")]
    public void FactorsOfAnExcludedModuleAreUnexpectedAndTheModelIsUnchanged(string exclude)
    {
        using var dir = new TempDir();
        // PEFT never wraps an excluded module; Lora applied the factors anyway.
        SaveAdapter(dir.PathName, c => c["exclude_modules"] = JsonNode.Parse(exclude));
        var model = Model();
        var before = model.Parameters().SelectMany(p => p.ToArray()).ToArray();
        var e = Assert.Throws<InvalidDataException>(() => LoraAdapterFiles.Load(model, dir.PathName));
        Assert.Contains("unexpected key", e.Message);
        Assert.Contains("exclude_modules excludes it", e.Message);
        Assert.Empty(model.LoraLayers());
        Assert.Equal(before, model.Parameters().SelectMany(p => p.ToArray()).ToArray());
    }

    [Fact]
    public void ExclusionsRoundTripAndAreOnlyWrittenWhenSet()
    {
        var plain = new PeftAdapterConfig { R = 2, LoraAlpha = 4, TargetModules = ["fc"] };
        Assert.DoesNotContain("exclude_modules", plain.ToJson());
        foreach (var config in new[] { plain with { ExcludeModules = ["head", "b.fc"] }, plain with { ExcludeModulesRegex = ".*\\.fc" } })
        {
            var back = PeftAdapterConfig.FromJson(System.Text.Encoding.UTF8.GetBytes(config.ToJson()), "a.json");
            Assert.Equal(config, back);
            Assert.NotEqual(plain, back);
        }
        Assert.Throws<ArgumentException>(() => (plain with { ExcludeModulesRegex = "(" }).ToJson());
        Assert.Throws<ArgumentException>(() => (plain with { ExcludeModules = [""] }).ToJson());
    }

    [Theory]
    [InlineData("target_parameters", "[\"layers.0.weight\"]")]
    [InlineData("trainable_token_indices", "[1, 2]")]
    [InlineData("layer_replication", "[[0, 2], [1, 3]]")]
    [InlineData("alora_invocation_tokens", "[7, 8]")]
    [InlineData("use_qalora", "true")]
    [InlineData("arrow_config", "{\"top_k\": 2}")]
    [InlineData("use_bdlora", "{\"nblocks\": 2}")]
    public void FieldsOfFeaturesLoraCannotApplyAreRefused(string key, string value)
    {
        using var dir = new TempDir();
        SaveAdapter(dir.PathName, c => c[key] = JsonNode.Parse(value));
        var e = Assert.Throws<InvalidDataException>(() => PeftAdapter.Load(dir.PathName));
        Assert.StartsWith($"{Path.Combine(dir.PathName, PeftAdapter.ConfigFileName)}: {key}: ", e.Message);
        Assert.Contains("not supported", e.Message);
    }

    [Theory]
    [InlineData("target_parameters", "null")]
    [InlineData("target_parameters", "[]")]
    [InlineData("trainable_token_indices", "null")]
    [InlineData("use_qalora", "false")]
    [InlineData("arrow_config", "null")]
    [InlineData("runtime_config", "{\"ephemeral_gpu_offload\": false}")]
    public void TheDefaultsPeftWritesForThoseFieldsLoad(string key, string value)
    {
        using var dir = new TempDir();
        SaveAdapter(dir.PathName, c => c[key] = JsonNode.Parse(value));
        var model = Model();
        LoraAdapterFiles.Load(model, dir.PathName);
        Assert.Equal(2, model.LoraLayers().Count());
    }
}
