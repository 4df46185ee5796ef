using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>
    /// The GRU recurrence over a whole sequence, PyTorch's equations and gate order: gx (T, N, 3H) holds the input
    /// pre-activations x_t·W_ihᵀ + b_ih for every step, laid out [r | z | n] (computed beforehand as one GEMM), f is
    /// the hidden-to-hidden map h ↦ h·W_hhᵀ + b_hh (N, 3H) (or that layer wrapped with LoRA), h₀ (N, H) or null
    /// for zeros. Returns every state, time-major (T, N, H).
    /// </summary>
    /// <remarks>
    /// <para>Each step, with gh = f(h_{t−1}): r = σ(gx_r + gh_r), z = σ(gx_z + gh_z), ñ = tanh(gx_n + r ⊙ gh_n),
    /// h_t = (1 − z) ⊙ ñ + z ⊙ h_{t−1} — one fused node (<see cref="RecurrentCells.GruForward(int, int, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Span{float})"/>)
    /// that saves [r | z | ñ]. f records its own ops, interleaved with the step nodes, so backpropagation through
    /// time is the tape's ordinary reverse walk.</para>
    /// <para>Backward of a step (see <see cref="RecurrentCells"/>): dgx_t += [a_r | a_z | a_n],
    /// dgh += [a_r | a_z | a_n ⊙ r], dh_{t−1} += dh_t ⊙ z (the direct path; the path through gh is f's backward).</para>
    /// </remarks>
    /// <exception cref="ArgumentException">gx is not (T, N, 3H), h₀ is not (N, H), or f returns something other than (N, 3H).</exception>
    public static Tensor GruRecurrence(Tensor inputGates, Tensor? h0, Func<Tensor, Tensor> hiddenToHidden)
    {
        const string op = "GruRecurrence";
        int hidden = CheckRecurrence(op, inputGates, 3, h0, hiddenToHidden);
        int steps = inputGates.Shape[0], n = inputGates.Shape[1], width = 3 * hidden, gLen = n * width;
        var tape = Tape.Current;
        var states = tape.NewTensor(new Shape(steps, n, hidden));
        var hPrev = h0 ?? ZeroState(tape, n, hidden);
        bool needsGrad = false;
        for (int t = 0; t < steps; t++)
        {
            var gh = hiddenToHidden(hPrev);
            CheckHiddenGates(op, gh, n, width, t);
            needsGrad |= Tape.NeedsGrad(inputGates, gh, hPrev);
            var h = StepState(tape, states, t, n, hidden, needsGrad);
            var gates = tape.NewTensor(new Shape(n, width));
            RecurrentCells.GruForward(n, hidden, inputGates.Data.Slice(t * gLen, gLen), gh.Data, hPrev.Data, gates.Data, h.Data);
            if (needsGrad)
            {
                ref var node = ref tape.Record(op, &GruStepBackward, h);
                node.A = inputGates; node.B = gh; node.C = hPrev; node.Saved0 = gates; node.I0 = t * gLen; node.I1 = n; node.I2 = hidden;
            }
            tape.Finish(op, h);
            hPrev = h;
        }
        return tape.Finish(op, states);
    }

    static void GruStepBackward(ref Node node)
    {
        int n = node.I1, hidden = node.I2, gLen = 3 * n * hidden;
        var dgx = GradOf(node.A);
        RecurrentCells.GruBackward(n, hidden, node.B!.Data, node.C!.Data, node.Saved0!.Data, node.Out.Grad,
            dgx.IsEmpty ? dgx : dgx.Slice(node.I0, gLen), GradOf(node.B), GradOf(node.C));
    }
}
