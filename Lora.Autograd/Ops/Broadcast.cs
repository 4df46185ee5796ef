namespace Lora.Autograd;

public static partial class Ops
{
    /// <summary>
    /// The broadcasting rule of <see cref="Add"/>, <see cref="Sub"/> and <see cref="Mul"/>: b has a's shape, or b is
    /// one row — all its dimensions but the last are 1 (e.g. (n) or (1, n)) and its last equals a's last — and is
    /// applied to every row of a. Returns true for the row case.
    /// </summary>
    static bool IsRowBroadcast(string op, Tensor a, Tensor b)
    {
        RequireNotNull(op, a);
        RequireNotNull(op, b);
        if (a.Shape == b.Shape) return false;
        if (b.Shape.Rank >= 1 && b.Shape.Rank <= a.Shape.Rank && b.Length == b.Shape.Last && b.Shape.Last == a.Shape.Last)
            return true;
        throw Mismatch(op, "shapes must be equal, or the second a single row of the first's last dimension", a, b);
    }
}
