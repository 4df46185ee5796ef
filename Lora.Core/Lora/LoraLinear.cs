using Lora.Autograd;
using Lora.Core.Modules;
using Lora.Kernels;

namespace Lora.Core.Lora;

/// <summary>A Linear layer with low-rank adapters: y = x·Wᵀ + b + Σ_active s_i·(d_i(x)·A_iᵀ)·B_iᵀ.</summary>
/// <remarks>
/// <para>Parameter names follow PEFT: <c>base_layer.weight</c>, <c>base_layer.bias</c>, <c>lora_A.{adapter}.weight</c>
/// (r, in) and <c>lora_B.{adapter}.weight</c> (out, r). Adapter management, merging and the rule against training while
/// merged are <see cref="LoraLayer"/>'s.</para>
/// <para>With one active adapter and a frozen W, the forward and backward run on the fused kernel
/// (<see cref="Ops.LoraLinear"/> over a <see cref="PackedWeight"/> copy of W, repacked whenever W changes through the
/// layer: merge, unmerge, PiSSA, <see cref="LoraLayer.RefreshBaseWeight"/>, and when W has been unfrozen since it was
/// packed, since it may have been trained; only an edit of a frozen W's values from outside needs
/// <see cref="LoraLayer.RefreshBaseWeight"/>). Further active adapters add their terms
/// through plain ops; a trainable W falls back to <see cref="Ops.Linear"/> plus the LoRA terms.</para>
/// </remarks>
public sealed class LoraLinear : LoraLayer
{
    readonly object _packLock = new();
    PackedWeight? _packed;
    volatile bool _packedStale = true;
    long _packedAtUnfreeze;

    /// <summary>Wraps <paramref name="baseLayer"/> (which becomes the child <c>base_layer</c>).</summary>
    public LoraLinear(Linear baseLayer) : base(baseLayer) => BaseLayer = baseLayer;

    /// <summary>The wrapped layer, holding W and b.</summary>
    public new Linear BaseLayer { get; }

    /// <summary>in.</summary>
    public int InFeatures => BaseLayer.InFeatures;

    /// <summary>out.</summary>
    public int OutFeatures => BaseLayer.OutFeatures;

    /// <inheritdoc/>
    public override Parameter BaseWeight => BaseLayer.Weight;

    /// <inheritdoc/>
    public override Parameter? BaseBias => BaseLayer.Bias;

    /// <inheritdoc/>
    public override int FanIn => BaseLayer.InFeatures;

    /// <inheritdoc/>
    public override int FanOut => BaseLayer.OutFeatures;

    /// <summary>Merges the active adapters and returns the base Linear (W now including them), to be used in place of
    /// this wrapper. With adapters disabled nothing is merged.</summary>
    public new Linear MergeAndUnload() => (Linear)base.MergeAndUnload();

    /// <inheritdoc/>
    protected override void OnBaseWeightChanged() => _packedStale = true;

    // Repacked after this class changed W, and after W was unfrozen since the last pack (it may have been trained).
    // The lock makes the first pack safe when several threads run inference on the model at once; the fast path
    // only reads.
    PackedWeight Packed()
    {
        var w = BaseLayer.Weight;
        if (!_packedStale && w.UnfreezeCount == Volatile.Read(ref _packedAtUnfreeze) && _packed is { } current) return current;
        lock (_packLock)
        {
            _packed ??= new PackedWeight(OutFeatures, InFeatures);
            if (_packedStale || w.UnfreezeCount != _packedAtUnfreeze)
            {
                _packed.Pack(w.Data);
                Volatile.Write(ref _packedAtUnfreeze, w.UnfreezeCount);
                _packedStale = false;
            }
            return _packed;
        }
    }

    /// <inheritdoc/>
    protected override Tensor ForwardBase(Tensor x) => Ops.Linear(x, BaseLayer.Weight, BaseLayer.Bias);

    /// <inheritdoc/>
    protected override Tensor ForwardAdapted(Tensor x, ReadOnlySpan<LoraAdapter> active)
    {
        var w = BaseLayer.Weight;
        var bias = BaseLayer.Bias;
        if (ActiveDora(active) is { } dora) return ForwardDora(x, dora);
        Tensor y;
        int first;
        if (w.Frozen)
        {
            var a0 = active[0];
            y = Ops.LoraLinear(x, Packed(), a0.A, a0.B, bias, a0.Scale, DropoutOf(a0), NextSeed(a0));
            first = 1;
        }
        else
        {
            y = Ops.Linear(x, w, bias);
            first = 0;
        }
        for (int i = first; i < active.Length; i++)
        {
            var ad = active[i];
            var xin = DropoutOf(ad) > 0 ? Ops.Dropout(x, ad.Dropout, NextSeed(ad)) : x;
            var h = Ops.Linear(xin, ad.A);                  // (n, r) = x·Aᵀ
            y = Ops.Add(y, Ops.Scale(Ops.Linear(h, ad.B), ad.Scale));
        }
        return y;
    }

    // DoRA: y = c ⊙ (x·Wᵀ + s·(x·Aᵀ)·Bᵀ) + b with c = m/‖W + s·B·A‖ per output, the norm a constant (PEFT's
    // c·(base + s·lora) written as one fused product). With dropout in training, PEFT feeds the dropped input x̃ to
    // both the LoRA term and the rescaled base: y = x·Wᵀ + b + (c − 1) ⊙ x̃·Wᵀ + c ⊙ s·(x̃·Aᵀ)·Bᵀ.
    Tensor ForwardDora(Tensor x, LoraAdapter ad)
    {
        var w = BaseLayer.Weight;
        var c = DoraScale(ad); // (out)
        if (DropoutOf(ad) > 0)
        {
            var dropped = Ops.Dropout(x, ad.Dropout, NextSeed(ad));
            var droppedBase = Ops.Linear(dropped, w);
            var lora = Ops.Scale(Ops.Linear(Ops.Linear(dropped, ad.A), ad.B), ad.Scale);
            var rescaled = Ops.Sub(Ops.Mul(Ops.Add(droppedBase, lora), c), droppedBase); // (c − 1)·x̃Wᵀ + c·s·lora
            return Ops.Add(Ops.Linear(x, w, BaseLayer.Bias), rescaled);
        }
        var fused = w.Frozen
            ? Ops.LoraLinear(x, Packed(), ad.A, ad.B, null, ad.Scale)
            : Ops.Add(Ops.Linear(x, w), Ops.Scale(Ops.Linear(Ops.Linear(x, ad.A), ad.B), ad.Scale));
        var y = Ops.Mul(fused, c);
        return BaseLayer.Bias is { } bias ? Ops.Add(y, bias) : y;
    }
}
