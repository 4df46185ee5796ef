using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Models;
using Lora.Core.Modules;
using Lora.Tests.Core.IO;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Lora;

/// <summary>modules_to_save copies of convolutions and embeddings: every setting copied, the same outputs, and a CNN
/// whose convolution is saved in full round-tripping through PEFT files.</summary>
public class ModulesToSaveLayerKindsTests
{
    [Fact]
    public void ConvolutionAndEmbeddingCopiesKeepEverySettingAndRunLikeTheirOriginals()
    {
        var conv = new Conv2d(2, 3, 3, new SeededRandom(4), stride: 2, padding: 1);
        var wrapped = new ModulesToSaveLayer(conv);
        var copy = Assert.IsType<Conv2d>(wrapped.AddCopy("a"));
        wrapped.SetActive("a");
        Assert.Equal((2, 3, 3, 2, 1, true), (copy.InChannels, copy.OutChannels, copy.KernelSize, copy.Stride, copy.Padding, copy.Bias is not null));
        Assert.Equal(conv.Weight.ToArray(), copy.Weight.ToArray());
        Assert.Equal(conv.Bias!.ToArray(), copy.Bias!.ToArray());
        var x = Random(2 * 2 * 5 * 5, 8);
        Assert.Equal(Run(conv, x, new Shape(2, 2, 5, 5)), Run(wrapped, x, new Shape(2, 2, 5, 5)));
        Assert.True(conv.Parameters().All(p => p.Frozen) && copy.Parameters().All(p => !p.Frozen));

        var table = new Embedding(10, 4, new SeededRandom(5));
        var wrappedTable = new ModulesToSaveLayer(table);
        var tableCopy = Assert.IsType<Embedding>(wrappedTable.AddCopy("a"));
        wrappedTable.SetActive("a");
        Assert.Equal(table.Weight.ToArray(), tableCopy.Weight.ToArray());
        float[] ids = [3, 0, 9, 3];
        Assert.Equal(Run(table, ids, new Shape(4)), Run(wrappedTable, ids, new Shape(4)));

        Assert.Throws<ArgumentException>(() => new ModulesToSaveLayer(new Sequential(new Linear(2, 2))));
        Assert.Throws<ArgumentException>(() => wrappedTable.AddCopy("a"));
        Assert.Throws<ArgumentException>(() => wrappedTable.AddCopy("x.y"));
    }

    [Fact]
    public void ACnnWithASavedConvolutionRoundTripsThroughPeftFiles()
    {
        using var dir = new TempDir();
        var m = new Cnn(new CnnConfig(1, 6, 6, [2, 3], 3, 4), seed: 1);
        var report = m.ApplyLora(new LoraConfig { R = 2, TargetModules = ["head"], ModulesToSave = ["convs.0"] });
        Assert.Equal(["convs.0"], report.ModulesToSave);
        var copy = (Conv2d)((ModulesToSaveLayer)m.GetSubmodule("convs.0")).GetCopy("default");
        Random(copy.Weight.Length, 6, 0.3).CopyTo(copy.Weight.Data);
        foreach (var (_, l) in m.LoraLayers()) Random(l.Adapters[0].B.Length, 7, 0.3).CopyTo(l.Adapters[0].B.Data);
        ModelFiles.Save(m, dir.File("base"));
        LoraAdapterFiles.Save(m, dir.File("adapter"));
        var header = SafeTensors.ReadHeader(Path.Combine(dir.File("adapter"), PeftAdapter.WeightsFileName));
        Assert.Equal([2, 1, 3, 3], header.Entries.First(e => e.Name == "base_model.model.convs.0.weight").Shape);

        var loaded = ModelFiles.Load(dir.File("base"));
        LoraAdapterFiles.Load(loaded, dir.File("adapter"));
        var before = Snapshot(m);
        Assert.Equal(before.Keys, loaded.NamedParameters().Select(p => p.Name));
        foreach (var (name, p) in loaded.NamedParameters()) Assert.Equal(before[name], p.ToArray());
        var x = Random(3 * 36, 9);
        Assert.Equal(Run(m.Eval(), x, 3), Run(loaded.Eval(), x, 3));
    }
}
