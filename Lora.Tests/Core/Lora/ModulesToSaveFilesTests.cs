using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Tests.Core.IO;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Lora;

/// <summary>modules_to_save through PEFT files: PyTorch's fixture, round trips, and every refused load.</summary>
public class ModulesToSaveFilesTests
{
    const string P = "base_model.model.";

    static Mlp Adapted(LoraBias bias)
    {
        var m = new Mlp([8, 16, 12, 4], ActivationKind.Relu, 0, seed: 5);
        m.ApplyLora(new LoraConfig { R = 2, Alpha = 3, TargetModules = ["layers.0", "layers.1"], ModulesToSave = ["layers.2"], Bias = bias });
        ulong s = 40;
        foreach (var (_, l) in m.LoraLayers()) Random(l.Adapters[0].B.Length, s++, 0.3).CopyTo(l.Adapters[0].B.Data);
        foreach (var (name, p) in m.TrainableParameters().Where(p => !LoraModel.IsLoraParameter(p.Name)).ToList())
            Random(p.Length, s++, 0.4).CopyTo(p.Data);  // the head copy (and the trained biases) as after training
        return m;
    }

    [Theory]
    [InlineData(LoraBias.None)]
    [InlineData(LoraBias.All)]
    public void SaveThenLoadIsBitwiseWithExactlyTheExpectedKeys(LoraBias bias)
    {
        using var dir = new TempDir();
        var m = Adapted(bias);
        ModelFiles.Save(m, dir.File("base"));
        LoraAdapterFiles.Save(m, dir.File("adapter"));

        string[] expected = [P + "layers.0.lora_A.weight", P + "layers.0.lora_B.weight", P + "layers.1.lora_A.weight", P + "layers.1.lora_B.weight",
            P + "layers.2.bias", P + "layers.2.weight", .. bias == LoraBias.All ? new[] { P + "layers.0.bias", P + "layers.1.bias" } : []];
        var header = SafeTensors.ReadHeader(Path.Combine(dir.File("adapter"), PeftAdapter.WeightsFileName));
        Assert.Equal(expected.Order(StringComparer.Ordinal), header.Entries.Select(e => e.Name).Order(StringComparer.Ordinal));
        Assert.Equal([4, 12], header.Entries.First(e => e.Name == P + "layers.2.weight").Shape);
        var config = PeftAdapter.Load(dir.File("adapter")).Config;
        Assert.Equal(["layers.2"], config.ModulesToSave);
        Assert.Equal(["layers.0", "layers.1"], config.TargetModules);

        var loaded = ModelFiles.Load(dir.File("base"));
        LoraAdapterFiles.Load(loaded, dir.File("adapter"), trainable: true);
        AssertSameModel(m, loaded, inFeatures: 8);
        // saving what was loaded gives the same bytes
        LoraAdapterFiles.Save(loaded, dir.File("again"));
        foreach (var f in new[] { PeftAdapter.WeightsFileName, PeftAdapter.ConfigFileName })
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir.File("adapter"), f)), File.ReadAllBytes(Path.Combine(dir.File("again"), f)));
    }

    [Fact]
    public void LoadsPyTorchsFixtureAndReproducesItsOutputs()
    {
        var model = ModelFiles.Load<Mlp>(PeftFixture.Dir);
        var plain = ModelFiles.Load<Mlp>(PeftFixture.Dir);
        LoraAdapterFiles.Load(model, PeftFixture.PathOf("adapter_save"));
        var head = Assert.IsType<ModulesToSaveLayer>(model.Layers[2]);
        Assert.Equal("default", head.ActiveAdapter);
        Assert.Equal(["layers.0", "layers.1"], model.LoraLayers().Select(l => l.Path));
        Assert.All(model.Parameters(), p => Assert.True(p.Frozen));   // loaded for inference
        var files = PeftFixture.ExpectedTensors("adapter_save/adapter_model.safetensors");
        var copy = (Linear)head.GetCopy("default");
        Assert.Equal(files[P + "layers.2.weight"].Bits, copy.Weight.ToArray().Bits());
        Assert.Equal(files[P + "layers.2.bias"].Bits, copy.Bias!.ToArray().Bits());
        Assert.Equal(((Linear)plain.Layers[2]).Weight.ToArray(), ((Linear)head.Original).Weight.ToArray());

        var x = SafeTensors.Read(PeftFixture.PathOf("io.safetensors")).Tensors.First(t => t.Name == "x");
        int n = x.Shape[0];
        var y = Run(model.Eval(), x.Data, n);
        var torch = PeftFixture.ExpectedRows("y_lora_save_f64");
        AssertMatchesTorch(Enumerable.Range(0, model.Layers.Count).Select(i => Layer(model.Layers[i], withLora: true)).ToList(), x.Data, n, y, torch);
        model.DisableAdapters();
        Assert.Equal(Run(plain.Eval(), x.Data, n), Run(model, x.Data, n));

        // Lora writes PyTorch's weights file back byte for byte (same tensors, the reference layout)
        using var dir = new TempDir();
        model.EnableAdapters();
        LoraAdapterFiles.Save(model, dir.File("out"));
        Assert.Equal(File.ReadAllBytes(PeftFixture.PathOf("adapter_save/adapter_model.safetensors")),
            File.ReadAllBytes(Path.Combine(dir.File("out"), PeftAdapter.WeightsFileName)));
    }

    static List<TensorData> FixtureTensors() => SafeTensors.Read(PeftFixture.PathOf("adapter_save/adapter_model.safetensors")).Tensors.ToList();

    static string FixtureConfig() => File.ReadAllText(PeftFixture.PathOf("adapter_save/adapter_config.json"));

    public static TheoryData<string, string> Defects => new()
    {
        { "drop bias", "'base_model.model.layers.2.bias': missing key" },
        { "drop head", "'base_model.model.layers.2.bias': missing key" },
        { "extra parameter", "'base_model.model.layers.2.scale': unexpected key" },
        { "head shape", "'base_model.model.layers.2.weight': has shape (4, 11)" },
        { "unknown module", "'base_model.model.head.weight': unexpected key" },
        { "saved container", "'base_model.model.layers.0.lora_A.weight': 'layers' is selected by modules_to_save" },
        { "target regex", "target_modules: selects the model's layer 'layers.2'" },
        { "lora there already", "modules_to_save: 'layers.2' is selected by modules_to_save but holds LoRA adapters" },
    };

    [Theory]
    [MemberData(nameof(Defects))]
    public void RefusedLoadsNameTheFileAndKeyAndLeaveTheModelUnchanged(string defect, string expected)
    {
        var tensors = FixtureTensors();
        string config = FixtureConfig();
        const string Saved = "\"modules_to_save\": [\n    \"layers.2\"\n  ]";
        Assert.Contains(Saved, config);
        var model = ModelFiles.Load<Mlp>(PeftFixture.Dir);
        switch (defect)
        {
            case "drop bias": tensors.RemoveAll(t => t.Name == P + "layers.2.bias"); break;
            case "drop head": tensors.RemoveAll(t => t.Name.StartsWith(P + "layers.2.", StringComparison.Ordinal)); break;
            case "extra parameter": tensors.Add(new TensorData(P + "layers.2.scale", [4], new float[4])); break;
            case "head shape":
                tensors[tensors.FindIndex(t => t.Name == P + "layers.2.weight")] = new TensorData(P + "layers.2.weight", [4, 11], new float[44]);
                break;
            case "unknown module":
                config = config.Replace(Saved, "\"modules_to_save\": [\"layers.2\", \"head\"]");
                tensors.Add(new TensorData(P + "head.weight", [4, 4], new float[16]));
                break;
            case "saved container": config = config.Replace(Saved, "\"modules_to_save\": [\"layers.2\", \"layers\"]"); break;
            case "target regex": config = config.Replace("\"target_modules\": [\n    \"layers.0\",\n    \"layers.1\"\n  ]", "\"target_modules\": \"layers\\\\.[0-2]\""); break;
            case "lora there already": LoraAdapterFiles.Load(model, PeftFixture.PathOf("adapter"), "a"); break;
        }
        using var dir = new TempDir();
        File.WriteAllText(dir.File(PeftAdapter.ConfigFileName), config);
        SafeTensors.Write(dir.File(PeftAdapter.WeightsFileName), tensors);
        var before = Snapshot(model);
        var structure = model.NamedModules().Select(n => (n.Path, n.Module)).ToList();
        var e = Assert.Throws<InvalidDataException>(() => LoraAdapterFiles.Load(model, dir.PathName, "b"));
        Assert.Contains(PeftAdapter.WeightsFileName + ": " + expected, e.Message);
        Assert.Equal(structure, model.NamedModules().Select(n => (n.Path, n.Module)).ToList());
        Assert.Equal(before.Keys, Snapshot(model).Keys);
        foreach (var (name, p) in model.NamedParameters()) Assert.Equal(before[name], p.ToArray());
    }

    [Fact]
    public void ASecondAdapterAddsASecondCopy()
    {
        using var dir = new TempDir();
        var m = Adapted(LoraBias.None);
        LoraAdapterFiles.Save(m, dir.File("a"));
        LoraAdapterFiles.Load(m, dir.File("a"), "b");
        var head = (ModulesToSaveLayer)m.GetSubmodule("layers.2");
        Assert.Equal(["default", "b"], head.AdapterNames);
        Assert.Equal("b", head.ActiveAdapter);
        Assert.Equal(head.GetCopy("default").Parameters().Select(p => p.ToArray()), head.GetCopy("b").Parameters().Select(p => p.ToArray()));
        Assert.NotSame(head.GetCopy("default"), head.GetCopy("b"));
        Assert.Throws<InvalidDataException>(() => LoraAdapterFiles.Load(m, dir.File("a"), "b"));  // that name exists
    }
}
