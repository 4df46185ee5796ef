using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>The same elements under another shape with the same element count: a view, no copy.</summary>
    /// <remarks>Writes through either tensor show in both. Backward: dx += dy (same elements, same order).</remarks>
    public static Tensor Reshape(Tensor x, Shape shape)
    {
        const string op = "Reshape";
        RequireNotNull(op, x);
        if (shape.Length != x.Length) throw new ArgumentException($"{op}: {x.Describe()} has {x.Length} elements; shape {shape} has {shape.Length}.");
        var tape = Tape.Current;
        var y = tape.NewView(x, shape);
        if (Tape.NeedsGrad(x))
        {
            ref var node = ref tape.Record(op, &ReshapeBackward, y);
            node.A = x;
        }
        return y;
    }

    static void ReshapeBackward(ref Node node) => Elementwise.AddInto(node.Out.Grad, node.A!.Grad);
}
