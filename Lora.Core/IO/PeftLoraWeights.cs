namespace Lora.Core.IO;

/// <summary>The two LoRA factors of one Linear layer: A (r, in) and B (out, r), so ΔW = s·B·A is (out, in).</summary>
public sealed class PeftLoraWeights
{
    /// <summary>Pairs <paramref name="a"/> and <paramref name="b"/> for the module at <paramref name="modulePath"/>.</summary>
    /// <exception cref="ArgumentException">A or B is not 2-D, their ranks differ, or the rank is zero.</exception>
    public PeftLoraWeights(string modulePath, TensorData a, TensorData b)
    {
        ArgumentException.ThrowIfNullOrEmpty(modulePath);
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Shape.Length != 2 || b.Shape.Length != 2 || a.Shape[0] != b.Shape[1] || a.Shape[0] == 0)
            throw new ArgumentException(
                $"LoRA '{modulePath}': A {TensorData.FormatShape(a.Shape)} and B {TensorData.FormatShape(b.Shape)} must be (r, in) and (out, r) with r > 0.");
        ModulePath = modulePath;
        A = a;
        B = b;
    }

    /// <summary>The wrapped Linear layer's path, e.g. <c>layers.0</c>.</summary>
    public string ModulePath { get; }

    /// <summary>The down projection, (r, in).</summary>
    public TensorData A { get; }

    /// <summary>The up projection, (out, r).</summary>
    public TensorData B { get; }

    /// <summary>The rank r.</summary>
    public int Rank => A.Shape[0];

    /// <summary>The layer's input width.</summary>
    public int In => A.Shape[1];

    /// <summary>The layer's output width.</summary>
    public int Out => B.Shape[0];
}
