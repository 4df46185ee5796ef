namespace Lora.Core.Data;

/// <summary>Next-character samples whose features are the ids of the preceding character n-grams in one embedding
/// table: sample p has one row id per order k = 1…K (the k characters before p) and the label "character p".</summary>
/// <remarks>
/// <para>Row layout of a table of <c>rows</c> rows over a vocabulary of V ids: order 1 uses rows [0, V) (the previous
/// character, exact), order 2 rows [V, V + V²) (the previous two, exact), and orders 3…K share the remaining rows
/// through a hash: row = V + V² + FNV-1a-64(k, c₁…c_k) mod (rows − V − V²), with the order mixed into the offset
/// basis so that equal strings of different orders land apart. Collisions are the usual price of hashed features
/// (fastText, Vowpal Wabbit): a row then serves several contexts.</para>
/// <para>Samples are made inside each block only, at positions p ≥ K, so the full context lies in the same block
/// and no sample of a training block reads test text. Features are exact integer floats (the form of
/// <see cref="Dataset"/> and <c>Embedding.Forward(Tensor)</c>).</para>
/// </remarks>
public static class NgramContexts
{
    const ulong FnvOffset = 0xcbf29ce484222325UL, FnvPrime = 0x100000001b3UL;

    /// <summary>The smallest table for <paramref name="vocabularySize"/> and <paramref name="orders"/>: the exact
    /// rows of orders 1 and 2, plus one hashed row when orders ≥ 3 are used.</summary>
    /// <exception cref="ArgumentException">A vocabulary below 1 id, or one whose exact order-2 rows (V²) do not fit an int.</exception>
    public static int MinimumRows(int vocabularySize, int orders)
    {
        if (vocabularySize < 1) throw new ArgumentException($"Vocabulary size {vocabularySize} must be positive.", nameof(vocabularySize));
        long rows = vocabularySize + (orders >= 2 ? (long)vocabularySize * vocabularySize : 0) + (orders >= 3 ? 1 : 0);
        return rows <= int.MaxValue ? (int)rows
            : throw new ArgumentException($"Orders 1..{orders} over {vocabularySize} ids need {rows} table rows, more than an int indexes.", nameof(vocabularySize));
    }

    /// <summary>The table row of the context <paramref name="context"/> (its last character is the one just before
    /// the predicted position; its length is the order).</summary>
    /// <exception cref="ArgumentException">An empty context, an id outside the vocabulary, or a table too small.</exception>
    public static int RowOf(ReadOnlySpan<int> context, int vocabularySize, int rows)
    {
        int k = context.Length;
        if (k < 1) throw new ArgumentException("An n-gram context needs at least one character.", nameof(context));
        if (rows < MinimumRows(vocabularySize, k))
            throw new ArgumentException($"A table of {rows} rows is too small for order {k} over {vocabularySize} ids (needs at least {MinimumRows(vocabularySize, k)}).", nameof(rows));
        foreach (int c in context)
            if ((uint)c >= (uint)vocabularySize) throw new ArgumentException($"Context id {c} is outside [0, {vocabularySize}).", nameof(context));
        if (k == 1) return context[0];
        if (k == 2) return vocabularySize + context[0] * vocabularySize + context[1];
        ulong h = FnvOffset ^ (ulong)k;
        foreach (int c in context) h = (h ^ (ulong)c) * FnvPrime;
        int hashed = vocabularySize + vocabularySize * vocabularySize;
        return hashed + (int)(h % (ulong)(rows - hashed));
    }

    /// <summary>The samples of every block of <paramref name="blocks"/>: features (n, <paramref name="orders"/>)
    /// with the row of the order-k context in column k − 1, labels the next character.</summary>
    /// <exception cref="ArgumentException">Orders below 1, a table too small, an id outside the vocabulary, or
    /// blocks too short for a single sample.</exception>
    public static Dataset Build(IReadOnlyList<ReadOnlyMemory<int>> blocks, int orders, int rows, int vocabularySize, string name)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        if (orders < 1) throw new ArgumentException($"Context orders {orders} must be at least 1.", nameof(orders));
        if (rows < MinimumRows(vocabularySize, orders))
            throw new ArgumentException($"A table of {rows} rows is too small for orders 1..{orders} over {vocabularySize} ids (needs at least {MinimumRows(vocabularySize, orders)}).", nameof(rows));
        long count = 0;
        foreach (var b in blocks) count += Math.Max(0, b.Length - orders);
        if (count == 0) throw new ArgumentException($"Text '{name}': no block is longer than the context of {orders} characters.", nameof(blocks));
        var features = new float[checked(count * orders)];
        var labels = new int[count];
        int i = 0;
        foreach (var block in blocks)
        {
            var ids = block.Span;
            for (int p = orders; p < ids.Length; p++, i++)
            {
                for (int k = 1; k <= orders; k++) features[i * orders + k - 1] = RowOf(ids.Slice(p - k, k), vocabularySize, rows);
                if ((uint)ids[p] >= (uint)vocabularySize) throw new ArgumentException($"Text '{name}': id {ids[p]} is outside [0, {vocabularySize}).", nameof(blocks));
                labels[i] = ids[p];
            }
        }
        return new Dataset(name, features, labels, orders, vocabularySize);
    }
}
