using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Tests.Core.IO;

namespace Lora.Tests.Core.Lora;

/// <summary>An adapter loaded from files gets a dropout seed per layer (every layer used to get seed 0, so layers of
/// equal width dropped the same inputs), and the same load gives the same seeds.</summary>
public class LoadedAdapterDropoutTests
{
    static Mlp Model() => new([8, 16, 16, 16, 4], ActivationKind.Relu, 0, seed: 1);

    static ulong[] Seeds(Module m, string adapter) => m.LoraLayers().Select(l => l.Layer.GetAdapter(adapter).Seed).ToArray();

    [Fact]
    public void EveryLayerHasItsOwnSeedAndLoadsAgreeAndNamesDiffer()
    {
        using var dir = new TempDir();
        string path = dir.PathName;
        var m = Model();
        m.ApplyLora(new LoraConfig { R = 2, Alpha = 4, Dropout = 0.5, TargetModules = ["layers.1", "layers.2"] });
        LoraAdapterFiles.Save(m, path);
        var a = Model();
        LoraAdapterFiles.Load(a, path, trainable: true);
        var seeds = Seeds(a, "default");
        Assert.Equal(2, seeds.Length);
        Assert.NotEqual(seeds[0], seeds[1]);
        var b = Model();
        LoraAdapterFiles.Load(b, path, trainable: true);
        Assert.Equal(seeds, Seeds(b, "default"));
        LoraAdapterFiles.Load(b, path, "other", trainable: true);
        Assert.Empty(Seeds(b, "other").Intersect(seeds));
    }
}
