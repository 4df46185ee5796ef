namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>Softmax over the last axis: yᵢⱼ = e^(xᵢⱼ − mᵢ) / Σₖ e^(xᵢₖ − mᵢ), mᵢ the row maximum.</summary>
    /// <remarks>For a classification loss use <see cref="SoftmaxCrossEntropy"/>, which is fused and more accurate.
    /// Backward (from the saved output): dxᵢ += yᵢ ⊙ (dyᵢ − ⟨dyᵢ, yᵢ⟩) per row.</remarks>
    public static Tensor Softmax(Tensor x)
    {
        const string op = "Softmax";
        RequireRank(op, x, 1);
        var tape = Tape.Current;
        var y = tape.NewTensor(x.Shape);
        Kernels.Softmax.Forward(x.Shape.Rows, x.Shape.Last, x.Data, y.Data);
        if (Tape.NeedsGrad(x))
        {
            ref var node = ref tape.Record(op, &SoftmaxBackward, y);
            node.A = x;
        }
        return tape.Finish(op, y);
    }

    static void SoftmaxBackward(ref Node node) =>
        Kernels.Softmax.Backward(node.Out.Shape.Rows, node.Out.Shape.Last, node.Out.Data, node.Out.Grad, node.A!.Grad);
}
