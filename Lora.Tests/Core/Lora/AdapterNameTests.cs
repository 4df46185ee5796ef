using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Lora;

/// <summary>One adapter name stands for one adapter: adding or loading under a name that another layer already holds
/// is refused before anything changes (it would save and switch two different adapters as one). And an added or
/// loaded adapter becomes the model's active adapter everywhere: a layer holding only an earlier adapter runs none.</summary>
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

    [Fact]
    public void ANewAdapterOnSomeLayersRunsAloneAsItWillWhenSavedAndLoaded()
    {
        var model = Model();
        model.ApplyLora(new LoraConfig { R = 2, TargetModules = ["all-linear"], Init = LoraInit.Gaussian }, adapterName: "a");
        foreach (var (_, l) in model.LoraLayers()) Random(l.Adapters[0].B.Length, 5, 0.3).CopyTo(l.Adapters[0].B.Data); // a matters
        model.ApplyLora(new LoraConfig { R = 2, TargetModules = ["layers.1"] }, adapterName: "b");
        Random(model.LoraLayers().Single(l => l.Path == "layers.1").Layer.GetAdapter("b").B.Length, 6, 0.3)
            .CopyTo(model.LoraLayers().Single(l => l.Path == "layers.1").Layer.GetAdapter("b").B.Data);
        Assert.All(model.LoraLayers().Where(l => l.Path != "layers.1"), l => Assert.Empty(l.Layer.ActiveAdapters));

        using var dir = new global::Lora.Tests.Core.IO.TempDir();
        LoraAdapterFiles.Save(model, dir.PathName, "b");
        var alone = Model();
        LoraAdapterFiles.Load(alone, dir.PathName, "b");
        var x = Random(5 * 8, 9);
        Assert.Equal(Run(alone.Eval(), x, 5), Run(model.Eval(), x, 5));

        // Loading does the same: "b" loaded into a model running "a" everywhere runs alone.
        var withA = Model();
        withA.ApplyLora(new LoraConfig { R = 2, TargetModules = ["all-linear"], Init = LoraInit.Gaussian }, adapterName: "a");
        LoraAdapterFiles.Load(withA, dir.PathName, "b");
        Assert.All(withA.LoraLayers().Where(l => l.Path != "layers.1"), l => Assert.Empty(l.Layer.ActiveAdapters));
    }

    [Fact]
    public void AddingAnAdapterWhileAnotherLayerIsMergedIsRefused()
    {
        var model = Model();
        model.ApplyLora(new LoraConfig { R = 2, TargetModules = ["layers.0"] }, adapterName: "a");
        model.MergeAdapters();
        var e = Assert.Throws<ArgumentException>(() => model.ApplyLora(new LoraConfig { R = 2, TargetModules = ["layers.1"] }, adapterName: "b"));
        Assert.Contains("'layers.0' is merged", e.Message);
        Assert.Equal(["layers.0"], model.LoraLayers().Select(l => l.Path));
    }
}
