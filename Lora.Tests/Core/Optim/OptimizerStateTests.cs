using Lora.Core.Data;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;
using Lora.Tests.Core.IO;
using Lora.Tests.Core.Training;

namespace Lora.Tests.Core.Optim;

/// <summary><see cref="Optimizer.SaveState"/> / <see cref="Optimizer.LoadState"/> and <see cref="TrainerOptions.FirstEpoch"/>:
/// a run stopped, saved and resumed takes the same steps, bit for bit, as the uninterrupted one.</summary>
public sealed class OptimizerStateTests : IDisposable
{
    readonly TempDir _temp = new();
    string Dir => _temp.PathName;

    public void Dispose() => _temp.Dispose();

    static Dataset Data() => TrainingTestData.Gaussian(96, 10, 3, 7, shift: 1.5);

    static Mlp Model()
    {
        var m = new Mlp([10, 16, 3], ActivationKind.Relu, 0, seed: 2);
        m.ApplyLora(new LoraConfig { R = 2, Alpha = 4, Bias = LoraBias.All }, seed: 3);
        return m;
    }

    static readonly LearningRateSchedule Schedule = LearningRateSchedule.WarmupCosine(0.02, 3, 24);

    static TrainerOptions Options(int epochs, int first = 1) => new() { Epochs = epochs, FirstEpoch = first, BatchSize = 16, Seed = 5 };

    static float[] Trainable(Module m) => m.TrainableParameters().SelectMany(p => p.Parameter.Data.ToArray()).ToArray();

    [Theory]
    [InlineData("adamw")]
    [InlineData("sgd")]
    public void AResumedRunTakesTheUninterruptedRunsStepsBitForBit(string kind)
    {
        Optimizer Make(Module m) => kind == "adamw"
            ? TrainableSlots.AdamW(m, Schedule, weightDecay: 0.05, maxGradNorm: 1)
            : TrainableSlots.Sgd(m, Schedule, momentum: 0.9, nesterov: true, weightDecay: 0.01);
        var data = Data();
        var whole = Model();
        new Trainer(whole, Make(whole), Options(4)).Fit(data);

        var first = Model();
        var firstOpt = Make(first);
        new Trainer(first, firstOpt, Options(2)).Fit(data);
        string adapter = Path.Combine(Dir, "adapter"), state = Path.Combine(Dir, "optimizer.safetensors");
        LoraAdapterFiles.Save(first, adapter);
        firstOpt.SaveState(state);

        var resumed = new Mlp([10, 16, 3], ActivationKind.Relu, 0, seed: 2); // the same base, a fresh process's view
        LoraAdapterFiles.Load(resumed, adapter, trainable: true);
        var opt = Make(resumed);
        opt.LoadState(state);
        Assert.Equal(firstOpt.StepCount, opt.StepCount);
        new Trainer(resumed, opt, Options(4, first: 3)).Fit(data);
        Assert.True(Trainable(whole).AsSpan().SequenceEqual(Trainable(resumed)));
        Assert.False(Trainable(whole).AsSpan().SequenceEqual(Trainable(first))); // the last two epochs did move them
    }

    [Fact]
    public void TheFileUsesPyTorchsNamesAndShapes()
    {
        var m = Model();
        var opt = TrainableSlots.AdamW(m, Schedule);
        new Trainer(m, opt, Options(1)).Fit(Data());
        string path = Path.Combine(Dir, "s.safetensors");
        opt.SaveState(path);
        var file = SafeTensors.Read(path);
        Assert.Equal(opt.StepCount.ToString(System.Globalization.CultureInfo.InvariantCulture), file.Metadata["step"]);
        Assert.Equal("AdamW", file.Metadata["optimizer"]);
        Assert.Equal(2 * opt.Slots.Count, file.Tensors.Count);
        var a = file.Require("exp_avg_sq.layers.0.lora_A.default.weight", 2, 10);
        Assert.All(a.Data, v => Assert.True(v >= 0));
        Assert.Contains(a.Data, v => v > 0);
    }

    [Fact]
    public void BadStatesAreRefusedNamingFileAndKeyAndChangeNothing()
    {
        var m = Model();
        var opt = TrainableSlots.AdamW(m, Schedule);
        new Trainer(m, opt, Options(1)).Fit(Data());
        string good = Path.Combine(Dir, "good.safetensors");
        opt.SaveState(good);
        var other = Model();
        var target = TrainableSlots.AdamW(other, Schedule);
        new Trainer(other, target, Options(2)).Fit(Data());
        string before = Path.Combine(Dir, "before.safetensors");
        target.SaveState(before);
        byte[] beforeBytes = File.ReadAllBytes(before);
        long steps = target.StepCount;

        var saved = SafeTensors.Read(good);
        string Variant(string name, IEnumerable<TensorData> tensors, Dictionary<string, string> meta)
        {
            string p = Path.Combine(Dir, name + ".safetensors");
            SafeTensors.Write(p, tensors, meta);
            return p;
        }
        var meta = saved.Metadata.ToDictionary();
        var cases = new (string File, string Key)[]
        {
            (Variant("missing", saved.Tensors.Skip(1), meta), $"'{saved.Tensors[0].Name}'"),
            (Variant("extra", saved.Tensors.Append(new TensorData("exp_avg.nope", [1], [0f])), meta), "'exp_avg.nope'"),
            (Variant("shape", saved.Tensors.Select((t, i) => i == 0 ? new TensorData(t.Name, [1, t.Count], t.Data) : t), meta), $"'{saved.Tensors[0].Name}'"),
            (Variant("type", saved.Tensors, new(meta) { ["optimizer"] = "Sgd" }), "__metadata__.optimizer"),
            (Variant("step", saved.Tensors, new(meta) { ["step"] = "-3" }), "__metadata__.step"),
            (Variant("format", saved.Tensors, new(meta) { ["format"] = "other" }), "__metadata__.format"),
            (Variant("nometa", saved.Tensors, []), "__metadata__.format"),
        };
        foreach (var (file, key) in cases)
        {
            var e = Assert.Throws<InvalidDataException>(() => target.LoadState(file));
            Assert.Contains(Path.GetFileName(file), e.Message);
            Assert.Contains(key, e.Message);
            Assert.Equal(steps, target.StepCount);
            target.SaveState(before);
            Assert.Equal(beforeBytes, File.ReadAllBytes(before)); // moments unchanged
        }
        var sgd = TrainableSlots.Sgd(m, Schedule, momentum: 0.9);
        Assert.Contains("AdamW's", Assert.Throws<InvalidDataException>(() => sgd.LoadState(good)).Message);
    }

    [Fact]
    public void FirstEpochPastEpochsIsRefused()
    {
        var m = Model();
        Assert.Throws<ArgumentException>(() => new TrainerOptions { FirstEpoch = 0 });
        var e = Assert.Throws<ArgumentException>(() => new Trainer(m, TrainableSlots.AdamW(m, Schedule), Options(2, first: 3)).Fit(Data()));
        Assert.Contains("FirstEpoch = 3", e.Message);
    }
}
