using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>The scalar y = Σᵢ xᵢ over all elements.</summary>
    /// <remarks>Backward: dxᵢ += dy for every i.</remarks>
    public static Tensor Sum(Tensor x) => Reduce("Sum", x, 1f);

    static Tensor Reduce(string op, Tensor x, float factor)
    {
        RequireNotNull(op, x);
        var tape = Tape.Current;
        var y = tape.NewTensor(Shape.Scalar);
        y.Data[0] = Reductions.Sum(x.Data) * factor;
        if (Tape.NeedsGrad(x))
        {
            ref var node = ref tape.Record(op, &ReduceBackward, y);
            node.A = x; node.F0 = factor;
        }
        return tape.Finish(op, y);
    }

    static void ReduceBackward(ref Node node)
    {
        var dx = node.A!.Grad;
        Elementwise.BinaryWithScalar<AddOperator>(dx, node.Out.Grad[0] * node.F0, dx);
    }
}
