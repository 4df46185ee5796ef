using Lora.Autograd;
using Lora.Core.Modules;

namespace Lora.Tests.Core.Modules;

/// <summary>A character-LM-shaped model for the recurrent tests: x (N, T, in) → rnn → per-step Linear head →
/// logits (N·T, vocab).</summary>
internal sealed class RecurrentTestModel : Module
{
    public RecurrentTestModel(bool gru, int inputSize, int hidden, int vocab, ulong seed)
    {
        var rng = new SeededRandom(seed);
        Rnn = RegisterModule<RecurrentLayer>("rnn", gru ? new Gru(inputSize, hidden, rng) : new ElmanRnn(inputSize, hidden, rng));
        Head = RegisterModule("head", new Linear(hidden, vocab, rng));
    }

    public RecurrentLayer Rnn { get; }
    public Linear Head { get; }

    public override Tensor Forward(Tensor x)
    {
        var h = Rnn.Forward(x);
        return Ops.Reshape(Head.Forward(h), new Shape(h.Shape[0] * h.Shape[1], Head.OutFeatures));
    }
}

internal static class RecurrentTestData
{
    public static float[] Uniform(int n, double lo, double hi, ulong seed)
    {
        var a = new float[n];
        new SeededRandom(seed).FillUniform(a, (float)lo, (float)hi);
        return a;
    }

    public static int[] Labels(int n, int vocab, ulong seed)
    {
        var rng = new SeededRandom(seed);
        return Enumerable.Range(0, n).Select(_ => rng.NextInt(vocab)).ToArray();
    }
}
