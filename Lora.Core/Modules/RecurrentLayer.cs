using Lora.Autograd;

namespace Lora.Core.Modules;

/// <summary>
/// What <see cref="ElmanRnn"/> and <see cref="Gru"/> share: the children <c>ih</c> and <c>hh</c> (ordinary
/// <see cref="Linear"/> layers with bias), PyTorch's initialisation, the input checks, and a forward that runs
/// <c>ih</c> once over all N·T rows and <c>hh</c> once per step.
/// </summary>
/// <remarks>
/// <para>The forward moves x (N, T, in) to time-major (T, N, in) so that the one big input GEMM leaves each step's
/// pre-activations as a contiguous (N, G) block, runs the recurrence (one fused node per step, see
/// <see cref="Ops.ElmanRecurrence"/> and <see cref="Ops.GruRecurrence"/>) and moves the states back to (N, T, H).</para>
/// <para>It always calls the <em>current</em> children's <see cref="Module.Forward"/>, so when
/// <c>LoraModel.ApplyLora</c> replaces <c>ih</c> or <c>hh</c> with a LoRA wrapper the adapters take effect with
/// no change here. PyTorch's parameter names map as <c>weight_ih_l0</c> → <c>ih.weight</c>,
/// <c>bias_ih_l0</c> → <c>ih.bias</c>, <c>weight_hh_l0</c> → <c>hh.weight</c>, <c>bias_hh_l0</c> → <c>hh.bias</c>.</para>
/// </remarks>
public abstract class RecurrentLayer : Module
{
    Module _ih, _hh;
    readonly Func<Tensor, Tensor> _hiddenToHidden; // made once: the forward allocates nothing

    /// <summary>Builds <c>ih</c> (in → gates·H) and <c>hh</c> (H → gates·H); with <paramref name="rng"/>, every
    /// weight and bias ~ U(−1/√H, 1/√H) as in PyTorch (drawn in PyTorch's order: W_ih, W_hh, b_ih, b_hh), else zeros.</summary>
    /// <exception cref="ArgumentException">A size below 1.</exception>
    private protected RecurrentLayer(string kind, int inputSize, int hiddenSize, int gates, SeededRandom? rng)
    {
        if (inputSize < 1 || hiddenSize < 1)
            throw new ArgumentException($"{kind}(inputSize: {inputSize}, hiddenSize: {hiddenSize}): both sizes must be at least 1.");
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        var ih = new Linear(inputSize, gates * hiddenSize);
        var hh = new Linear(hiddenSize, gates * hiddenSize);
        if (rng != null)
        {
            float bound = (float)(1 / Math.Sqrt(hiddenSize));
            rng.FillUniform(ih.Weight.Data, -bound, bound);
            rng.FillUniform(hh.Weight.Data, -bound, bound);
            rng.FillUniform(ih.Bias!.Data, -bound, bound);
            rng.FillUniform(hh.Bias!.Data, -bound, bound);
        }
        _ih = RegisterModule("ih", ih);
        _hh = RegisterModule("hh", hh);
        _hiddenToHidden = h => _hh.Forward(h);
    }

    /// <summary>in, the width of each input vector x_t.</summary>
    public int InputSize { get; }

    /// <summary>H, the width of the hidden state.</summary>
    public int HiddenSize { get; }

    /// <summary>The child <c>ih</c>: a <see cref="Linear"/> (in → gates·H), or whatever replaced it (e.g. a LoRA wrapper).</summary>
    public Module InputToHidden => _ih;

    /// <summary>The child <c>hh</c>: a <see cref="Linear"/> (H → gates·H), or whatever replaced it.</summary>
    public Module HiddenToHidden => _hh;

    /// <inheritdoc/>
    protected override void OnChildReplaced(string name, Module module)
    {
        if (name == "ih") _ih = module;
        else if (name == "hh") _hh = module;
    }

    /// <summary>All hidden states (N, T, H) for a batch-first input x (N, T, in), starting from h₀ = 0.</summary>
    public override Tensor Forward(Tensor x) => Forward(x, null);

    /// <summary>All hidden states (N, T, H) for a batch-first input x (N, T, in), starting from
    /// <paramref name="h0"/> (N, H) (null: zeros). The last state is the output's step T − 1.</summary>
    /// <exception cref="ArgumentException">x is not (N, T, in) with N, T ≥ 1, or h₀ is not (N, H).</exception>
    public Tensor Forward(Tensor x, Tensor? h0)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Shape.Rank != 3 || x.Shape[2] != InputSize || x.Shape[0] < 1 || x.Shape[1] < 1)
            throw new ArgumentException($"{this}: the input {x} must be batch-first (N, T, {InputSize}) with N, T ≥ 1.", nameof(x));
        int n = x.Shape[0];
        if (h0 != null && (h0.Shape.Rank != 2 || h0.Shape[0] != n || h0.Shape[1] != HiddenSize))
            throw new ArgumentException($"{this}: the initial state {h0} must be ({n}, {HiddenSize}) for the input {x}.", nameof(h0));
        var inputGates = _ih.Forward(Ops.SwapLeadingAxes(x)); // (T, N, G): one GEMM over all N·T rows
        var states = Recur(inputGates, h0, _hiddenToHidden);  // (T, N, H)
        return Ops.SwapLeadingAxes(states);
    }

    /// <summary>The recurrence over the time-major input pre-activations (T, N, gates·H); returns the states (T, N, H).</summary>
    private protected abstract Tensor Recur(Tensor inputGates, Tensor? h0, Func<Tensor, Tensor> hiddenToHidden);
}
