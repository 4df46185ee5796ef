using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;

namespace Lora.Bench;

/// <summary>The benchmarked training step: a 784-1024-1024-10 ReLU MLP, batch 128, softmax cross-entropy, AdamW;
/// either LoRA (r = 8, alpha = 16 on all three Linear layers, base frozen), the same with DoRA, or full fine-tuning
/// of the same model.</summary>
internal sealed class MlpStepCase
{
    public static readonly int[] Sizes = [784, 1024, 1024, 10];
    public const int Batch = 128;

    readonly Trainer _trainer;
    readonly float[] _x;
    readonly int[] _y;

    public MlpStepCase(bool lora, bool dora = false)
    {
        Model = new Mlp(Sizes, ActivationKind.Relu, 0, seed: 1);
        Report = lora ? Model.ApplyLora(new LoraConfig { R = 8, Alpha = 16, UseDora = dora }) : Model.Report();
        var optimizer = TrainableSlots.AdamW(Model, LearningRateSchedule.Constant(1e-3));
        _trainer = new Trainer(Model, optimizer);
        var rng = new SeededRandom(2);
        _x = new float[Batch * Sizes[0]];
        rng.FillGaussian(_x, 1.0);
        _y = new int[Batch];
        for (int i = 0; i < Batch; i++) _y[i] = rng.NextInt(Sizes[^1]);
    }

    public Mlp Model { get; }

    /// <summary>The LoRA report (for full fine-tuning: every parameter trainable).</summary>
    public LoraReport Report { get; }

    /// <summary>One optimizer step; returns the loss so the work cannot be elided.</summary>
    public float Step() => _trainer.Step(_x, _y, Batch, Sizes[0]).Loss;
}
