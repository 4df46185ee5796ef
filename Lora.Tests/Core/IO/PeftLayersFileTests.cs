using System.Text.Json.Nodes;
using Lora.Core.IO;

namespace Lora.Tests.Core.IO;

/// <summary>PEFT's <c>layers_to_transform</c> / <c>layers_pattern</c> in adapter files, checked against the fixture
/// tools/make_peft_fixture.py writes (its <c>peft_layer_index</c> is an independent Python implementation of PEFT's rule).</summary>
public class PeftLayersFileTests
{
    const string Dir = "adapter_layers";
    const string P = PeftAdapter.KeyPrefix;

    static PeftAdapterConfig WithPatterns(IReadOnlyList<string> patterns) =>
        new() { R = 1, LoraAlpha = 1, TargetModules = ["fc"], LayersToTransform = [0], LayersPattern = patterns };

    [Fact]
    public void LayerIndexAgreesWithPythonOnEveryCase()
    {
        int cases = 0;
        foreach (var c in PeftFixture.Expected.GetProperty("layer_index_cases").EnumerateArray())
        {
            string path = c.GetProperty("path").GetString()!;
            var patterns = c.GetProperty("patterns").EnumerateArray().Select(e => e.GetString()!).ToList();
            var index = c.GetProperty("index");
            int? expected = index.ValueKind == System.Text.Json.JsonValueKind.Null ? null : index.GetInt32();
            Assert.True(expected == WithPatterns(patterns).LayerIndexOf(path), $"'{path}' with [{string.Join(", ", patterns)}]: Python says {expected?.ToString() ?? "none"}");
            cases++;
        }
        Assert.True(cases >= 60, $"only {cases} cases");
    }

    [Fact]
    public void LoadsTheFixtureWithOnlyTheListedLayers()
    {
        var adapter = PeftAdapter.Load(PeftFixture.PathOf(Dir));
        Assert.Equal([0, 2], adapter.Config.LayersToTransform);
        Assert.Equal(["blocks", "layers"], adapter.Config.LayersPattern);
        var targets = PeftFixture.Expected.GetProperty("targets_layers").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Equal(targets, adapter.Modules.Select(m => m.ModulePath));
        // The config itself selects exactly Python's targets among the tower's Linear paths.
        string[] linears = ["model.layers.0.0", "model.layers.1.0", "model.layers.2.0", "model.head"];
        Assert.Equal(targets, linears.Where(adapter.Config.Targets));
        var expected = PeftFixture.ExpectedTensors(Dir + "/adapter_model.safetensors");
        foreach (var m in adapter.Modules)
        {
            Assert.Equal(expected[m.KeyA].Bits, m.A.Data.Bits());
            Assert.Equal(expected[m.KeyB].Bits, m.B.Data.Bits());
        }
    }

    [Fact]
    public void SavesBackTheSameTensorsAndFields()
    {
        var adapter = PeftAdapter.Load(PeftFixture.PathOf(Dir));
        using var dir = new TempDir();
        adapter.Save(dir.File("out"));
        Assert.Equal(File.ReadAllBytes(PeftFixture.PathOf(Dir + "/adapter_model.safetensors")),
            File.ReadAllBytes(Path.Combine(dir.File("out"), PeftAdapter.WeightsFileName)));
        var again = PeftAdapter.Load(dir.File("out"));
        Assert.Equal(adapter.Config, again.Config);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.File("out"), PeftAdapter.ConfigFileName)))!;
        Assert.Equal("[0,2]", json["layers_to_transform"]!.ToJsonString());
        Assert.Equal("[\"blocks\",\"layers\"]", json["layers_pattern"]!.ToJsonString());
    }

    [Fact]
    public void KeepsPeftsScalarFormsAndReadsEmptyFormsAsUnset()
    {
        var scalar = Edit(c => { c["layers_to_transform"] = 2; c["layers_pattern"] = "layers"; });
        var config = PeftAdapterConfig.FromJson(scalar, "a.json");
        Assert.Equal([2], config.LayersToTransform);
        Assert.Equal(["layers"], config.LayersPattern);
        var written = JsonNode.Parse(config.ToJson())!;
        Assert.Equal("2", written["layers_to_transform"]!.ToJsonString());
        Assert.Equal("\"layers\"", written["layers_pattern"]!.ToJsonString());
        Assert.True(config.Targets("model.layers.2.0") && !config.Targets("model.layers.0.0"));

        var empty = PeftAdapterConfig.FromJson(Edit(c => { c["layers_to_transform"] = new JsonArray(); c["layers_pattern"] = ""; }), "a.json");
        Assert.Empty(empty.LayersToTransform);
        Assert.Empty(empty.LayersPattern);
        Assert.True(empty.Targets("model.layers.1.0") && empty.Targets("model.head"));
        var json = JsonNode.Parse(empty.ToJson())!;
        Assert.Null(json["layers_to_transform"]);
        Assert.Null(json["layers_pattern"]);
    }

    public static TheoryData<string, string, string> BadFields => new()
    {
        { "layers_to_transform", "-1", "layers_to_transform: -1" },
        { "layers_to_transform", "[0, -2]", "layers_to_transform[1]: -2" },
        { "layers_to_transform", "[0, 2.5]", "layers_to_transform[1]: must be an integer" },
        { "layers_to_transform", "\"0\"", "layers_to_transform: must be a layer index" },
        { "layers_to_transform", "[0, 3000000000]", "layers_to_transform[1]: 3000000000" },
        { "layers_pattern", "3", "layers_pattern: must be a name" },
        { "layers_pattern", "[\"layers\", \"\"]", "layers_pattern[1]: '' is empty" },
        { "layers_pattern", "[\"(\"]", "layers_pattern[0]: '(' is not a valid regular expression" },
        { "layers_pattern", "[\"layers\", 1]", "layers_pattern[1]: must be a string" },
    };

    [Theory]
    [MemberData(nameof(BadFields))]
    public void RejectsBadValuesNamingTheFileAndKey(string key, string value, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() => PeftAdapterConfig.FromJson(Edit(c => c[key] = JsonNode.Parse(value)), "dir/adapter_config.json"));
        Assert.StartsWith("dir/adapter_config.json: " + message, e.Message);
    }

    [Fact]
    public void RejectsTheCombinationsPeftRefuses()
    {
        // A pattern without layers; layers or a pattern with a regular-expression target_modules; PEFT's `not 0` quirk.
        (Action<JsonNode> Edit, string Message)[] cases =
        [
            (c => c["layers_to_transform"] = null, "layers_pattern: [blocks, layers] is set without layers_to_transform"),
            (c => { c["layers_pattern"] = null; c["target_modules"] = "model\\..*"; }, "layers_to_transform: cannot be used when target_modules is a regular expression"),
            (c => { c["layers_to_transform"] = null; c["target_modules"] = "model\\..*"; }, "layers_pattern: cannot be used when target_modules is a regular expression"),
            (c => c["layers_to_transform"] = 0, "layers_to_transform: 0 as a plain integer with a layers_pattern"),
        ];
        foreach (var (edit, message) in cases)
        {
            var e = Assert.Throws<InvalidDataException>(() => PeftAdapterConfig.FromJson(Edit(edit), "c.json"));
            Assert.StartsWith("c.json: " + message, e.Message);
        }
        Assert.Equal([0], PeftAdapterConfig.FromJson(Edit(c => { c["layers_to_transform"] = 0; c["layers_pattern"] = null; }), "c.json").LayersToTransform);
    }

    [Fact]
    public void RejectsTensorsOutsideTheListedLayersAndAcceptsEntriesThatSelectNone()
    {
        var tensors = SafeTensors.Read(PeftFixture.PathOf(Dir + "/adapter_model.safetensors")).Tensors.ToList();
        var config = PeftAdapter.Load(PeftFixture.PathOf(Dir)).Config;
        var layer1 = tensors.Where(t => t.Name.Contains("layers.0.0")).Select(t => t.Clone(t.Name.Replace("layers.0.0", "layers.1.0")));
        var e = Assert.Throws<InvalidDataException>(() => PeftAdapter.FromTensors(config, tensors.Concat(layer1), "w.safetensors"));
        Assert.Equal($"w.safetensors: '{P}model.layers.1.0.lora_A.weight': unexpected key: 'model.layers.1.0' is not selected by target_modules with " +
            "layers_to_transform [0, 2] with layers_pattern ['blocks', 'layers'] (its layer index is 1)", e.Message);
        // model.head: "head" selects it, but it has no layer index (its A is (3, 12), like layers.2.0's).
        var head = tensors.Where(t => t.Name.Contains("layers.2.0")).Select(t => t.Clone(t.Name.Replace("model.layers.2.0", "model.head")));
        e = Assert.Throws<InvalidDataException>(() => PeftAdapter.FromTensors(config, tensors.Concat(head), "w.safetensors"));
        Assert.Contains("'model.head' is not selected by target_modules with layers_to_transform [0, 2] with layers_pattern ['blocks', 'layers'] (its path has no layer index)", e.Message);
        // The fixture's "head" entry selects no tensor; with layers_to_transform that is fine (PEFT accepts it), but
        // without it the entry must match something.
        Assert.Equal(2, PeftAdapter.FromTensors(config, tensors, "w").Modules.Count);
        var plain = config with { LayersToTransform = [], LayersPattern = [] };
        e = Assert.Throws<InvalidDataException>(() => PeftAdapter.FromTensors(plain, tensors, "w"));
        Assert.Contains("'head': missing keys", e.Message);
    }

    static byte[] Edit(Action<JsonNode> change)
    {
        var json = JsonNode.Parse(File.ReadAllText(PeftFixture.PathOf(Dir + "/adapter_config.json")))!;
        change(json);
        return System.Text.Encoding.UTF8.GetBytes(json.ToJsonString());
    }
}
