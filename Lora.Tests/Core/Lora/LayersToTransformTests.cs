using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Tests.Core.IO;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Lora;

/// <summary><c>LoraConfig.LayersToTransform</c> / <c>LayersPattern</c> and PEFT adapters using them, on the fixture's
/// tower (tools/make_peft_fixture.py): blocks <c>model.layers.{i}</c> = Sequential(Linear, ReLU), then <c>model.head</c>.</summary>
public class LayersToTransformTests
{
    /// <summary>PyTorch's <c>Tower</c>: the same module names, so PEFT's paths and parameter names apply unchanged.</summary>
    sealed class Tower : Module
    {
        readonly Body _body;

        public Tower(params int[] sizes)
        {
            var blocks = new Module[sizes.Length - 2];
            for (int i = 0; i < blocks.Length; i++) blocks[i] = new Sequential(new Linear(sizes[i], sizes[i + 1]), new Activation(ActivationKind.Relu));
            _body = RegisterModule("model", new Body(new ModuleList(blocks), new Linear(sizes[^2], sizes[^1])));
        }

        public override Tensor Forward(Tensor x)
        {
            for (int i = 0; i < _body.Layers.Count; i++) x = _body.Layers[i].Forward(x);
            return _body.Head.Forward(x);
        }

        sealed class Body : Module
        {
            public Body(ModuleList layers, Module head) { Layers = RegisterModule("layers", layers); Head = RegisterModule("head", head); }
            public ModuleList Layers { get; }
            public Module Head { get; private set; }
            public override Tensor Forward(Tensor x) => throw new InvalidOperationException("the tower applies its body");
            protected override void OnChildReplaced(string name, Module module) { if (name == "head") Head = module; }
        }
    }

    static Tower FixtureTower()
    {
        var tower = new Tower(8, 16, 12, 12, 4);
        var file = SafeTensors.Read(PeftFixture.PathOf("tower.safetensors")).Tensors.ToDictionary(t => t.Name);
        Assert.Equal(file.Keys.Order(), tower.NamedParameters().Select(p => p.Name).Order());
        foreach (var (name, p) in tower.NamedParameters()) file[name].Data.CopyTo(p.Data);
        return tower;
    }

    static List<string> PythonTargets() =>
        PeftFixture.Expected.GetProperty("targets_layers").EnumerateArray().Select(e => e.GetString()!).ToList();

    static readonly LoraConfig FixtureConfig = new() { R = 3, Alpha = 6, TargetModules = ["0", "head"], LayersToTransform = [0, 2], LayersPattern = ["blocks", "layers"] };

    [Fact]
    public void LoadsPyTorchsAdapterAndReproducesItsOutputs()
    {
        var tower = FixtureTower();
        LoraAdapterFiles.Load(tower, PeftFixture.PathOf("adapter_layers"));
        Assert.Equal(PythonTargets(), tower.LoraLayers().Select(l => l.Path));
        var x = SafeTensors.Read(PeftFixture.PathOf("io.safetensors")).Tensors.First(t => t.Name == "x");
        int n = x.Shape[0];
        AssertClose(tower, Run(tower.Eval(), x.Data, n), x.Data, n, PeftFixture.ExpectedRows("y_lora_layers_f64"), withLora: true);
        tower.DisableAdapters();
        AssertClose(tower, Run(tower, x.Data, n), x.Data, n, PeftFixture.ExpectedRows("y_tower_base_f64"), withLora: false);

        // Lora writes PyTorch's weights file back byte for byte; its config names the exact paths, which PEFT selects
        // whatever the layers, so the same layers come back and the outputs are bitwise equal.
        tower.EnableAdapters();
        using var dir = new TempDir();
        LoraAdapterFiles.Save(tower, dir.File("out"));
        Assert.Equal(File.ReadAllBytes(PeftFixture.PathOf("adapter_layers/adapter_model.safetensors")),
            File.ReadAllBytes(Path.Combine(dir.File("out"), PeftAdapter.WeightsFileName)));
        var again = FixtureTower();
        LoraAdapterFiles.Load(again, dir.File("out"));
        Assert.Equal(Run(tower, x.Data, n).Bits(), Run(again.Eval(), x.Data, n).Bits());
    }

    [Fact]
    public void ApplyLoraSelectsWhatPythonsRuleSelects()
    {
        var tower = new Tower(8, 16, 12, 12, 4);
        var report = tower.ApplyLora(FixtureConfig, seed: 3);
        Assert.Equal(PythonTargets(), report.WrappedModules);
        // An entry equal to the whole path selects it whatever the layers (PEFT's exact-match branch).
        var exact = new Tower(8, 16, 12, 12, 4).ApplyLora(FixtureConfig with { TargetModules = ["layers.*.0", "model.head"] });
        Assert.Equal(["model.layers.0.0", "model.layers.2.0", "model.head"], exact.WrappedModules);
        // Without a pattern any segment name counts; a single index; and paths without an index are never selected.
        var one = new Tower(8, 16, 12, 12, 4).ApplyLora(new LoraConfig { R = 2, TargetModules = ["0"], LayersToTransform = [1] });
        Assert.Equal(["model.layers.1.0"], one.WrappedModules);
        // The modules_to_save conflict check shares the selection: "0" would also select model.layers.1.0, but the
        // restriction leaves it out, so it can be trained in full instead.
        var both = new Tower(8, 16, 12, 12, 4).ApplyLora(FixtureConfig with { ModulesToSave = ["layers.1.0"] });
        Assert.Equal(PythonTargets(), both.WrappedModules);
        Assert.Equal(["model.layers.1.0"], both.ModulesToSave);
        var conflict = Assert.Throws<ArgumentException>(() => new Tower(8, 16, 12, 12, 4).ApplyLora(FixtureConfig with { ModulesToSave = ["layers.2.0"] }));
        Assert.Contains("'model.layers.2.0' is selected by both target_modules and modules_to_save", conflict.Message);
        var mlp = new Mlp([8, 16, 4]);
        var e = Assert.Throws<ArgumentException>(() => mlp.ApplyLora(new LoraConfig { R = 2, TargetModules = ["0", "1"], LayersToTransform = [0] }));
        Assert.Contains("restricted to layers_to_transform [0]", e.Message);
        Assert.Contains("[layers.0, layers.1]", e.Message);
    }

    [Fact]
    public void ValidatesTheSettingsAndLeavesTheModelUnchanged()
    {
        Assert.Contains("holds -1", Assert.Throws<ArgumentException>(() => new LoraConfig { LayersToTransform = [0, -1] }).Message);
        Assert.Contains("use null", Assert.Throws<ArgumentException>(() => new LoraConfig { LayersToTransform = [] }).Message);
        Assert.Contains("entry '' is empty", Assert.Throws<ArgumentException>(() => new LoraConfig { LayersPattern = [""] }).Message);
        Assert.Contains("entry 'lay[ers' is not a valid regular expression", Assert.Throws<ArgumentException>(() => new LoraConfig { LayersPattern = ["lay[ers"] }).Message);
        (LoraConfig Config, string Message)[] cases =
        [
            (new LoraConfig { TargetModules = ["0"], LayersPattern = ["layers"] }, "LayersPattern [layers] is set but LayersToTransform is null"),
            (new LoraConfig { LayersToTransform = [0] }, "entry 'all-linear' cannot be combined with LayersToTransform [0]"),
            (new LoraConfig { TargetModules = ["re:model\\..*"], LayersToTransform = [1, 2] }, "entry 're:model\\..*' cannot be combined with LayersToTransform [1, 2]"),
        ];
        var tower = new Tower(8, 16, 12, 12, 4);
        var before = Snapshot(tower);
        foreach (var (config, message) in cases)
        {
            var e = Assert.Throws<ArgumentException>(() => tower.ApplyLora(config with { R = 2 }));
            Assert.Contains(message, e.Message);
            Assert.Equal(before.Keys, Snapshot(tower).Keys);
            Assert.Empty(tower.LoraLayers());
        }
    }

    [Fact]
    public void RefusesAnAdapterMissingAListedLayerWithoutTouchingTheModel()
    {
        var full = PeftAdapter.Load(PeftFixture.PathOf("adapter_layers"));
        var partial = PeftAdapter.Create(full.Config, full.Modules.Where(m => m.ModulePath != "model.layers.2.0"));
        var tower = FixtureTower();
        var before = Snapshot(tower);
        var e = Assert.Throws<InvalidDataException>(() => LoraAdapterFiles.Apply(tower, partial));
        Assert.Contains("'base_model.model.model.layers.2.0.lora_A.weight': missing key: target_modules selects the model's layer 'model.layers.2.0'", e.Message);
        Assert.Equal(before.Keys, Snapshot(tower).Keys);
        Assert.Empty(tower.LoraLayers());
    }

    /// <summary>Against PyTorch's float64 forward with <see cref="LoraTestUtil.AssertMatchesTorch"/>'s derived bound, over the
    /// tower's four Linear layers in forward order.</summary>
    static void AssertClose(Tower tower, float[] actual, float[] x, int n, double[][] expected, bool withLora)
    {
        var linears = tower.AdaptableLayers().ToList();  // model.layers.{0,1,2}.0, model.head
        Assert.Equal(4, linears.Count);
        AssertMatchesTorch(linears.Select(p => Layer(p.Item2, withLora)).ToList(), x, n, actual, expected);
    }
}
