using Lora.Autograd;
using Lora.Core.Modules;
using Lora.Kernels;

namespace Lora.Core.Lora;

/// <summary>A Linear layer with low-rank adapters: y = x·Wᵀ + b + Σ_active s_i·(d_i(x)·A_iᵀ)·B_iᵀ.</summary>
/// <remarks>
/// <para>Parameter names follow PEFT: <c>base_layer.weight</c>, <c>base_layer.bias</c>, <c>lora_A.{adapter}.weight</c>
/// (r, in) and <c>lora_B.{adapter}.weight</c> (out, r).</para>
/// <para>With one active adapter and a frozen W, the forward and backward run on the fused kernel
/// (<see cref="Ops.LoraLinear"/> over a <see cref="PackedWeight"/> copy of W, repacked whenever this class changes W:
/// merge, unmerge, PiSSA, <see cref="RefreshPackedWeight"/>). Further active adapters add their terms through
/// plain ops; a trainable W falls back to <see cref="Ops.Linear"/> plus the LoRA terms.</para>
/// <para>Merging folds the active adapters into W (W += s·B·A) so inference costs one GEMM. <b>Training while
/// merged is an error</b>: a forward with gradients enabled, in training mode, throws
/// <see cref="InvalidOperationException"/>, because the adapters' gradients would be computed against a W that
/// already contains them. Call <see cref="Unmerge"/> first (we refuse rather than silently unmerge, which would
/// change W under a caller that asked for it merged). Disabling adapters on a merged layer unmerges it, as PEFT does.</para>
/// </remarks>
public sealed class LoraLinear : Module
{
    readonly List<LoraAdapter> _adapters = [];
    readonly List<LoraAdapter> _active = [];
    readonly List<LoraAdapter> _merged = [];
    PackedWeight? _packed;
    bool _packedStale = true;
    LoraAdapter[] _activeArray = [];

    /// <summary>Wraps <paramref name="baseLayer"/> (which becomes the child <c>base_layer</c>).</summary>
    public LoraLinear(Linear baseLayer)
    {
        ArgumentNullException.ThrowIfNull(baseLayer);
        BaseLayer = RegisterModule("base_layer", baseLayer);
    }

    /// <summary>The wrapped layer, holding W and b.</summary>
    public Linear BaseLayer { get; }

    /// <summary>in.</summary>
    public int InFeatures => BaseLayer.InFeatures;

    /// <summary>out.</summary>
    public int OutFeatures => BaseLayer.OutFeatures;

    /// <summary>Every adapter, in the order added.</summary>
    public IReadOnlyList<LoraAdapter> Adapters => _adapters;

    /// <summary>The adapters whose deltas the forward adds, in the order added.</summary>
    public IReadOnlyList<LoraAdapter> ActiveAdapters => _active;

    /// <summary>The adapters currently folded into W.</summary>
    public IReadOnlyList<LoraAdapter> MergedAdapters => _merged;

    /// <summary>True while some adapter is merged into W.</summary>
    public bool IsMerged => _merged.Count > 0;

    /// <summary>True when adapters are disabled: the forward is the base layer's.</summary>
    public bool AdaptersDisabled { get; private set; }

    /// <summary>The adapter named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No such adapter.</exception>
    public LoraAdapter GetAdapter(string name) =>
        _adapters.Find(a => a.Name == name) ?? throw new ArgumentException(
            $"Layer has no adapter '{name}' (adapters: {string.Join(", ", _adapters.Select(a => a.Name))}).", nameof(name));

    /// <summary>Adds an adapter with the given factors (copied) and makes it active.</summary>
    /// <exception cref="ArgumentException">A duplicate or invalid name, wrong shapes, bad alpha or dropout.</exception>
    public LoraAdapter AddAdapter(string name, int rank, double alpha, bool useRsLora, double dropout,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, ulong seed = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Contains('.')) throw new ArgumentException($"Adapter name '{name}' must not contain a dot.", nameof(name));
        if (_adapters.Exists(x => x.Name == name)) throw new ArgumentException($"Layer already has an adapter '{name}'.", nameof(name));
        if (rank < 1) throw new ArgumentException($"Adapter '{name}': rank {rank} must be at least 1.", nameof(rank));
        if (a.Length != rank * InFeatures || b.Length != OutFeatures * rank)
            throw new ArgumentException($"Adapter '{name}': A has {a.Length} and B {b.Length} elements, expected ({rank}, {InFeatures}) and ({OutFeatures}, {rank}).");
        if (!(double.IsFinite(alpha) && alpha > 0)) throw new ArgumentException($"Adapter '{name}': alpha {alpha} must be finite and positive.", nameof(alpha));
        if (!(dropout >= 0 && dropout < 1)) throw new ArgumentException($"Adapter '{name}': dropout {dropout} must be in [0, 1).", nameof(dropout));
        var pa = new Parameter($"lora_A.{name}.weight", a.ToArray(), new Shape(rank, InFeatures));
        var pb = new Parameter($"lora_B.{name}.weight", b.ToArray(), new Shape(OutFeatures, rank));
        RegisterParameter($"lora_A.{name}.weight", pa);
        RegisterParameter($"lora_B.{name}.weight", pb);
        var adapter = new LoraAdapter(name, pa, pb, alpha, useRsLora, (float)dropout, seed);
        _adapters.Add(adapter);
        _active.Add(adapter);
        Refresh();
        return adapter;
    }

    /// <summary>Chooses the active adapters (their deltas add up in the forward).</summary>
    /// <exception cref="ArgumentException">An unknown name.</exception>
    /// <exception cref="InvalidOperationException">The layer is merged (unmerge first).</exception>
    public void SetActiveAdapters(params string[] names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var chosen = names.Select(GetAdapter).ToList();
        if (IsMerged) throw new InvalidOperationException("Cannot change the active adapters of a merged layer; call Unmerge() first.");
        _active.Clear();
        foreach (var a in _adapters) if (chosen.Contains(a)) _active.Add(a);
        Refresh();
    }

    /// <summary>Turns the adapters off (forward = base layer), unmerging first when merged.</summary>
    public void DisableAdapters()
    {
        if (IsMerged) Unmerge();
        AdaptersDisabled = true;
    }

    /// <summary>Turns the adapters back on.</summary>
    public void EnableAdapters() => AdaptersDisabled = false;

    /// <summary>Folds the active adapters that are not yet merged into W: W += s·B·A.</summary>
    /// <remarks>Rounding: each element of W changes by at most (r + 1)·2⁻²⁴·(|W| + s·Σ|B||A|) per adapter
    /// (see <see cref="LoraMath.AddDelta"/>).</remarks>
    public void Merge()
    {
        if (AdaptersDisabled) throw new InvalidOperationException("Adapters are disabled; enable them before merging.");
        foreach (var a in _active)
        {
            if (_merged.Contains(a)) continue;
            LoraMath.AddDelta(BaseLayer.Weight.Data, OutFeatures, InFeatures, a.Rank, a.Scale, a.A.Data, a.B.Data, +1f);
            _merged.Add(a);
        }
        _packedStale = true;
    }

    /// <summary>Subtracts the merged adapters from W again, in reverse order (W restored up to rounding).</summary>
    public void Unmerge()
    {
        for (int i = _merged.Count - 1; i >= 0; i--)
        {
            var a = _merged[i];
            LoraMath.AddDelta(BaseLayer.Weight.Data, OutFeatures, InFeatures, a.Rank, a.Scale, a.A.Data, a.B.Data, -1f);
        }
        _merged.Clear();
        _packedStale = true;
    }

    /// <summary>Merges the active adapters and returns the base layer (W now including them), to be used in place of
    /// this wrapper. With adapters disabled nothing is merged: the base layer comes back as it is.</summary>
    public Linear MergeAndUnload()
    {
        if (!AdaptersDisabled) Merge();
        _merged.Clear();
        return BaseLayer;
    }

    /// <summary>Removes an adapter (unmerging the layer first if that adapter is merged).</summary>
    public void DeleteAdapter(string name)
    {
        var a = GetAdapter(name);
        if (_merged.Contains(a)) Unmerge();
        UnregisterParameter($"lora_A.{name}.weight");
        UnregisterParameter($"lora_B.{name}.weight");
        _adapters.Remove(a);
        _active.Remove(a);
        Refresh();
    }

    /// <summary>Adds adapter <paramref name="newName"/> whose delta is exactly Σ weight_i·s_i·B_i·A_i over the named
    /// adapters, by concatenating their ranks (rank Σr_i, alpha = rank so s = 1). The new adapter is not activated.</summary>
    public LoraAdapter AddWeightedAdapter(string newName, IReadOnlyList<(string Adapter, float Weight)> sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        if (sources.Count == 0) throw new ArgumentException("AddWeightedAdapter: no source adapters given.", nameof(sources));
        var parts = sources.Select(s => { var a = GetAdapter(s.Adapter); return (a.A.ToArray(), a.B.ToArray(), a.Rank, a.Scale, s.Weight); }).ToList();
        var (ca, cb, rank) = LoraMath.Concatenate(OutFeatures, InFeatures, parts);
        var wasActive = _active.ToList();
        var added = AddAdapter(newName, rank, rank, useRsLora: false, 0, ca, cb);
        _active.Clear();
        _active.AddRange(wasActive);
        Refresh();
        return added;
    }

    /// <summary>Packs W again for the fused kernel; call after changing <c>BaseLayer.Weight</c> directly.</summary>
    public void RefreshPackedWeight() => _packedStale = true;

    void Refresh() => _activeArray = _active.ToArray();

    PackedWeight Packed()
    {
        _packed ??= new PackedWeight(OutFeatures, InFeatures);
        if (_packedStale)
        {
            _packed.Pack(BaseLayer.Weight.Data);
            _packedStale = false;
        }
        return _packed;
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x)
    {
        var w = BaseLayer.Weight;
        var bias = BaseLayer.Bias;
        if (AdaptersDisabled || _activeArray.Length == 0) return Ops.Linear(x, w, bias);
        if (IsMerged)
        {
            if (Training && Tape.IsGradEnabled && AnyAdapterTrainable())
                throw new InvalidOperationException(
                    $"LoRA layer '{w.Name}' is merged: training it would compute adapter gradients against a W that already contains them. Call Unmerge() before training.");
            return Ops.Linear(x, w, bias);
        }
        Tensor y;
        int first;
        if (w.Frozen)
        {
            var a0 = _activeArray[0];
            y = Ops.LoraLinear(x, Packed(), a0.A, a0.B, bias, a0.Scale, DropoutOf(a0), NextSeed(a0));
            first = 1;
        }
        else
        {
            y = Ops.Linear(x, w, bias);
            first = 0;
        }
        for (int i = first; i < _activeArray.Length; i++)
        {
            var ad = _activeArray[i];
            var xin = ad.Dropout > 0 && Training ? Ops.Dropout(x, ad.Dropout, NextSeed(ad)) : x;
            var h = Ops.Linear(xin, ad.A);                  // (n, r) = x·Aᵀ
            y = Ops.Add(y, Ops.Scale(Ops.Linear(h, ad.B), ad.Scale));
        }
        return y;
    }

    float DropoutOf(LoraAdapter a) => Training ? a.Dropout : 0f;

    ulong NextSeed(LoraAdapter a) => Training && a.Dropout > 0 ? Dropout.MixSeed(a.Seed, a.Calls++) : 0;

    bool AnyAdapterTrainable()
    {
        foreach (var a in _activeArray) if (!a.A.Frozen || !a.B.Frozen) return true;
        return false;
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"LoraLinear(in={InFeatures}, out={OutFeatures}, adapters=[{string.Join(", ", _adapters.Select(a => $"{a.Name} r={a.Rank}"))}])";
}
