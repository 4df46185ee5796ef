using Lora.Autograd;

namespace Lora.Core.Modules;

/// <summary>
/// A single-layer Elman RNN with tanh, PyTorch's <c>nn.RNN(nonlinearity="tanh", batch_first=True)</c>:
/// h_t = tanh(x_t·W_ihᵀ + b_ih + h_{t−1}·W_hhᵀ + b_hh), for x (N, T, in) → all states (N, T, H).
/// </summary>
/// <remarks>
/// The children <c>ih</c> (in → H) and <c>hh</c> (H → H) are ordinary <see cref="Linear"/> layers, so LoRA targets
/// such as <c>rnn.ih</c> and <c>rnn.hh</c> wrap them like any other Linear. Initialisation: every weight and bias
/// ~ U(−1/√H, 1/√H), as in PyTorch. Backpropagation through time runs on the tape; see <see cref="RecurrentLayer"/>
/// and <see cref="Ops.ElmanRecurrence"/>.
/// </remarks>
public sealed class ElmanRnn : RecurrentLayer
{
    /// <summary>A layer with PyTorch's initialisation drawn from <paramref name="rng"/>.</summary>
    /// <exception cref="ArgumentException">A size below 1.</exception>
    public ElmanRnn(int inputSize, int hiddenSize, SeededRandom rng)
        : base(nameof(ElmanRnn), inputSize, hiddenSize, 1, rng ?? throw new ArgumentNullException(nameof(rng))) { }

    /// <summary>A zero-initialised layer (for loading weights).</summary>
    /// <exception cref="ArgumentException">A size below 1.</exception>
    public ElmanRnn(int inputSize, int hiddenSize) : base(nameof(ElmanRnn), inputSize, hiddenSize, 1, null) { }

    private protected override Tensor Recur(Tensor inputGates, Tensor? h0, Func<Tensor, Tensor> hiddenToHidden)
        => Ops.ElmanRecurrence(inputGates, h0, hiddenToHidden);

    /// <inheritdoc/>
    public override string ToString() => $"ElmanRnn(in={InputSize}, hidden={HiddenSize})";
}
