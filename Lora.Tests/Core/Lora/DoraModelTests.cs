using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;
using Lora.Tests.Core.Training;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Lora;

/// <summary>DoRA through the model-level API: LoraConfig.UseDora, training, PEFT files (Linear and convolution), and the refusals.</summary>
public class DoraModelTests
{
    static readonly int[] Sizes = [12, 16, 4];

    static (Mlp Model, LoraReport Report) Adapted(double dropout = 0)
    {
        var model = new Mlp(Sizes, seed: 3);
        var report = model.ApplyLora(new LoraConfig { R = 2, Alpha = 4, Dropout = dropout, UseDora = true, TargetModules = ["all-linear"] });
        return (model, report);
    }

    [Fact]
    public void ApplyLoraAddsATrainableMagnitudePerOutputAndCountsIt()
    {
        var (model, report) = Adapted();
        long expected = 2 * (12 + 16) + 16 + 2 * (16 + 4) + 4;
        Assert.Equal(expected, report.TrainableParameters);
        var names = model.TrainableParameters().Select(p => p.Name).ToList();
        Assert.Contains("layers.0.lora_magnitude_vector.default.weight", names);
        Assert.Contains("layers.1.lora_magnitude_vector.default.weight", names);
        var slots = TrainableSlots.From(model, loraPlusRatio: 16);
        Assert.All(slots.Where(s => s.Name.Contains("lora_magnitude_vector")), s => Assert.Equal(16f, s.LrScale));
        Assert.All(slots.Where(s => s.Name.Contains("lora_A")), s => Assert.Equal(1f, s.LrScale));
    }

    [Fact]
    public void TrainingMovesMagnitudeAndFactorsAndLeavesTheBaseBitwiseUnchanged()
    {
        var (model, _) = Adapted(dropout: 0.1);
        var before = Snapshot(model);
        var data = TrainingTestData.Gaussian(96, 12, 4, seed: 5, shift: 1.5);
        var optimizer = TrainableSlots.AdamW(model, LearningRateSchedule.Constant(1e-2), weightDecay: 0);
        var history = new Trainer(model, optimizer, new TrainerOptions { Epochs = 4, BatchSize = 16, Seed = 2 }).Fit(data);
        Assert.True(history.Epochs[^1].TrainLoss < history.Epochs[0].TrainLoss, "DoRA training should lower the loss");
        foreach (var (name, p) in model.NamedParameters())
        {
            bool adapter = name.Contains("lora_", StringComparison.Ordinal);
            bool changed = !before[name].SequenceEqual(p.ToArray());
            Assert.True(adapter == changed, $"{name}: {(adapter ? "an adapter tensor did not train" : "a frozen tensor changed")}");
        }
    }

    [Fact]
    public void SaveAndLoadRoundTripIsBitwiseWithPeftKeysAndUseDora()
    {
        var (model, _) = Adapted();
        foreach (var (_, l) in model.LoraLayers())
        {
            Random(l.Adapters[0].B.Length, 7, 0.3).CopyTo(l.Adapters[0].B.Data);
            Random(l.Adapters[0].Magnitude!.Length, 8, 0.2).Select(v => 1 + v).ToArray().CopyTo(l.Adapters[0].Magnitude!.Data);
        }
        string dir = Path.Combine(Path.GetTempPath(), "lora-dora-" + Guid.NewGuid().ToString("N"));
        try
        {
            LoraAdapterFiles.Save(model, dir);
            Assert.Contains("\"use_dora\": true", File.ReadAllText(Path.Combine(dir, PeftAdapter.ConfigFileName)));
            var file = SafeTensors.Read(Path.Combine(dir, PeftAdapter.WeightsFileName));
            var magnitude = file.Tensors.Single(t => t.Name == "base_model.model.layers.0.lora_magnitude_vector");
            Assert.Equal([16], magnitude.Shape);
            var loaded = new Mlp(Sizes, seed: 3);
            LoraAdapterFiles.Load(loaded, dir, trainable: true);
            AssertSameModel(model, loaded, 12);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("missing", "missing key")]
    [InlineData("shape", "expected (16)")]
    [InlineData("off", "use_dora is false")]
    public void ABadMagnitudeInTheFileNamesTheKeyAndLeavesTheModelUnchanged(string damage, string expected)
    {
        var (model, _) = Adapted();
        var peft = LoraAdapterFiles.ToPeft(model);
        var tensors = new List<TensorData>();
        foreach (var m in peft.Modules)
        {
            tensors.Add(m.A.Clone(m.KeyA));
            tensors.Add(m.B.Clone(m.KeyB));
            if (damage == "missing" && m.ModulePath == "layers.0") continue;
            var mag = damage == "shape" && m.ModulePath == "layers.0" ? new TensorData(m.KeyMagnitude, [15], new float[15]) : m.Magnitude!.Clone(m.KeyMagnitude);
            tensors.Add(mag);
        }
        string dir = Path.Combine(Path.GetTempPath(), "lora-dora-bad-" + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(dir);
            SafeTensors.Write(Path.Combine(dir, PeftAdapter.WeightsFileName), tensors);
            (damage == "off" ? peft.Config with { UseDora = false } : peft.Config).Write(Path.Combine(dir, PeftAdapter.ConfigFileName));
            var target = new Mlp(Sizes, seed: 3);
            var before = Snapshot(target);
            var e = Assert.Throws<InvalidDataException>(() => LoraAdapterFiles.Load(target, dir));
            Assert.Contains("layers.0.lora_magnitude_vector", e.Message);
            Assert.Contains(expected, e.Message);
            Assert.Equal(before.Keys, Snapshot(target).Keys);
            Assert.Empty(target.LoraLayers());
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void PissaWithDoraKeepsTheOutput()
    {
        var model = new Mlp(Sizes, seed: 3);
        var reference = new Mlp(Sizes, seed: 3);
        model.ApplyLora(new LoraConfig { R = 3, Alpha = 6, Init = LoraInit.Pissa, UseDora = true, TargetModules = ["all-linear"] });
        var x = Random(6 * 12, 5);
        var a = Run(model.Eval(), x, 6);
        var b = Run(reference.Eval(), x, 6);
        // As for plain PiSSA (LoraModelTests): W_res + s·B·A reproduces W up to the rounding of forming s·B·A and the
        // truncated SVD's; the magnitude starts at ‖W_res + s·B·A‖, so c = 1 up to the norm's few ε. 1e-4 absolute
        // is ~100× those on this unit-scale model.
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-4, $"[{i}] {a[i]} vs {b[i]}");
        foreach (var (_, l) in model.LoraLayers()) Assert.Contains(l.Adapters[0].B.ToArray(), v => v != 0);
    }

    static Sequential ConvModel() => new(new Conv2d(1, 2, 3, new SeededRandom(1)), new Flatten(), new Linear(2 * 4 * 4, 3, new SeededRandom(2)));

    /// <summary>DoRA on a convolution: the magnitude is PEFT's (1, out, 1, 1) in the model and in the file, and a
    /// trained adapter comes back bitwise, with a (1, out, 1, 1) magnitude of the wrong count refused.</summary>
    [Fact]
    public void DoraOnAConvolutionRoundTripsWithPeftsMagnitudeShape()
    {
        var model = ConvModel();
        model.ApplyLora(new LoraConfig { R = 1, UseDora = true, TargetModules = ["0", "2"] });
        var conv = (LoraConv2d)model.GetSubmodule("0");
        Assert.Equal([1, 2, 1, 1], conv.Adapters[0].Magnitude!.Shape.ToArray());
        foreach (var (_, l) in model.LoraLayers())
        {
            Random(l.Adapters[0].B.Length, 7, 0.3).CopyTo(l.Adapters[0].B.Data);
            Random(l.Adapters[0].Magnitude!.Length, 8, 0.2).Select(v => 1 + v).ToArray().CopyTo(l.Adapters[0].Magnitude!.Data);
        }
        string dir = Path.Combine(Path.GetTempPath(), "lora-dora-conv-" + Guid.NewGuid().ToString("N"));
        try
        {
            LoraAdapterFiles.Save(model, dir);
            var file = SafeTensors.Read(Path.Combine(dir, PeftAdapter.WeightsFileName));
            Assert.Equal([1, 2, 1, 1], file.Tensors.Single(t => t.Name == "base_model.model.0.lora_magnitude_vector").Shape);
            Assert.Equal([3], file.Tensors.Single(t => t.Name == "base_model.model.2.lora_magnitude_vector").Shape);
            var loaded = ConvModel();
            LoraAdapterFiles.Load(loaded, dir, trainable: true);
            Assert.Equal(Snapshot(model), Snapshot(loaded));
            var x = Random(2 * 36, 9);
            Assert.Equal(Run(model.Eval(), x, new Shape(2, 1, 6, 6)), Run(loaded.Eval(), x, new Shape(2, 1, 6, 6)));

            var peft = PeftAdapter.Load(dir);
            var tensors = peft.Modules.SelectMany(m => new[] { m.A.Clone(m.KeyA), m.B.Clone(m.KeyB),
                m.ModulePath == "0" ? new TensorData(m.KeyMagnitude, [2], m.Magnitude!.Data) : m.Magnitude!.Clone(m.KeyMagnitude) }).ToList();
            SafeTensors.Write(Path.Combine(dir, PeftAdapter.WeightsFileName), tensors);
            var target = ConvModel();
            var e = Assert.Throws<InvalidDataException>(() => LoraAdapterFiles.Load(target, dir));
            Assert.Contains("0.lora_magnitude_vector", e.Message);
            Assert.Contains("expected (1, 2, 1, 1)", e.Message);
            Assert.Empty(target.LoraLayers());
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void ADoraAdapterMustBeActiveAloneAndDoesNotCombine()
    {
        var (model, _) = Adapted();
        model.ApplyLora(new LoraConfig { R = 2, TargetModules = ["all-linear"] }, adapterName: "plain");
        var layer = model.LoraLayers().First().Layer;
        var e = Assert.Throws<ArgumentException>(() => layer.SetActiveAdapters("default", "plain"));
        Assert.Contains("only active adapter", e.Message);
        Assert.Equal(["plain"], layer.ActiveAdapters.Select(a => a.Name));
        e = Assert.Throws<ArgumentException>(() => layer.AddWeightedAdapter("mix", [("default", 0.5f), ("plain", 0.5f)]));
        Assert.Contains("'default' is a DoRA adapter", e.Message);
        Assert.False(layer.HasAdapter("mix"));
    }

    [Fact]
    public void DisablingFreezesTheMagnitudeAndDeletingRemovesIt()
    {
        var (model, _) = Adapted();
        var layer = model.LoraLayers().First().Layer;
        var magnitude = layer.Adapters[0].Magnitude!;
        model.DisableAdapters();
        Assert.True(magnitude.Frozen);
        model.EnableAdapters();
        Assert.False(magnitude.Frozen);
        layer.DeleteAdapter("default");
        Assert.DoesNotContain(layer.NamedParameters(), p => p.Name.Contains("lora_magnitude_vector"));
    }
}
