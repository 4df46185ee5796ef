using Lora.Autograd;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;

namespace Lora.Bench;

/// <summary>The benchmarked recurrent training step, shaped like a character language model: x (N, T, in) →
/// ElmanRnn or Gru (H) → a Linear head (H → vocab) at every step → softmax cross-entropy over the N·T next
/// characters → backward through time → AdamW. Either LoRA (r = 8, alpha = 16 on <c>rnn.ih</c> and <c>rnn.hh</c>;
/// everything else frozen, as PEFT leaves it) or full fine-tuning of the same model.</summary>
internal sealed class RnnStepCase : Module
{
    public const int Vocab = 96;

    readonly Tensor _x;
    readonly int[] _labels;
    readonly Optimizer _optimizer;

    public RnnStepCase(bool gru, bool lora, int n, int steps, int inputSize, int hidden, int rank)
    {
        var rng = new SeededRandom(1);
        Rnn = RegisterModule<RecurrentLayer>("rnn", gru ? new Gru(inputSize, hidden, rng) : new ElmanRnn(inputSize, hidden, rng));
        Head = RegisterModule("head", new Linear(hidden, Vocab, rng));
        Report = lora ? this.ApplyLora(new LoraConfig { R = rank, Alpha = 2 * rank, TargetModules = ["rnn.ih", "rnn.hh"] }) : this.Report();
        _optimizer = TrainableSlots.AdamW(this, LearningRateSchedule.Constant(1e-3));
        var data = new float[n * steps * inputSize];
        rng.FillGaussian(data, 1.0);
        _x = new Tensor(data, new Shape(n, steps, inputSize));
        _labels = new int[n * steps];
        for (int i = 0; i < _labels.Length; i++) _labels[i] = rng.NextInt(Vocab);
    }

    public RecurrentLayer Rnn { get; }
    public Linear Head { get; }

    /// <summary>The LoRA report (for full fine-tuning: every parameter trainable).</summary>
    public LoraReport Report { get; }

    /// <summary>Logits (N·T, vocab) for x (N, T, in).</summary>
    public override Tensor Forward(Tensor x)
    {
        var h = Rnn.Forward(x);
        return Ops.Reshape(Head.Forward(h), new Shape(h.Shape[0] * h.Shape[1], Vocab));
    }

    /// <summary>Time spent in forward, backward and the optimizer over the steps given a clock (ms).</summary>
    public double[] PhaseMs { get; } = new double[3];

    /// <summary>One optimizer step; returns the loss so the work cannot be elided. With a clock, adds the time of
    /// each phase (forward, backward, optimizer) to <see cref="PhaseMs"/>.</summary>
    public float Step(Func<double>? clock = null)
    {
        var tape = Tape.Current;
        tape.Reset();
        double t0 = clock?.Invoke() ?? 0;
        var loss = Ops.SoftmaxCrossEntropy(Forward(_x), _labels);
        double t1 = clock?.Invoke() ?? 0;
        loss.Backward();
        float value = loss.Item;
        double t2 = clock?.Invoke() ?? 0;
        _optimizer.Step();
        _optimizer.ZeroGrad();
        if (clock != null)
        {
            PhaseMs[0] += t1 - t0;
            PhaseMs[1] += t2 - t1;
            PhaseMs[2] += clock() - t2;
        }
        return value;
    }
}
