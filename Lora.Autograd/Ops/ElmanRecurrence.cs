using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>
    /// The Elman recurrence h_t = tanh(gx_t + f(h_{t−1})) over a whole sequence: gx (T, N, H) holds the input
    /// pre-activations x_t·W_ihᵀ + b_ih for every step (computed beforehand as one GEMM), f is the hidden-to-hidden
    /// map (h·W_hhᵀ + b_hh, or that layer wrapped with LoRA), h₀ (N, H) or null for zeros. Returns every state,
    /// time-major (T, N, H).
    /// </summary>
    /// <remarks>
    /// <para>f is called once per step and records its own ops on the tape, interleaved with one fused node per step,
    /// so backpropagation through time is the tape's ordinary reverse walk: step t's node runs after the nodes of
    /// f(h_t) and of whatever consumed the output, which have by then added everything into dh_t.</para>
    /// <para>Backward of a step, with a = dh_t ⊙ (1 − h_t²): dgx_t += a, d f(h_{t−1}) += a (f's own backward then
    /// carries it to h_{t−1} and its weights).</para>
    /// </remarks>
    /// <exception cref="ArgumentException">gx is not rank 3, h₀ is not (N, H), or f returns something other than (N, H).</exception>
    public static Tensor ElmanRecurrence(Tensor inputGates, Tensor? h0, Func<Tensor, Tensor> hiddenToHidden)
    {
        const string op = "ElmanRecurrence";
        int hidden = CheckRecurrence(op, inputGates, 1, h0, hiddenToHidden);
        int steps = inputGates.Shape[0], n = inputGates.Shape[1], len = n * hidden;
        var tape = Tape.Current;
        var states = tape.NewTensor(new Shape(steps, n, hidden));
        var hPrev = h0 ?? ZeroState(tape, n, hidden);
        bool needsGrad = false;
        for (int t = 0; t < steps; t++)
        {
            var gh = hiddenToHidden(hPrev);
            CheckHiddenGates(op, gh, n, hidden, t);
            needsGrad |= Tape.NeedsGrad(inputGates, gh);
            var h = StepState(tape, states, t, n, hidden, needsGrad);
            Elementwise.Binary<TanhOfSumOperator>(inputGates.Data.Slice(t * len, len), gh.Data, h.Data);
            if (needsGrad)
            {
                ref var node = ref tape.Record(op, &ElmanStepBackward, h);
                node.A = inputGates; node.B = gh; node.I0 = t * len;
            }
            tape.Finish(op, h);
            hPrev = h;
        }
        return tape.Finish(op, states);
    }

    static void ElmanStepBackward(ref Node node)
    {
        var h = node.Out.Data;
        var dh = node.Out.Grad;
        if (Wants(node.A)) Elementwise.TanhBackward(h, dh, node.A!.Grad.Slice(node.I0, h.Length));
        if (Wants(node.B)) Elementwise.TanhBackward(h, dh, node.B!.Grad);
    }
}
