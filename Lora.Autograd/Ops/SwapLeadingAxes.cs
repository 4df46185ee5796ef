namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>Swaps the first two axes, copying: x (a, b, …) → y (b, a, …), e.g. batch-first (N, T, F) to
    /// time-major (T, N, F) and back.</summary>
    /// <remarks>y[j, i, …] = x[i, j, …]: each trailing block (the product of the axes after the second) moves as one
    /// contiguous row. Backward: dx[i, j, …] += dy[j, i, …].</remarks>
    public static Tensor SwapLeadingAxes(Tensor x)
    {
        const string op = "SwapLeadingAxes";
        RequireRank(op, x, 2);
        var s = x.Shape;
        int a = s[0], b = s[1], block = s.Rank == 2 ? 1 : s.Rank == 3 ? s[2] : s[2] * s[3];
        var shape = s.Rank switch { 2 => new Shape(b, a), 3 => new Shape(b, a, s[2]), _ => new Shape(b, a, s[2], s[3]) };
        var tape = Tape.Current;
        var y = tape.NewTensor(shape);
        SwapBlocks(a, b, block, x.Data, y.Data, accumulate: false);
        if (Tape.NeedsGrad(x))
        {
            ref var node = ref tape.Record(op, &SwapLeadingAxesBackward, y);
            node.A = x; node.I0 = a; node.I1 = b; node.I2 = block;
        }
        return tape.Finish(op, y);
    }

    static void SwapLeadingAxesBackward(ref Node node) =>
        SwapBlocks(node.I1, node.I0, node.I2, node.Out.Grad, node.A!.Grad, accumulate: true);

    // x: (a, b, block) → y: (b, a, block), y = or += x moved.
    static void SwapBlocks(int a, int b, int block, ReadOnlySpan<float> x, Span<float> y, bool accumulate)
    {
        for (int i = 0; i < a; i++)
            for (int j = 0; j < b; j++)
            {
                var src = x.Slice((i * b + j) * block, block);
                var dst = y.Slice((j * a + i) * block, block);
                if (accumulate) Kernels.Elementwise.AddInto(src, dst); else src.CopyTo(dst);
            }
    }
}
