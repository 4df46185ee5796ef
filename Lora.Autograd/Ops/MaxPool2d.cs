using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>Max pooling of x (N, C, H, W) over k×k windows with a stride (default k) and padding ≤ k/2;
    /// y is (N, C, OH, OW), O = (I + 2·pad − k)/stride + 1.</summary>
    /// <remarks>The winner of each window (first maximum in row-major order) is saved; backward routes dy to it.</remarks>
    public static Tensor MaxPool2d(Tensor x, int kernel, int stride = 0, int padding = 0)
    {
        const string op = "MaxPool2d";
        RequireRank(op, x, 4, 4);
        if (stride == 0) stride = kernel;
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        int oh, ow;
        try { oh = Im2Col.OutputSize(h, kernel, stride, padding); ow = Im2Col.OutputSize(w, kernel, stride, padding); }
        catch (ArgumentException e) { throw new ArgumentException($"{op}: {x.Describe()} with kernel {kernel}, stride {stride}, padding {padding}: {e.Message}"); }
        var tape = Tape.Current;
        var y = tape.NewTensor(new Shape(n, c, oh, ow));
        int[] arg = tape.RentInts(y.Length);
        Pooling.MaxPool2dForward(n * c, h, w, kernel, stride, padding, x.Data, y.Data, arg.AsSpan(0, y.Length));
        if (Tape.NeedsGrad(x))
        {
            ref var node = ref tape.Record(op, &MaxPool2dBackward, y);
            node.A = x; node.SavedInts = arg;
        }
        return tape.Finish(op, y);
    }

    static void MaxPool2dBackward(ref Node node)
    {
        var x = node.A!;
        var s = node.Out.Shape;
        Pooling.MaxPool2dBackward(s[0] * s[1], x.Shape[2], x.Shape[3], s[2], s[3], node.Out.Grad,
            node.SavedInts.AsSpan(0, node.Out.Length), x.Grad);
    }
}
