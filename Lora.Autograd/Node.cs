namespace Lora.Autograd;

/// <summary>
/// One recorded op: its backward function, its output and inputs, and whatever it saved for the backward.
/// A plain struct in the tape's array, so recording allocates nothing; the field names are generic because every
/// op file reads its own node (the op's forward says which field holds what).
/// </summary>
internal unsafe struct Node
{
    public delegate*<ref Node, void> Backward;
    public string Op;
    public Tensor Out;
    public Tensor? A, B, C, D;
    /// <summary>Tensors saved for the backward that are not inputs (probabilities, masks, statistics).</summary>
    public Tensor? Saved0, Saved1;
    /// <summary>Integers saved for the backward (argmax indices), rented from the pool.</summary>
    public int[]? SavedInts;
    /// <summary>Caller-owned integers the backward needs (labels, token ids).</summary>
    public ReadOnlyMemory<int> Ints;
    public object? Obj;
    public int I0, I1, I2, I3, I4, I5;
    public float F0, F1;
    public ulong U0;
}
