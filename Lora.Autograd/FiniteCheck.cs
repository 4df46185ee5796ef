namespace Lora.Autograd;

/// <summary>The opt-in NaN/∞ check behind <see cref="Tape.CheckFinite"/>.</summary>
internal static class FiniteCheck
{
    public static void Throw(string op, string what, ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i]))
                throw new NotFiniteNumberException($"{op} produced {values[i]} in its {what} at element {i} of {values.Length}.", values[i]);
    }

    public static void Inputs(ref Node n)
    {
        Check(ref n, n.A, "A"); Check(ref n, n.B, "B"); Check(ref n, n.C, "C"); Check(ref n, n.D, "D");
    }

    static void Check(ref Node n, Tensor? t, string slot)
    {
        if (t is { _requiresGrad: true, _grad: not null })
            Throw(n.Op + " backward", $"gradient of input {t.Name ?? slot} {t.Shape}", t.Grad);
    }
}
