using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>
    /// The mean cross-entropy of softmax(logits) against class indices: L = (1/n)·Σᵢ (log Σⱼ e^(xᵢⱼ) − xᵢ,yᵢ),
    /// for logits (n, c) and labels (n) in [0, c); a scalar. An empty batch (n = 0) gives NaN, as <see cref="Mean"/>
    /// and PyTorch's mean-reduced cross_entropy do (its backward adds nothing).
    /// </summary>
    /// <remarks>
    /// Fused and stable: each row is shifted by its maximum (log-sum-exp), and the probabilities are kept for the
    /// backward, dxᵢⱼ += (dL/n)·(pᵢⱼ − [j = yᵢ]). The labels are read again in the backward: do not change them
    /// before it runs.
    /// </remarks>
    /// <exception cref="ArgumentException">Logits not of rank 2 or a label count other than n.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A label outside [0, c), naming its row.</exception>
    public static Tensor SoftmaxCrossEntropy(Tensor logits, ReadOnlyMemory<int> labels)
    {
        const string op = "SoftmaxCrossEntropy";
        RequireRank(op, logits, 2, 2);
        int n = logits.Shape[0], c = logits.Shape[1];
        if (labels.Length != n) throw new ArgumentException($"{op}: {logits.Describe()} has {n} rows but {labels.Length} labels were given.", nameof(labels));
        var tape = Tape.Current;
        var y = tape.NewTensor(Shape.Scalar);
        var probs = tape.NewTensor(logits.Shape);
        y.Data[0] = Kernels.Softmax.CrossEntropyForward(n, c, logits.Data, labels.Span, probs.Data);
        if (Tape.NeedsGrad(logits))
        {
            ref var node = ref tape.Record(op, &SoftmaxCrossEntropyBackward, y);
            node.A = logits; node.Saved0 = probs; node.Ints = labels;
        }
        return tape.Finish(op, y);
    }

    static void SoftmaxCrossEntropyBackward(ref Node node)
    {
        int n = node.A!.Shape[0], c = node.A.Shape[1];
        float scale = n == 0 ? 0f : node.Out.Grad[0] / n;
        Kernels.Softmax.CrossEntropyBackward(n, c, node.Saved0!.Data, node.Ints.Span, scale, node.A.Grad);
    }
}
