namespace Lora.Autograd;

// Shared by ElmanRecurrence and GruRecurrence: the time-major sequence of hidden states and its per-step views.
public static unsafe partial class Ops
{
    /// <summary>Checks the input pre-activations (T, N, gates·H) and h₀ (N, H) of a recurrence; returns H.</summary>
    static int CheckRecurrence(string op, Tensor inputGates, int gates, Tensor? h0, Func<Tensor, Tensor> hiddenToHidden)
    {
        ArgumentNullException.ThrowIfNull(inputGates);
        ArgumentNullException.ThrowIfNull(hiddenToHidden);
        RequireRank(op, inputGates, 3, 3);
        int width = inputGates.Shape[2], n = inputGates.Shape[1];
        if (width % gates != 0 || width == 0)
            throw new ArgumentException($"{op}: the input pre-activations {inputGates.Describe()} must be (T, N, {gates}·H) with H ≥ 1.");
        int hidden = width / gates;
        if (h0 != null && (h0.Shape.Rank != 2 || h0.Shape[0] != n || h0.Shape[1] != hidden))
            throw new ArgumentException($"{op}: the initial state {h0.Describe()} must be ({n}, {hidden}) for the input pre-activations {inputGates.Describe()}.");
        return hidden;
    }

    /// <summary>Checks what the hidden-to-hidden map returned at step t: (N, gates·H).</summary>
    static void CheckHiddenGates(string op, Tensor gh, int n, int width, int t)
    {
        if (gh is null || gh.Shape.Rank != 2 || gh.Shape[0] != n || gh.Shape[1] != width)
            throw new ArgumentException($"{op}: at step {t} the hidden-to-hidden map returned {gh?.Describe() ?? "null"}; expected ({n}, {width}).");
    }

    /// <summary>A zero (n, h) activation: the initial state when none is given.</summary>
    static Tensor ZeroState(Tape tape, int n, int hidden)
    {
        var z = tape.NewTensor(new Shape(n, hidden));
        z.Data.Clear();
        return z;
    }

    /// <summary>Step t's hidden state: a view of rows [t·N, (t+1)·N) of <paramref name="states"/> (T·N, H). Once
    /// the sequence needs gradients its gradient is the same rows of the states' gradient, so what flows into
    /// h_t from the next step's hidden-to-hidden map and from the layer's output meets in one place, with no copy
    /// and no stack op.</summary>
    static Tensor StepState(Tape tape, Tensor states, int t, int n, int hidden, bool needsGrad)
    {
        int len = n * hidden;
        var h = tape.NewView(states, new Shape(n, hidden));
        h._offset = states._offset + t * len;
        if (needsGrad)
        {
            if (!states._requiresGrad)
            {
                states._requiresGrad = true;
                _ = states.Grad; // allocated (pooled) and zeroed now, so the views can share it
            }
            h._grad = states._grad;
            h._gradOffset = states._gradOffset + t * len;
        }
        return h;
    }
}
