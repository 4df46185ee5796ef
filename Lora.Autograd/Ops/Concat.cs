using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>Joins two to four tensors along the last axis; all other dimensions must agree.</summary>
    /// <remarks>Row i of y is [row i of parts[0] | row i of parts[1] | …]. Backward: each part that requires a
    /// gradient gets its columns of dy added.</remarks>
    public static Tensor Concat(params ReadOnlySpan<Tensor> parts)
    {
        const string op = "Concat";
        if (parts.Length < 2 || parts.Length > 4) throw new ArgumentException($"{op}: takes 2 to 4 tensors, got {parts.Length}.", nameof(parts));
        var first = parts[0];
        RequireRank(op, first, 1, Shape.MaxRank, "parts[0]");
        int total = 0;
        foreach (var p in parts)
        {
            RequireNotNull(op, p, "one of the parts");
            if (p.Shape.Rank != first.Shape.Rank || p.Shape.Rows != first.Shape.Rows || !LeadingEqual(p.Shape, first.Shape))
                throw Mismatch(op, "all dimensions but the last must agree", first, p);
            total += p.Shape.Last;
        }
        var tape = Tape.Current;
        var y = tape.NewTensor(first.Shape.WithLast(total));
        int rows = first.Shape.Rows, col = 0;
        var yd = y.Data;
        foreach (var p in parts)
        {
            int w = p.Shape.Last;
            var pd = p.Data;
            for (int i = 0; i < rows; i++) pd.Slice(i * w, w).CopyTo(yd.Slice(i * total + col, w));
            col += w;
        }
        if (Tape.NeedsGrad(parts[0], parts[1], parts.Length > 2 ? parts[2] : null, parts.Length > 3 ? parts[3] : null))
        {
            ref var node = ref tape.Record(op, &ConcatBackward, y);
            node.A = parts[0]; node.B = parts[1];
            node.C = parts.Length > 2 ? parts[2] : null;
            node.D = parts.Length > 3 ? parts[3] : null;
        }
        return tape.Finish(op, y);
    }

    static bool LeadingEqual(Shape a, Shape b)
    {
        for (int i = 0; i < a.Rank - 1; i++) if (a[i] != b[i]) return false;
        return true;
    }

    static void ConcatBackward(ref Node node)
    {
        var dy = node.Out.Grad;
        int total = node.Out.Shape.Last, rows = node.Out.Shape.Rows, col = 0;
        col = ConcatPart(node.A!, dy, rows, total, col);
        col = ConcatPart(node.B!, dy, rows, total, col);
        if (node.C != null) col = ConcatPart(node.C, dy, rows, total, col);
        if (node.D != null) ConcatPart(node.D, dy, rows, total, col);
    }

    static int ConcatPart(Tensor part, ReadOnlySpan<float> dy, int rows, int total, int col)
    {
        int w = part.Shape.Last;
        if (Wants(part))
        {
            var g = part.Grad;
            for (int i = 0; i < rows; i++) Elementwise.AddInto(dy.Slice(i * total + col, w), g.Slice(i * w, w));
        }
        return col + w;
    }
}
