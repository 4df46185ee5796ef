using Lora.Autograd;

namespace Lora.Core.Modules;

/// <summary>
/// A single-layer GRU, PyTorch's <c>nn.GRU(batch_first=True)</c>, for x (N, T, in) → all states (N, T, H):
/// r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
/// n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h′ = (1 − z) ⊙ n + z ⊙ h.
/// </summary>
/// <remarks>
/// The children <c>ih</c> (in → 3H) and <c>hh</c> (H → 3H) are ordinary <see cref="Linear"/> layers whose rows are
/// the gates in PyTorch's order (r, z, n), so <c>weight_ih_l0</c>/<c>weight_hh_l0</c> load as they are and LoRA
/// targets such as <c>rnn.ih</c> and <c>rnn.hh</c> wrap them like any other Linear. Initialisation: every weight
/// and bias ~ U(−1/√H, 1/√H), as in PyTorch. Backpropagation through time runs on the tape; see
/// <see cref="RecurrentLayer"/> and <see cref="Ops.GruRecurrence"/>.
/// </remarks>
public sealed class Gru : RecurrentLayer
{
    /// <summary>A layer with PyTorch's initialisation drawn from <paramref name="rng"/>.</summary>
    /// <exception cref="ArgumentException">A size below 1.</exception>
    public Gru(int inputSize, int hiddenSize, SeededRandom rng)
        : base(nameof(Gru), inputSize, hiddenSize, 3, rng ?? throw new ArgumentNullException(nameof(rng))) { }

    /// <summary>A zero-initialised layer (for loading weights).</summary>
    /// <exception cref="ArgumentException">A size below 1.</exception>
    public Gru(int inputSize, int hiddenSize) : base(nameof(Gru), inputSize, hiddenSize, 3, null) { }

    private protected override Tensor Recur(Tensor inputGates, Tensor? h0, Func<Tensor, Tensor> hiddenToHidden)
        => Ops.GruRecurrence(inputGates, h0, hiddenToHidden);

    /// <inheritdoc/>
    public override string ToString() => $"Gru(in={InputSize}, hidden={HiddenSize})";
}
