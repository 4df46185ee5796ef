using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>Inverted dropout: y = x ⊙ m with mᵢ = 1/(1 − p) with probability 1 − p, else 0; identity when not training or p = 0.</summary>
    /// <remarks>
    /// The mask comes from <see cref="DropoutKernels.Mask"/>(seed, 0, p): element i's bit depends only on (seed, i),
    /// so runs with the same seed give the same bits whatever the thread count. Give each call site and step its own
    /// seed. Backward: dx += dy ⊙ m. In eval (<paramref name="training"/> false) the input itself is returned.
    /// </remarks>
    public static Tensor Dropout(Tensor x, float p, ulong seed, bool training = true)
    {
        const string op = "Dropout";
        RequireNotNull(op, x);
        if (!(p >= 0f && p < 1f)) throw new ArgumentException($"{op}: p must be in [0, 1), got {p}.", nameof(p));
        if (!training || p == 0f) return x;
        var tape = Tape.Current;
        var y = tape.NewTensor(x.Shape);
        var mask = tape.NewTensor(x.Shape);
        DropoutKernels.Mask(seed, 0, p, mask.Data);
        Elementwise.Multiply(x.Data, mask.Data, y.Data);
        if (Tape.NeedsGrad(x))
        {
            ref var node = ref tape.Record(op, &DropoutBackward, y);
            node.A = x; node.Saved0 = mask;
        }
        return tape.Finish(op, y);
    }

    static void DropoutBackward(ref Node node) =>
        Elementwise.BinaryAccumulate<MultiplyOperator>(node.Out.Grad, node.Saved0!.Data, node.A!.Grad);
}
