using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Lora;

/// <summary>One adapter name stands for one adapter: adding or loading under a name that another layer already holds
/// is refused before anything changes (it would save and switch two different adapters as one).</summary>
public class AdapterNameTests
{
    static Mlp Model() => new([8, 12, 6, 3], seed: 4);

    [Fact]
    public void ApplyLoraUnderANameAnotherLayerHoldsIsRefused()
    {
        var model = Model();
        model.ApplyLora(new LoraConfig { R = 2, TargetModules = ["layers.0"] }, adapterName: "x");
        var before = Snapshot(model);
        var e = Assert.Throws<ArgumentException>(() => model.ApplyLora(new LoraConfig { R = 2, TargetModules = ["layers.1"] }, adapterName: "x"));
        Assert.Contains("already has an adapter named 'x' (on layers.0)", e.Message);
        Assert.Equal(before.Keys, Snapshot(model).Keys);
        Assert.Equal(["layers.0"], model.LoraLayers().Select(l => l.Path));
    }

    [Fact]
    public void AWeightedAdapterUnderANameAnotherLayerHoldsIsRefused()
    {
        var model = Model();
        model.ApplyLora(new LoraConfig { R = 2, TargetModules = ["layers.0"] }, adapterName: "a");
        model.ApplyLora(new LoraConfig { R = 2, TargetModules = ["layers.1"] }, adapterName: "mix");
        var e = Assert.Throws<ArgumentException>(() => model.AddWeightedAdapter("mix", [("a", 0.5f)]));
        Assert.Contains("already has an adapter named 'mix' (on layers.1)", e.Message);
        Assert.False(model.LoraLayers().First(l => l.Path == "layers.0").Layer.HasAdapter("mix"));
    }

    [Fact]
    public void LoadingUnderANameAnotherLayerHoldsIsRefusedAndChangesNothing()
    {
        var source = Model();
        source.ApplyLora(new LoraConfig { R = 2, TargetModules = ["layers.1"] });
        using var dir = new global::Lora.Tests.Core.IO.TempDir();
        LoraAdapterFiles.Save(source, dir.PathName);

        var model = Model();
        model.ApplyLora(new LoraConfig { R = 2, TargetModules = ["layers.0"] });
        var before = Snapshot(model);
        var e = Assert.Throws<InvalidDataException>(() => LoraAdapterFiles.Load(model, dir.PathName));
        Assert.Contains("already has an adapter named 'default' (on layers.0)", e.Message);
        Assert.Contains("adapter_model.safetensors", e.Message);
        Assert.Equal(before.Keys, Snapshot(model).Keys);
        LoraAdapterFiles.Load(model, dir.PathName, "other"); // under a new name it loads
        Assert.Equal(["layers.0", "layers.1"], model.LoraLayers().Select(l => l.Path));
    }
}
