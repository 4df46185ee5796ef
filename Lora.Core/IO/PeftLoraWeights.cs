namespace Lora.Core.IO;

/// <summary>The two LoRA factors of one layer in PEFT's tensor shapes (see <see cref="PeftFactorLayout"/>): A (r, …)
/// and B (out, r, …), so that seen flat ΔW = s·B·A is (out, fan_in).</summary>
public sealed class PeftLoraWeights
{
    /// <summary>Pairs <paramref name="a"/> and <paramref name="b"/> for the module at <paramref name="modulePath"/>.</summary>
    /// <param name="embedding">True for an embedding table's factors (keys <c>lora_embedding_A</c>/<c>_B</c>).</param>
    /// <exception cref="ArgumentException">The shapes describe no layer kind: A (r, in) / B (out, r) for a Linear or an
    /// embedding, A (r, in, kh, kw) / B (out, r, 1, 1) for a convolution, with equal r &gt; 0 and no empty dimension.</exception>
    /// <param name="magnitude">A DoRA adapter's magnitude, (out) or a convolution's (1, out, 1, 1), or null.</param>
    public PeftLoraWeights(string modulePath, TensorData a, TensorData b, bool embedding = false, TensorData? magnitude = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(modulePath);
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        Layout = PeftFactorLayout.FromFactors(embedding, a.Shape, b.Shape) ?? throw new ArgumentException(
            $"LoRA '{modulePath}': A {TensorData.FormatShape(a.Shape)} and B {TensorData.FormatShape(b.Shape)} must be (r, in) and (out, r)" +
            (embedding ? " for an embedding" : ", or (r, in, kh, kw) and (out, r, 1, 1) for a convolution,") + " with r > 0.");
        if (magnitude != null && !magnitude.HasShape(Layout.ShapeOfMagnitude))
            throw new ArgumentException($"LoRA '{modulePath}': the DoRA magnitude {TensorData.FormatShape(magnitude.Shape)} must be {TensorData.FormatShape(Layout.ShapeOfMagnitude)}, one per output of B {TensorData.FormatShape(b.Shape)}.");
        ModulePath = modulePath;
        A = a;
        B = b;
        Magnitude = magnitude;
    }

    /// <summary>PEFT's DoRA key suffix: the magnitude of the module at <c>path</c> is <c>base_model.model.{path}.lora_magnitude_vector</c>.</summary>
    public const string MagnitudeSuffix = ".lora_magnitude_vector";

    /// <summary>DoRA's magnitude (see <see cref="PeftFactorLayout.ShapeOfMagnitude"/>), or null for plain LoRA.</summary>
    public TensorData? Magnitude { get; }

    /// <summary>The magnitude's key in the adapter file.</summary>
    public string KeyMagnitude => PeftAdapter.KeyPrefix + ModulePath + MagnitudeSuffix;

    /// <summary>The wrapped layer's path, e.g. <c>layers.0</c>.</summary>
    public string ModulePath { get; }

    /// <summary>The down projection, (r, …).</summary>
    public TensorData A { get; }

    /// <summary>The up projection, (out, r, …).</summary>
    public TensorData B { get; }

    /// <summary>The kind and sizes of layer these factors fit.</summary>
    public PeftFactorLayout Layout { get; }

    /// <summary>True for an embedding table's factors.</summary>
    public bool IsEmbedding => Layout.Embedding;

    /// <summary>The rank r.</summary>
    public int Rank => A.Shape[0];

    /// <summary>The flat A's column count (the layer's inputs, in·kh·kw, or the table's rows).</summary>
    public int In => Layout.FanIn;

    /// <summary>The layer's outputs (B's first dimension).</summary>
    public int Out => B.Shape[0];

    /// <summary>A's key in the adapter file.</summary>
    public string KeyA => Layout.KeyA(ModulePath);

    /// <summary>B's key in the adapter file.</summary>
    public string KeyB => Layout.KeyB(ModulePath);
}
