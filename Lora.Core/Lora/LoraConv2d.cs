using Lora.Autograd;
using Lora.Core.Modules;

namespace Lora.Core.Lora;

/// <summary>A 2-D convolution with low-rank adapters (PEFT's formulation):
/// y = conv(x, W) + b + Σ_active s_i·conv1×1(conv(d_i(x), A_i), B_i).</summary>
/// <remarks>
/// <para>A_i is a convolution with r output channels and the base kernel's size, stride and padding, B_i a 1×1
/// convolution back to the output channels. Parameter names and shapes follow PEFT: <c>base_layer.weight</c>
/// (out, in, k, k), <c>base_layer.bias</c>, <c>lora_A.{adapter}.weight</c> (r, in, k, k) and
/// <c>lora_B.{adapter}.weight</c> (out, r, 1, 1); seen flat, A is (r, in·k·k) and B (out, r), so ΔW = s·B·A on the
/// kernel viewed as (out, in·k·k) and merging is <see cref="LoraLayer"/>'s default.</para>
/// <para>A DoRA adapter (<see cref="LoraAdapter.UseDora"/>) rescales each output channel by m/‖W + s·B·A‖, the norm
/// over that channel's whole filter (in, k, k) and its magnitude stored as PEFT stores it, (1, out, 1, 1).</para>
/// <para>The first active adapter runs on the fused kernel (<see cref="Ops.LoraConv2d"/>: the image columns are
/// unfolded once and shared by W and A); further active adapters add their terms through plain convolutions. A
/// trainable W (full fine-tuning) gets its gradient from the same fused op.</para>
/// </remarks>
public sealed class LoraConv2d : LoraLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/> (which becomes the child <c>base_layer</c>).</summary>
    public LoraConv2d(Conv2d baseLayer) : base(baseLayer) => BaseLayer = baseLayer;

    /// <summary>The wrapped convolution, holding W and b.</summary>
    public new Conv2d BaseLayer { get; }

    /// <inheritdoc/>
    public override Parameter BaseWeight => BaseLayer.Weight;

    /// <inheritdoc/>
    public override Parameter? BaseBias => BaseLayer.Bias;

    /// <summary>in·k·k, the columns of the flat A.</summary>
    public override int FanIn => BaseLayer.InChannels * BaseLayer.KernelSize * BaseLayer.KernelSize;

    /// <summary>out, the rows of the flat B.</summary>
    public override int FanOut => BaseLayer.OutChannels;

    /// <summary>Merges the active adapters and returns the base convolution (W now including them), to be used in place
    /// of this wrapper. With adapters disabled nothing is merged.</summary>
    public new Conv2d MergeAndUnload() => (Conv2d)base.MergeAndUnload();

    /// <inheritdoc/>
    protected override Tensor ForwardBase(Tensor x) => BaseLayer.Forward(x);

    /// <inheritdoc/>
    protected override Tensor ForwardAdapted(Tensor x, ReadOnlySpan<LoraAdapter> active)
    {
        var conv = BaseLayer;
        if (ActiveDora(active) is { } dora) return ForwardDora(x, dora);
        var a0 = active[0];
        var y = Ops.LoraConv2d(x, conv.Weight, a0.A, a0.B, conv.Bias, a0.Scale, conv.Stride, conv.Padding, DropoutOf(a0), NextSeed(a0));
        for (int i = 1; i < active.Length; i++)
        {
            var ad = active[i];
            var xin = DropoutOf(ad) > 0 ? Ops.Dropout(x, ad.Dropout, NextSeed(ad)) : x;
            var h = Ops.Conv2d(xin, ad.A, null, conv.Stride, conv.Padding); // (n, r, oh, ow)
            y = Ops.Add(y, Ops.Scale(Ops.Conv2d(h, ad.B), ad.Scale));        // B as a 1×1 convolution
        }
        return y;
    }

    // DoRA as PEFT runs it on a convolution: y = c ⊙ (conv(x, W) + s·B(A(x))) + b per output channel, c = m/‖W + s·B·A‖
    // over each output filter (the norm a constant), written as the fused op without its bias, rescaled. With dropout
    // in training, PEFT feeds the dropped x̃ to the LoRA term and to the rescaled base:
    // y = conv(x, W) + b + (c − 1) ⊙ conv(x̃, W) + c ⊙ s·B(A(x̃)).
    Tensor ForwardDora(Tensor x, LoraAdapter ad)
    {
        var conv = BaseLayer;
        var c = DoraScale(ad); // (out)
        if (DropoutOf(ad) > 0)
        {
            var dropped = Ops.Dropout(x, ad.Dropout, NextSeed(ad));
            var fused = Ops.LoraConv2d(dropped, conv.Weight, ad.A, ad.B, null, ad.Scale, conv.Stride, conv.Padding);
            var droppedBase = Ops.Conv2d(dropped, conv.Weight, null, conv.Stride, conv.Padding);
            var rescaled = Ops.Sub(Ops.ChannelAffine(fused, c), droppedBase);
            return Ops.Add(Ops.Conv2d(x, conv.Weight, conv.Bias, conv.Stride, conv.Padding), rescaled);
        }
        return Ops.ChannelAffine(Ops.LoraConv2d(x, conv.Weight, ad.A, ad.B, null, ad.Scale, conv.Stride, conv.Padding), c, conv.Bias);
    }
}
