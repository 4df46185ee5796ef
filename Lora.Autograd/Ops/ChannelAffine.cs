using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>y[n, c, …] = x[n, c, …]·γ[c] + β[c]: one scale (and optionally one shift) per channel of an
    /// (n, channels, …) tensor, the channel being axis 1 (a convolution's output, or any (n, c) matrix).</summary>
    /// <remarks>
    /// γ and β may have any shape holding exactly one value per channel ((c), (1, c, 1, 1), …).
    /// Backward: dx += dy·γ[c]; dγ[c] += Σ_{n, …} dy·x; dβ[c] += Σ_{n, …} dy.
    /// </remarks>
    /// <exception cref="ArgumentException">x of rank below 2, or γ or β not one value per channel.</exception>
    public static Tensor ChannelAffine(Tensor x, Tensor scale, Tensor? shift = null)
    {
        const string op = "ChannelAffine";
        RequireRank(op, x, 2);
        RequireNotNull(op, scale);
        int channels = x.Shape[1];
        if (scale.Length != channels) throw Mismatch(op, $"the scale must hold one value per channel (axis 1, {channels})", x, scale);
        if (shift != null && shift.Length != channels) throw Mismatch(op, $"the shift must hold one value per channel (axis 1, {channels})", x, shift);
        int n = x.Shape[0], plane = channels == 0 || n == 0 ? 0 : x.Length / (n * channels);
        var tape = Tape.Current;
        var y = tape.NewTensor(x.Shape);
        var xd = x.Data;
        var yd = y.Data;
        var g = scale.Data;
        for (int i = 0; i < n; i++)
            for (int c = 0; c < channels; c++)
            {
                int at = (i * channels + c) * plane;
                var yp = yd.Slice(at, plane);
                Elementwise.Scale(xd.Slice(at, plane), g[c], yp);
                if (shift != null) Elementwise.BinaryWithScalar<AddOperator>(yp, shift.Data[c], yp);
            }
        if (Tape.NeedsGrad(x, scale, shift))
        {
            ref var node = ref tape.Record(op, &ChannelAffineBackward, y);
            node.A = x; node.B = scale; node.C = shift; node.I0 = n; node.I1 = channels; node.I2 = plane;
        }
        return tape.Finish(op, y);
    }

    static void ChannelAffineBackward(ref Node node)
    {
        var dy = node.Out.Grad;
        Tensor x = node.A!, scale = node.B!;
        var shift = node.C;
        int n = node.I0, channels = node.I1, plane = node.I2;
        var xd = x.Data;
        var g = scale.Data;
        for (int i = 0; i < n; i++)
            for (int c = 0; c < channels; c++)
            {
                int at = (i * channels + c) * plane;
                var dyp = dy.Slice(at, plane);
                if (Wants(x)) Elementwise.AddScaled(g[c], dyp, x.Grad.Slice(at, plane));
                if (Wants(scale)) scale.Grad[c] += Reductions.Dot(dyp, xd.Slice(at, plane));
                if (Wants(shift)) shift!.Grad[c] += Reductions.Sum(dyp);
            }
    }
}
