using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Modules;

namespace Lora.Core.Lora;

/// <summary>A layer with low-rank adapters on a frozen base weight: output = base(x) + Σ_active s_i·Δ_i(x).
/// <see cref="LoraLinear"/>, LoraConv2d and LoraEmbedding derive from it; this class owns everything they share:
/// named adapters, the active set, merge and unmerge, disabling, deleting and combining adapters.</summary>
/// <remarks>
/// <para>Every adapter's factors are, seen flat, A (r, <see cref="FanIn"/>) and B (<see cref="FanOut"/>, r), both
/// row-major, whatever tensor shape the layer gives them (a convolution's A is (r, in, kh, kw), the flat view
/// (r, in·kh·kw)). The weight delta is ΔW = s·B·A on the base weight viewed as (FanOut, FanIn), or, for a layer whose
/// weight is stored transposed (an embedding table), its transpose — see <see cref="AddDelta"/>.</para>
/// <para>Merging folds the active adapters into the base weight so inference costs what the base layer costs.
/// <b>Training while merged is an error</b>: a forward with gradients enabled, in training mode, throws
/// <see cref="InvalidOperationException"/>, because the adapters' gradients would be computed against a weight that
/// already contains them. Call <see cref="Unmerge"/> first (we refuse rather than silently unmerge, which would change
/// the weight under a caller that asked for it merged). Disabling adapters on a merged layer unmerges it, as PEFT does.</para>
/// </remarks>
public abstract partial class LoraLayer : Module
{
    readonly List<LoraAdapter> _adapters = [];
    readonly List<LoraAdapter> _active = [];
    readonly List<LoraAdapter> _merged = [];
    LoraAdapter[] _activeArray = [];

    /// <summary>Wraps <paramref name="baseLayer"/>, which becomes the child <c>base_layer</c>.</summary>
    protected LoraLayer(Module baseLayer)
    {
        ArgumentNullException.ThrowIfNull(baseLayer);
        BaseLayer = RegisterModule("base_layer", baseLayer);
    }

    /// <summary>The wrapped layer.</summary>
    public Module BaseLayer { get; }

    /// <summary>The base weight that merging changes.</summary>
    public abstract Parameter BaseWeight { get; }

    /// <summary>The base layer's bias, or null.</summary>
    public abstract Parameter? BaseBias { get; }

    /// <summary>Columns of the flat A (r, FanIn): a linear layer's inputs, a convolution's in·kh·kw, an embedding's rows.</summary>
    public abstract int FanIn { get; }

    /// <summary>Rows of the flat B (FanOut, r): a linear layer's outputs, a convolution's output channels, an embedding's width.</summary>
    public abstract int FanOut { get; }

    /// <summary>The largest useful rank, min(FanIn, FanOut): a larger one cannot add expressiveness.</summary>
    public int MaxRank => Math.Min(FanIn, FanOut);

    /// <summary>The tensor shapes and file keys of this layer's factors (PEFT's layout).</summary>
    public PeftFactorLayout Layout => _layout ??= LoraLayerTypes.LayoutOf(BaseLayer)!; // shapes never change; the forward asks

    PeftFactorLayout? _layout;

    /// <summary>Every adapter, in the order added.</summary>
    public IReadOnlyList<LoraAdapter> Adapters => _adapters;

    /// <summary>The adapters whose deltas the forward adds, in the order added.</summary>
    public IReadOnlyList<LoraAdapter> ActiveAdapters => _active;

    /// <summary>The adapters currently folded into the base weight.</summary>
    public IReadOnlyList<LoraAdapter> MergedAdapters => _merged;

    /// <summary>True while some adapter is merged into the base weight.</summary>
    public bool IsMerged => _merged.Count > 0;

    /// <summary>True when adapters are disabled: the forward is the base layer's.</summary>
    public bool AdaptersDisabled { get; private set; }

    /// <summary>The parameter name of an adapter's A within this layer (PEFT's: <c>lora_A.{adapter}.weight</c>, or
    /// <c>lora_embedding_A.{adapter}</c> for an embedding).</summary>
    protected virtual string NameOfA(string adapter) => Layout.Embedding ? $"lora_embedding_A.{adapter}" : $"lora_A.{adapter}.weight";

    /// <summary>The parameter name of a DoRA adapter's magnitude within this layer (PEFT's:
    /// <c>lora_magnitude_vector.{adapter}.weight</c>).</summary>
    protected static string NameOfMagnitude(string adapter) => $"lora_magnitude_vector.{adapter}.weight";

    /// <summary>The parameter name of an adapter's B within this layer.</summary>
    protected virtual string NameOfB(string adapter) => Layout.Embedding ? $"lora_embedding_B.{adapter}" : $"lora_B.{adapter}.weight";

    /// <summary>The base layer's output with the current base weight (merged or not).</summary>
    protected abstract Tensor ForwardBase(Tensor x);

    /// <summary>The output with the given active adapters added; called only when enabled, unmerged, with ≥ 1 adapter.</summary>
    protected abstract Tensor ForwardAdapted(Tensor x, ReadOnlySpan<LoraAdapter> active);

    /// <summary>Called after this class changes the base weight (merge, unmerge, PiSSA, <see cref="RefreshBaseWeight"/>),
    /// so a subclass can drop caches derived from it (a packed copy).</summary>
    protected virtual void OnBaseWeightChanged() { }

    /// <summary>The base weight has changed: drops what this class derived from it (DoRA's kept squares), then
    /// <see cref="OnBaseWeightChanged"/>. Everything that changes W calls this.</summary>
    protected void BaseWeightChanged()
    {
        Volatile.Write(ref _keptSquares, null);
        OnBaseWeightChanged();
    }

    /// <summary>W ← W + sign·s·ΔW for <paramref name="adapter"/>: by default the base weight viewed as (FanOut, FanIn)
    /// gains sign·s·B·A (one GEMM, <see cref="LoraMath.AddDelta"/>).</summary>
    protected virtual void AddDelta(LoraAdapter adapter, float sign) =>
        LoraMath.AddDelta(BaseWeight.Data, FanOut, FanIn, adapter.Rank, adapter.Scale, adapter.A.Data, adapter.B.Data, sign);

    /// <summary>Fills new factors (flat A (rank, FanIn), B (FanOut, rank)) as PEFT initialises a Linear's: Kaiming-uniform
    /// A with bound 1/√FanIn and B = 0; Gaussian A ~ N(0, 1/r) and B = 0; or PiSSA from the base weight's top singular
    /// triplets, which also moves them out of W (the layer's output is unchanged up to rounding).</summary>
    /// <exception cref="ArgumentException">Spans of the wrong length or an unknown init.</exception>
    public virtual void InitializeFactors(LoraInit init, SeededRandom rng, int rank, float scale, int pissaIterations, Span<float> a, Span<float> b)
    {
        ArgumentNullException.ThrowIfNull(rng);
        CheckFactorLengths(rank, a.Length, b.Length);
        switch (init)
        {
            case LoraInit.KaimingUniform:
                float bound = (float)(1 / Math.Sqrt(FanIn)); // PEFT: kaiming_uniform_(A, a=√5)
                rng.FillUniform(a, -bound, bound);
                b.Clear();
                break;
            case LoraInit.Gaussian:
                rng.FillGaussian(a, 1.0 / rank);              // PEFT: normal_(A, std=1/r)
                b.Clear();
                break;
            case LoraInit.Pissa:
                LoraMath.PissaInit(BaseWeight.Data, FanOut, FanIn, rank, scale, rng.NextUInt64(), pissaIterations, a, b);
                BaseWeightChanged();
                break;
            default:
                throw new ArgumentException($"Unknown LoRA init {init}.", nameof(init));
        }
    }

    /// <summary>Whether this layer holds an adapter named <paramref name="name"/>.</summary>
    public bool HasAdapter(string name) => _adapters.Exists(a => a.Name == name);

    /// <summary>The adapter named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No such adapter.</exception>
    public LoraAdapter GetAdapter(string name) =>
        _adapters.Find(a => a.Name == name) ?? throw new ArgumentException(
            $"Layer has no adapter '{name}' (adapters: {string.Join(", ", _adapters.Select(a => a.Name))}).", nameof(name));

    /// <summary>Chooses the active adapters (their deltas add up in the forward) and, as PEFT's <c>set_adapter</c>
    /// does, makes their factors trainable and freezes the other adapters' factors.</summary>
    /// <remarks>An inactive adapter left trainable gets no gradient, but an optimizer over it would still apply its
    /// weight decay; and the newly active one would train only if it had been unfrozen by hand. Call
    /// <see cref="LoraModel.MarkTrainable"/> or <see cref="Module.Freeze"/> afterwards for another choice.</remarks>
    /// <exception cref="ArgumentException">An unknown name.</exception>
    /// <exception cref="InvalidOperationException">The layer is merged (unmerge first).</exception>
    public void SetActiveAdapters(params string[] names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var chosen = names.Select(GetAdapter).ToList();
        if (IsMerged) throw new InvalidOperationException("Cannot change the active adapters of a merged layer; call Unmerge() first.");
        if (DoraConflict(chosen) is { } conflict) throw new ArgumentException($"Layer '{BaseWeight.Name}': {conflict}.", nameof(names));
        _active.Clear();
        foreach (var a in _adapters) if (chosen.Contains(a)) _active.Add(a);
        SetTrainable();
        Refresh();
    }

    /// <summary>Turns the adapters off (forward = base layer), unmerging first when merged, and freezes every
    /// adapter's factors, as PEFT's <c>enable_adapters(False)</c> does: they get no gradient while off, and an
    /// optimizer left over them must not decay them.</summary>
    public void DisableAdapters()
    {
        if (IsMerged) Unmerge();
        AdaptersDisabled = true;
        SetTrainable();
    }

    /// <summary>Turns the adapters back on, the active adapters' factors trainable and the others frozen (PEFT's
    /// <c>enable_adapters(True)</c>, which sets the active adapters again).</summary>
    public void EnableAdapters()
    {
        AdaptersDisabled = false;
        SetTrainable();
    }

    // PEFT's set_adapter: the active adapters' factors train, the others are frozen; while disabled, all are frozen
    // (they get no gradient). The same rule as ModulesToSaveLayer's copies.
    void SetTrainable()
    {
        foreach (var a in _adapters)
        {
            bool on = !AdaptersDisabled && _active.Contains(a);
            a.SetFrozen(!on);
        }
    }

    /// <summary>Folds the active adapters that are not yet merged into the base weight: W += s·ΔW.</summary>
    /// <remarks>Rounding: each element of W changes by at most (r + 1)·2⁻²⁴·(|W| + s·Σ|B||A|) per adapter
    /// (see <see cref="LoraMath.AddDelta"/>).</remarks>
    public void Merge()
    {
        if (AdaptersDisabled) throw new InvalidOperationException("Adapters are disabled; enable them before merging.");
        if (DoraConflict(_active) is { } conflict) throw new InvalidOperationException($"Layer '{BaseWeight.Name}': {conflict}.");
        foreach (var a in _active)
        {
            if (_merged.Contains(a)) continue;
            if (a.UseDora) DoraMerge(a);
            else AddDelta(a, +1f);
            _merged.Add(a);
        }
        BaseWeightChanged();
    }

    /// <summary>Subtracts the merged adapters from the base weight again, in reverse order (restored up to rounding).</summary>
    public void Unmerge()
    {
        for (int i = _merged.Count - 1; i >= 0; i--)
        {
            if (_merged[i].UseDora) DoraUnmerge(_merged[i]);
            else AddDelta(_merged[i], -1f);
        }
        _merged.Clear();
        BaseWeightChanged();
    }

    /// <summary>Merges the active adapters and returns the base layer (its weight now including them), to be used in
    /// place of this wrapper. With adapters disabled nothing is merged: the base layer comes back as it is.</summary>
    /// <remarks>This wrapper stays merged, so while it is still in a model (replacing it is the caller's job;
    /// <see cref="LoraModel.MergeAndUnload{T}"/> does it) its forward is the returned layer's, not base + adapters
    /// twice, and a second call merges nothing more.</remarks>
    public Module MergeAndUnload()
    {
        if (!AdaptersDisabled) Merge();
        return BaseLayer;
    }

    /// <summary>Tells the layer that the base weight's values were changed outside it while it was frozen (e.g.
    /// written by hand): caches derived from it are rebuilt. Loading a base checkpoint (<c>ModelFiles.LoadInto</c>)
    /// and training an unfrozen weight need no call.</summary>
    public void RefreshBaseWeight() => BaseWeightChanged();

    void Refresh() => _activeArray = _active.ToArray();

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x)
    {
        var active = AdaptersInForward();
        return active.IsEmpty ? ForwardBase(x) : ForwardAdapted(x, active);
    }

    /// <summary>The adapters a forward must add now, or none when the base layer alone computes the output (adapters
    /// disabled, none active, or merged into the weight). A subclass's extra forward overloads dispatch on it too.</summary>
    /// <exception cref="InvalidOperationException">A forward that would train while merged (training mode, gradients
    /// on, a trainable active adapter).</exception>
    protected ReadOnlySpan<LoraAdapter> AdaptersInForward()
    {
        if (AdaptersDisabled || _activeArray.Length == 0) return default;
        if (!IsMerged) return _activeArray;
        if (Training && Tape.IsGradEnabled && AnyAdapterTrainable())
            throw new InvalidOperationException(
                $"LoRA layer '{BaseWeight.Name}' is merged: training it would compute adapter gradients against a weight that already contains them. Call Unmerge() before training.");
        return default;
    }

    /// <summary>The adapter's dropout probability in training mode, 0 in eval mode.</summary>
    protected float DropoutOf(LoraAdapter a) => Training ? a.Dropout : 0f;

    /// <summary>A fresh dropout seed per call in training with dropout (0 otherwise), derived from the adapter's seed.</summary>
    protected ulong NextSeed(LoraAdapter a) => Training && a.Dropout > 0 ? Dropout.MixSeed(a.Seed, a.Calls++) : 0;

    bool AnyAdapterTrainable()
    {
        foreach (var a in _activeArray) if (a.AnyTrainable) return true;
        return false;
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{GetType().Name}({BaseLayer}, adapters=[{string.Join(", ", _adapters.Select(a => $"{a.Name} r={a.Rank}"))}])";
}
