namespace Lora.Kernels;

/// <summary>
/// LoRA on an embedding table in PEFT's formulation: y[i, :] = T[id_i, :] + s·(A[:, id_i])ᵀ·Bᵀ for a table T
/// (num, dim), A (r, num), B (dim, r) and scale s, i.e. y = embedding(ids, T) + s·embedding(ids, Aᵀ)·Bᵀ.
/// </summary>
/// <remarks>
/// <para>Forward: h = the columns id_i of A, gathered into (n, r); the rows of T gathered into y; then one GEMM
/// y += s·h·Bᵀ. Backward, with g = s·dy·B (n, r): dT[id_i, :] += dy_i (only when T is trained),
/// dA[:, id_i] += g_i (a scatter-add into the columns the batch used; repeated ids add up) and dB += s·dyᵀ·h.
/// Neither B·A nor a dense dA is ever formed, so a step costs O(n·r·dim), independent of num.</para>
/// <para>Each function has a plain-loop scalar twin (<see cref="ForwardScalar"/>, <see cref="BackwardScalar"/>)
/// that sums in another order; both are checked against a double-precision reference. The GEMMs are bitwise the
/// same for any thread count and the scatters run in id order, so results are deterministic. After the first call
/// on a thread nothing allocates.</para>
/// </remarks>
public static class LoraEmbeddingKernels
{
    /// <summary>y = T[ids] + s·h·Bᵀ with h = (A[:, ids])ᵀ written to <paramref name="h"/> (the backward needs it).</summary>
    /// <param name="table">T (num, dim), or empty for the low-rank term alone: y = s·h·Bᵀ.</param>
    /// <exception cref="ArgumentException">Negative sizes, spans that do not match them, or an id outside [0, num)
    /// (naming its position).</exception>
    // table: (num, dim) or empty, a: (r, num), b: (dim, r), ids: (n), h: (n, r), y: (n, dim)
    public static void Forward(int num, int dim, int r, float scale, ReadOnlySpan<float> table, ReadOnlySpan<float> a,
        ReadOnlySpan<float> b, ReadOnlySpan<int> ids, Span<float> h, Span<float> y)
    {
        Check(num, dim, r, table.Length, a.Length, b.Length, ids, h.Length, y.Length, "y");
        Aliasing(table, a, b, h, y);
        int n = ids.Length;
        GatherColumns(num, r, a, ids, h);
        if (table.IsEmpty) y.Clear(); else EmbeddingKernels.Gather(num, dim, table, ids, y);
        if (n > 0 && dim > 0 && r > 0) Gemm.Sgemm(Transpose.No, Transpose.Yes, n, dim, r, scale, h, r, b, r, 1f, y, dim);
    }

    /// <summary>The scalar twin of <see cref="Forward"/>: plain loops, each element summed in index order.</summary>
    public static void ForwardScalar(int num, int dim, int r, float scale, ReadOnlySpan<float> table, ReadOnlySpan<float> a,
        ReadOnlySpan<float> b, ReadOnlySpan<int> ids, Span<float> h, Span<float> y)
    {
        Check(num, dim, r, table.Length, a.Length, b.Length, ids, h.Length, y.Length, "y");
        Aliasing(table, a, b, h, y);
        for (int i = 0; i < ids.Length; i++)
        {
            int id = ids[i];
            for (int j = 0; j < r; j++) h[i * r + j] = a[j * num + id];
            for (int c = 0; c < dim; c++)
            {
                float acc = 0f;
                for (int j = 0; j < r; j++) acc += h[i * r + j] * b[c * r + j];
                y[i * dim + c] = (table.IsEmpty ? 0f : table[id * dim + c]) + scale * acc;
            }
        }
    }

    /// <summary>The backward of <see cref="Forward"/>, adding into the gradients that are not empty:
    /// dT[id_i, :] += dy_i, dA[:, id_i] += s·(dy·B)_i, dB += s·dyᵀ·h. Entries of dT and dA for ids not in the batch
    /// are not read or written.</summary>
    /// <param name="g">Scratch of at least n·r elements (used when dA is wanted).</param>
    /// <exception cref="ArgumentException">Sizes that do not match, or an id outside [0, num).</exception>
    // b: (dim, r), ids: (n), h: (n, r), dy: (n, dim), g: (n, r) scratch, dtable: (num, dim), da: (r, num), db: (dim, r)
    public static void Backward(int num, int dim, int r, float scale, ReadOnlySpan<float> b, ReadOnlySpan<int> ids,
        ReadOnlySpan<float> h, ReadOnlySpan<float> dy, Span<float> g, Span<float> dtable, Span<float> da, Span<float> db)
    {
        CheckBackward(num, dim, r, b.Length, ids, h.Length, dy.Length, g.Length, dtable.Length, da.Length, db.Length);
        BackwardAliasing(b, h, dy, da.IsEmpty ? default : g[..(ids.Length * r)], dtable, da, db);
        int n = ids.Length;
        if (!dtable.IsEmpty) EmbeddingKernels.ScatterAdd(num, dim, dy, ids, dtable);
        if (n == 0 || r == 0) return;
        if (!da.IsEmpty)
        {
            if (dim > 0) Gemm.Sgemm(Transpose.No, Transpose.No, n, r, dim, scale, dy, dim, b, r, 0f, g, r); // g = s·dy·B
            else g[..(n * r)].Clear();
            for (int i = 0; i < n; i++)
            {
                // Column id_i of dA: stride num. Ids in batch order, so repeats add up deterministically.
                int id = ids[i];
                for (int j = 0; j < r; j++) da[j * num + id] += g[i * r + j];
            }
        }
        if (!db.IsEmpty && dim > 0) Gemm.Sgemm(Transpose.Yes, Transpose.No, dim, r, n, scale, dy, dim, h, r, 1f, db, r);
    }

    /// <summary>The scalar twin of <see cref="Backward"/>.</summary>
    public static void BackwardScalar(int num, int dim, int r, float scale, ReadOnlySpan<float> b, ReadOnlySpan<int> ids,
        ReadOnlySpan<float> h, ReadOnlySpan<float> dy, Span<float> g, Span<float> dtable, Span<float> da, Span<float> db)
    {
        CheckBackward(num, dim, r, b.Length, ids, h.Length, dy.Length, g.Length, dtable.Length, da.Length, db.Length);
        BackwardAliasing(b, h, dy, da.IsEmpty ? default : g[..(ids.Length * r)], dtable, da, db);
        int n = ids.Length;
        for (int i = 0; i < n; i++)
        {
            int id = ids[i];
            if (!dtable.IsEmpty)
                for (int c = 0; c < dim; c++) dtable[id * dim + c] += dy[i * dim + c];
            if (da.IsEmpty) continue;
            for (int j = 0; j < r; j++)
            {
                float acc = 0f;
                for (int c = 0; c < dim; c++) acc += dy[i * dim + c] * b[c * r + j];
                g[i * r + j] = scale * acc;
                da[j * num + id] += g[i * r + j];
            }
        }
        if (db.IsEmpty) return;
        for (int c = 0; c < dim; c++)
            for (int j = 0; j < r; j++)
            {
                float acc = 0f;
                for (int i = 0; i < n; i++) acc += dy[i * dim + c] * h[i * r + j];
                db[c * r + j] += scale * acc;
            }
    }

    /// <summary>h[i, j] = A[j, ids[i]]: the columns of A (r, num) that the ids select, as rows of h (n, r).</summary>
    static void GatherColumns(int num, int r, ReadOnlySpan<float> a, ReadOnlySpan<int> ids, Span<float> h)
    {
        // Row by row of A, so each pass reads one row of A (num floats) and the n reads stay within it.
        for (int j = 0; j < r; j++)
        {
            var row = a.Slice(j * num, num);
            for (int i = 0; i < ids.Length; i++) h[i * r + j] = row[ids[i]];
        }
    }

    /// <summary>h and y are written while T, A and B are read (and y after h): none may share memory.</summary>
    static void Aliasing(ReadOnlySpan<float> table, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> h, ReadOnlySpan<float> y)
    {
        SpanOverlap.DisjointFromAll("LoraEmbedding", "h", h, "table|a|b|y", table, a, b, y);
        SpanOverlap.DisjointFromAll("LoraEmbedding", "y", y, "table|a|b", table, a, b);
    }

    /// <summary>The gradients (and the used part of the scratch g, when dA is wanted) are written while B, h and dy
    /// are read.</summary>
    static void BackwardAliasing(ReadOnlySpan<float> b, ReadOnlySpan<float> h, ReadOnlySpan<float> dy, ReadOnlySpan<float> g,
        ReadOnlySpan<float> dtable, ReadOnlySpan<float> da, ReadOnlySpan<float> db)
    {
        const string k = "LoraEmbedding";
        SpanOverlap.DisjointFromAll(k, "g", g, "b|h|dy|dtable|da|db", b, h, dy, dtable, da, db);
        SpanOverlap.DisjointFromAll(k, "dtable", dtable, "b|h|dy|da|db", b, h, dy, da, db);
        SpanOverlap.DisjointFromAll(k, "da", da, "b|h|dy|db", b, h, dy, db);
        SpanOverlap.DisjointFromAll(k, "db", db, "b|h|dy", b, h, dy);
    }

    static void Check(int num, int dim, int r, int tableLength, int aLength, int bLength, ReadOnlySpan<int> ids,
        int hLength, int yLength, string yName)
    {
        CheckSizes(num, dim, r, aLength, bLength, ids);
        if (tableLength != 0 && tableLength != (long)num * dim)
            throw new ArgumentException($"LoraEmbedding: table has {tableLength} elements, expected ({num}, {dim}) or none.", "table");
        int n = ids.Length;
        if (hLength != (long)n * r) throw new ArgumentException($"LoraEmbedding: h has {hLength} elements, expected ({n}, {r}).", "h");
        if (yLength != (long)n * dim) throw new ArgumentException($"LoraEmbedding: {yName} has {yLength} elements, expected ({n}, {dim}).", yName);
    }

    static void CheckBackward(int num, int dim, int r, int bLength, ReadOnlySpan<int> ids, int hLength, int dyLength,
        int gLength, int dtLength, int daLength, int dbLength)
    {
        int n = ids.Length;
        CheckSizes(num, dim, r, daLength == 0 ? (long)r * num : daLength, bLength, ids);
        if (dyLength != (long)n * dim) throw new ArgumentException($"LoraEmbedding: dy has {dyLength} elements, expected ({n}, {dim}).", "dy");
        if (dtLength != 0 && dtLength != (long)num * dim) throw new ArgumentException($"LoraEmbedding: dtable has {dtLength} elements, expected ({num}, {dim}) or none.", "dtable");
        if (dbLength != 0 && dbLength != (long)dim * r) throw new ArgumentException($"LoraEmbedding: db has {dbLength} elements, expected ({dim}, {r}) or none.", "db");
        if (dbLength != 0 && hLength != (long)n * r) throw new ArgumentException($"LoraEmbedding: h has {hLength} elements, expected ({n}, {r}).", "h");
        if (daLength != 0 && gLength < (long)n * r) throw new ArgumentException($"LoraEmbedding: scratch g has {gLength} elements, needs ({n}, {r}).", "g");
    }

    static void CheckSizes(int num, int dim, int r, long aLength, int bLength, ReadOnlySpan<int> ids)
    {
        if (num < 0 || dim < 0 || r < 0) throw new ArgumentException($"LoraEmbedding: sizes num {num}, dim {dim}, r {r} must be non-negative.");
        if (aLength != (long)r * num) throw new ArgumentException($"LoraEmbedding: A has {aLength} elements, expected ({r}, {num}).", "a");
        if (bLength != (long)dim * r) throw new ArgumentException($"LoraEmbedding: B has {bLength} elements, expected ({dim}, {r}).", "b");
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)num)
                throw new ArgumentOutOfRangeException(nameof(ids), $"LoraEmbedding: id {ids[i]} at position {i} is outside [0, {num}).");
    }
}
