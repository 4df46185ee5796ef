using System.Text;
using System.Text.Json;
using Lora.Core.IO;

namespace Lora.Tests.Core.IO;

/// <summary>PEFT's adapter layout: round trips, config fields, and every inconsistency refused before anything is returned.</summary>
public class PeftAdapterTests
{
    static PeftAdapter Fixture() => PeftAdapter.Load(PeftFixture.PathOf("adapter"));

    static IReadOnlyDictionary<string, (int Out, int In)> FixtureLinears() =>
        new Dictionary<string, (int, int)> { ["layers.0"] = (16, 8), ["layers.1"] = (12, 16), ["layers.2"] = (4, 12) };

    [Fact]
    public void LoadsThePeftFixture()
    {
        var adapter = Fixture();
        Assert.Equal(4, adapter.Config.R);
        Assert.Equal(8, adapter.Config.LoraAlpha);
        Assert.Equal(2.0, adapter.Config.Scaling);
        Assert.Equal(PeftBias.None, adapter.Config.Bias);
        Assert.Equal(["layers.0", "layers.1", "layers.2"], adapter.Modules.Select(m => m.ModulePath));
        Assert.Equal([4, 16], adapter.Modules[1].A.Shape);
        Assert.Equal([12, 4], adapter.Modules[1].B.Shape);
        Assert.Empty(adapter.Biases);
        adapter.CheckCompatible(FixtureLinears());
    }

    [Fact]
    public void SaveThenLoadIsBitwiseAndWritesPeftsFields()
    {
        var adapter = Fixture();
        using var dir = new TempDir();
        adapter.Save(dir.PathName);
        var back = PeftAdapter.Load(dir.PathName);
        Assert.Equal(adapter.Config, back.Config);
        Assert.NotEqual(adapter.Config, back.Config with { TargetModules = ["layers.0"] });
        foreach (var (a, b) in adapter.Modules.Zip(back.Modules))
        {
            Assert.Equal(a.A.Data.Bits(), b.A.Data.Bits());
            Assert.Equal(a.B.Data.Bits(), b.B.Data.Bits());
        }
        Assert.Equal(File.ReadAllBytes(PeftFixture.PathOf("adapter/adapter_model.safetensors")), File.ReadAllBytes(dir.File("adapter_model.safetensors")));
        using var json = JsonDocument.Parse(File.ReadAllBytes(dir.File("adapter_config.json")));
        var keys = json.RootElement.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(keys.Order(StringComparer.Ordinal), keys);
        Assert.Equal("LORA", json.RootElement.GetProperty("peft_type").GetString());
        Assert.Equal(4, json.RootElement.GetProperty("r").GetInt32());
        Assert.False(json.RootElement.GetProperty("fan_in_fan_out").GetBoolean());
    }

    [Fact]
    public void BiasesRoundTripAndRegexTargetsMatchWholePaths()
    {
        var fixture = Fixture();
        var config = fixture.Config with { TargetModulesRegex = "layers\\.[02]", TargetModules = [], Bias = PeftBias.All, UseRsLora = true };
        var modules = fixture.Modules.Where(m => m.ModulePath != "layers.1").ToList();
        var biases = new Dictionary<string, TensorData> { ["layers.0"] = TestExtensions.Tensor("b", [16], 1), ["layers.1"] = TestExtensions.Tensor("b", [12], 2) };
        var adapter = PeftAdapter.Create(config, modules, biases);
        using var dir = new TempDir();
        adapter.Save(dir.PathName);
        var back = PeftAdapter.Load(dir.PathName);
        Assert.Equal(biases["layers.1"].Data.Bits(), back.Biases["layers.1"].Data.Bits());
        Assert.Equal(8 / 2.0, back.Config.Scaling); // rsLoRA: alpha / sqrt(4)
        Assert.True(back.Config.Targets("layers.2"));
        Assert.False(back.Config.Targets("blocks.layers.2"));
        back.CheckCompatible(FixtureLinears());
    }

    static string FixtureConfigText() => File.ReadAllText(PeftFixture.PathOf("adapter/adapter_config.json"));

    static InvalidDataException LoadFails(string configJson, IEnumerable<TensorData> tensors)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("adapter_config.json"), configJson);
        SafeTensors.Write(dir.File("adapter_model.safetensors"), tensors);
        return Assert.Throws<InvalidDataException>(() => PeftAdapter.Load(dir.PathName));
    }

    static List<TensorData> FixtureTensors() => SafeTensors.Read(PeftFixture.PathOf("adapter/adapter_model.safetensors")).Tensors.ToList();

    public static TheoryData<string, string> TensorDefects => new()
    {
        { "drop B", "'base_model.model.layers.1.lora_B.weight'" },
        { "drop A", "'base_model.model.layers.2.lora_A.weight'" },
        { "no prefix", "'layers.0.lora_A.weight'" },
        { "unknown suffix", "'base_model.model.layers.0.lora_C.weight'" },
        { "untargeted module", "'base_model.model.head.lora_A.weight'" },
        { "rank 3", "'base_model.model.layers.0.lora_A.weight'" },
        { "A 1-D", "'base_model.model.layers.0.lora_A.weight'" },
        { "bias with none", "'base_model.model.layers.0.bias'" },
        { "drop layer", "'layers.1'" },
    };

    [Theory]
    [MemberData(nameof(TensorDefects))]
    public void RejectsTensorsThatDisagreeWithTheConfigOrEachOther(string defect, string key)
    {
        var tensors = FixtureTensors();
        const string P = "base_model.model.";
        void Replace(string name, TensorData t) => tensors[tensors.FindIndex(x => x.Name == name)] = t;
        switch (defect)
        {
            case "drop B": tensors.RemoveAll(t => t.Name == P + "layers.1.lora_B.weight"); break;
            case "drop A": tensors.RemoveAll(t => t.Name == P + "layers.2.lora_A.weight"); break;
            case "no prefix": tensors.Add(new TensorData("layers.0.lora_A.weight", [1], [0])); break;
            case "unknown suffix": tensors.Add(new TensorData(P + "layers.0.lora_C.weight", [1], [0])); break;
            case "untargeted module":
                tensors.Add(TestExtensions.Tensor(P + "head.lora_A.weight", [4, 4], 1));
                tensors.Add(TestExtensions.Tensor(P + "head.lora_B.weight", [4, 4], 2));
                break;
            case "rank 3":
                Replace(P + "layers.0.lora_A.weight", TestExtensions.Tensor(P + "layers.0.lora_A.weight", [3, 8], 3));
                Replace(P + "layers.0.lora_B.weight", TestExtensions.Tensor(P + "layers.0.lora_B.weight", [16, 3], 4));
                break;
            case "A 1-D": Replace(P + "layers.0.lora_A.weight", TestExtensions.Tensor(P + "layers.0.lora_A.weight", [32], 5)); break;
            case "bias with none": tensors.Add(TestExtensions.Tensor(P + "layers.0.bias", [16], 6)); break;
            case "drop layer": tensors.RemoveAll(t => t.Name.Contains("layers.1.")); break;
        }
        var e = LoadFails(FixtureConfigText(), tensors);
        Assert.Contains("adapter_model.safetensors: " + key, e.Message);
    }

    [Theory]
    [InlineData("\"r\": 4", "\"r\": 8", "lora_A.weight'")]                 // r disagrees with the tensors
    [InlineData("\"r\": 4", "\"r\": 0", "adapter_config.json: r:")]
    [InlineData("\"r\": 4", "\"r\": 4.5", "adapter_config.json: r:")]
    [InlineData("\"r\": 4", "\"r\": 4, \"r\": 4", "adapter_config.json: r:")] // duplicate key
    [InlineData("\"peft_type\": \"LORA\"", "\"peft_type\": \"IA3\"", "adapter_config.json: peft_type:")]
    [InlineData("\"fan_in_fan_out\": false", "\"fan_in_fan_out\": true", "adapter_config.json: fan_in_fan_out:")]
    [InlineData("\"use_dora\": false", "\"use_dora\": true", "lora_magnitude_vector': missing key: use_dora is true")]
    [InlineData("\"modules_to_save\": null", "\"modules_to_save\": [\"head\", \"\"]", "adapter_config.json: modules_to_save[1]:")]
    [InlineData("\"modules_to_save\": null", "\"modules_to_save\": \"head\"", "adapter_config.json: modules_to_save:")]
    [InlineData("\"modules_to_save\": null", "\"modules_to_save\": [3]", "adapter_config.json: modules_to_save[0]:")]
    [InlineData("\"modules_to_save\": null", "\"modules_to_save\": [\"layers.1\"]", "'base_model.model.layers.1.lora_A.weight'")] // LoRA and saved
    [InlineData("\"bias\": \"none\"", "\"bias\": \"some\"", "adapter_config.json: bias:")]
    [InlineData("\"lora_dropout\": 0.0", "\"lora_dropout\": 1.5", "adapter_config.json: lora_dropout:")]
    [InlineData("\"lora_alpha\": 8", "\"lora_alpha\": \"8\"", "adapter_config.json: lora_alpha:")]
    [InlineData("\"init_lora_weights\": true", "\"init_lora_weights\": \"magic\"", "adapter_config.json: init_lora_weights:")]
    [InlineData("\"init_lora_weights\": true", "\"init_lora_weights\": \"olora\"", "adapter_config.json: init_lora_weights: olora is not supported")]
    [InlineData("\"use_rslora\": false", "\"use_rslora\": 0", "adapter_config.json: use_rslora:")]
    [InlineData("\"layers.0\",", "\"layers.0\", \"layers.9\",", "'layers.9'")]    // a target with no tensors
    [InlineData("\"target_modules\": [", "\"target_modules\": 7, \"x\": [", "adapter_config.json: target_modules:")]
    [InlineData("\"target_modules\": [", "\"target_modules\": \"layers.(\", \"x\": [", "adapter_config.json: target_modules:")]
    [InlineData("{", "[", "adapter_config.json: JSON:")]
    public void RejectsConfigsThatAreInvalidOrDisagreeWithTheTensors(string find, string replace, string expected)
    {
        string text = FixtureConfigText();
        Assert.Contains(find, text);
        var e = LoadFails(text.Replace(find, replace), FixtureTensors());
        Assert.Contains(expected, e.Message);
    }

    /// <summary>EVA and orthogonal initialisation only choose where the factors start; their trained adapters are plain
    /// LoRA adapters on an unchanged base, and load as such (same factors, same scale).</summary>
    [Theory]
    [InlineData("eva")]
    [InlineData("orthogonal")]
    public void AdaptersInitialisedWithoutTouchingTheBaseLoad(string init)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("adapter_config.json"), FixtureConfigText().Replace("\"init_lora_weights\": true", $"\"init_lora_weights\": \"{init}\""));
        SafeTensors.Write(dir.File("adapter_model.safetensors"), FixtureTensors());
        var loaded = PeftAdapter.Load(dir.PathName);
        Assert.Equal(init, loaded.Config.InitLoraWeights);
        var fixture = Fixture();
        Assert.Equal(fixture.Config.Scaling, loaded.Config.Scaling);
        Assert.Equal(fixture.Modules.Select(m => m.A.Data), loaded.Modules.Select(m => m.A.Data));
    }

    [Fact]
    public void CheckCompatibleRefusesAdaptersThatDoNotFitTheModel()
    {
        var adapter = Fixture();
        var linears = new Dictionary<string, (int Out, int In)>(FixtureLinears());
        var wider = new Dictionary<string, (int Out, int In)>(linears) { ["layers.1"] = (12, 17) };
        var e = Assert.Throws<InvalidDataException>(() => adapter.CheckCompatible(wider));
        Assert.Contains("'base_model.model.layers.1.lora_A.weight'", e.Message);
        var fewer = new Dictionary<string, (int Out, int In)>(linears);
        fewer.Remove("layers.2");
        Assert.Contains("layers.2", Assert.Throws<InvalidDataException>(() => adapter.CheckCompatible(fewer)).Message);
        var more = new Dictionary<string, (int Out, int In)>(linears) { ["block.layers.0"] = (3, 3) };
        Assert.Contains("missing key", Assert.Throws<InvalidDataException>(() => adapter.CheckCompatible(more)).Message);
    }

    [Fact]
    public void CreateValidatesLikeLoad()
    {
        var fixture = Fixture();
        Assert.Throws<ArgumentException>(() => PeftAdapter.Create(fixture.Config with { R = 8 }, fixture.Modules));
        Assert.Throws<ArgumentException>(() => PeftAdapter.Create(fixture.Config with { LoraAlpha = double.NaN }, fixture.Modules));
        Assert.Throws<ArgumentException>(() => new PeftLoraWeights("x", new TensorData("a", [2, 3], new float[6]), new TensorData("b", [4, 3], new float[12])));
        Assert.Throws<ArgumentException>(() => PeftAdapter.Create(fixture.Config, fixture.Modules.Take(2)));
    }

    [Fact]
    public void ConfigJsonRoundTrips()
    {
        var config = new PeftAdapterConfig
        {
            R = 8, LoraAlpha = 16, LoraDropout = 0.05, TargetModules = ["layers.1", "layers.0"], UseRsLora = true,
            Bias = PeftBias.LoraOnly, InitLoraWeights = "pissa_niter_4", TaskType = "SEQ_CLS", BaseModelNameOrPath = "runs/x/base",
            ModulesToSave = ["score", "classifier"],
        };
        var back = PeftAdapterConfig.FromJson(Encoding.UTF8.GetBytes(config.ToJson()), "adapter_config.json");
        Assert.Equal(config.ToJson(), back.ToJson());
        Assert.Equal(["layers.0", "layers.1"], back.TargetModules);
        Assert.Equal("pissa_niter_4", back.InitLoraWeights);
        Assert.Equal(["score", "classifier"], back.ModulesToSave); // PEFT keeps the list's order
        Assert.Contains("\"modules_to_save\": null", (config with { ModulesToSave = [] }).ToJson());
        Assert.Equal(16 / Math.Sqrt(8), back.Scaling);
    }
}
