namespace Lora.Core.IO;

/// <summary>How PEFT stores the two LoRA factors of one kind of layer: the tensor shapes of A and B and their keys.</summary>
/// <remarks>
/// <para>A is (r, <see cref="InShape"/>…) and B is (<see cref="Out"/>, r, <see cref="OutTrail"/>…); seen flat they are
/// the matrices A (r, fan_in) and B (out, r) with fan_in = Π InShape, and ΔW = s·B·A.</para>
/// <list type="bullet">
/// <item>Linear (out, in): A (r, in), B (out, r), keys <c>{path}.lora_A.weight</c> / <c>{path}.lora_B.weight</c>.</item>
/// <item>Conv2d (out, in, kh, kw): A (r, in, kh, kw) — a convolution with r output channels and the base kernel's size —
/// and B (out, r, 1, 1) — a 1×1 convolution —, the same keys.</item>
/// <item>Embedding (num, dim): A (r, num), B (dim, r), keys <c>{path}.lora_embedding_A</c> / <c>{path}.lora_embedding_B</c>
/// (PEFT keeps them in ParameterDicts, so the keys have no <c>.weight</c>), and ΔW = s·(B·A)ᵀ.</item>
/// </list>
/// </remarks>
public sealed class PeftFactorLayout
{
    const string SuffixA = ".lora_A.weight", SuffixB = ".lora_B.weight";
    const string SuffixEmbeddingA = ".lora_embedding_A", SuffixEmbeddingB = ".lora_embedding_B";

    PeftFactorLayout(bool embedding, int[] inShape, int @out, int[] outTrail, string kind)
    {
        foreach (int d in inShape) if (d < 1) throw new ArgumentException($"LoRA layout of a {kind}: input shape {TensorData.FormatShape(inShape)} must be positive.");
        if (@out < 1) throw new ArgumentException($"LoRA layout of a {kind}: {@out} outputs must be positive.");
        Embedding = embedding; InShape = inShape; Out = @out; OutTrail = outTrail; Kind = kind;
    }

    /// <summary>A Linear layer's factors: A (r, in), B (out, r).</summary>
    public static PeftFactorLayout Linear(int inFeatures, int outFeatures) => new(false, [inFeatures], outFeatures, [], "Linear");

    /// <summary>A 2-D convolution's factors: A (r, in, kh, kw), B (out, r, 1, 1).</summary>
    public static PeftFactorLayout Conv2d(int inChannels, int kernelHeight, int kernelWidth, int outChannels) =>
        new(false, [inChannels, kernelHeight, kernelWidth], outChannels, [1, 1], "Conv2d");

    /// <summary>An embedding table's factors: A (r, num), B (dim, r), the embedding keys.</summary>
    public static PeftFactorLayout EmbeddingTable(int numEmbeddings, int embeddingDim) => new(true, [numEmbeddings], embeddingDim, [], "Embedding");

    /// <summary>The layout that factor tensors of these shapes describe, or null when they describe none (A rank
    /// below 2, B not (out, r, 1…), ranks that differ, an empty dimension, or an embedding factor that is not 2-D).</summary>
    public static PeftFactorLayout? FromFactors(bool embedding, int[] a, int[] b)
    {
        if (a.Length < 2 || b.Length < 2 || a[0] < 1 || b[1] != a[0] || b[0] < 1) return null;
        foreach (int d in a) if (d < 1) return null;
        for (int i = 2; i < b.Length; i++) if (b[i] != 1) return null;
        if (embedding) return a.Length == 2 && b.Length == 2 ? EmbeddingTable(a[1], b[0]) : null;
        if (a.Length == 2 && b.Length == 2) return Linear(a[1], b[0]);
        if (a.Length == 4 && b.Length == 4) return Conv2d(a[1], a[2], a[3], b[0]);
        return null;
    }

    /// <summary>True for an embedding table (transposed delta, embedding keys).</summary>
    public bool Embedding { get; }

    /// <summary>A's shape after the rank: (in), (in, kh, kw) or (num).</summary>
    public IReadOnlyList<int> InShape { get; }

    /// <summary>B's first dimension: outputs, output channels or the embedding width.</summary>
    public int Out { get; }

    /// <summary>B's shape after the rank: empty, or (1, 1) for a convolution.</summary>
    public IReadOnlyList<int> OutTrail { get; }

    /// <summary>"Linear", "Conv2d" or "Embedding", for messages.</summary>
    public string Kind { get; }

    /// <summary>Columns of the flat A: Π InShape.</summary>
    public int FanIn { get { int n = 1; foreach (int d in InShape) n *= d; return n; } }

    /// <summary>A's tensor shape for rank <paramref name="rank"/>.</summary>
    public int[] ShapeOfA(int rank) => [rank, .. InShape];

    /// <summary>B's tensor shape for rank <paramref name="rank"/>.</summary>
    public int[] ShapeOfB(int rank) => [Out, rank, .. OutTrail];

    /// <summary>A DoRA magnitude's tensor shape, one value per output: (out) for a Linear layer and an embedding
    /// (its width), (1, out, 1, 1) for a convolution (PEFT keeps the norm's keepdim shape there).</summary>
    public int[] ShapeOfMagnitude => OutTrail.Count == 0 ? [Out] : [1, Out, .. OutTrail];

    /// <summary>A's key for the module at <paramref name="modulePath"/>, with PEFT's <c>base_model.model.</c> prefix.</summary>
    public string KeyA(string modulePath) => KeyOf(modulePath, Embedding, a: true);

    /// <summary>B's key for the module at <paramref name="modulePath"/>.</summary>
    public string KeyB(string modulePath) => KeyOf(modulePath, Embedding, a: false);

    /// <summary>The key of a factor: <c>base_model.model.{path}.lora_A.weight</c> / <c>.lora_B.weight</c>, or for an
    /// embedding <c>.lora_embedding_A</c> / <c>.lora_embedding_B</c>.</summary>
    public static string KeyOf(string modulePath, bool embedding, bool a) =>
        PeftAdapter.KeyPrefix + modulePath + (embedding ? (a ? SuffixEmbeddingA : SuffixEmbeddingB) : (a ? SuffixA : SuffixB));

    /// <summary>Splits a key (without the prefix) into the module path, whether it is A, and whether it is an embedding
    /// factor; false when the key names no LoRA factor.</summary>
    internal static bool TryParseKey(string rest, out string path, out bool isA, out bool embedding)
    {
        foreach (var (suffix, a, e) in new[] { (SuffixA, true, false), (SuffixB, false, false), (SuffixEmbeddingA, true, true), (SuffixEmbeddingB, false, true) })
            if (rest.EndsWith(suffix, StringComparison.Ordinal))
            {
                path = rest[..^suffix.Length]; isA = a; embedding = e;
                return true;
            }
        path = ""; isA = false; embedding = false;
        return false;
    }

    /// <summary>True when both describe the same kind of layer with the same sizes.</summary>
    public bool SameAs(PeftFactorLayout other) =>
        other is not null && Embedding == other.Embedding && Out == other.Out && InShape.SequenceEqual(other.InShape) && OutTrail.SequenceEqual(other.OutTrail);

    /// <summary>E.g. <c>Conv2d (in 3, kernel 3×3, out 16)</c>.</summary>
    public override string ToString() => Kind switch
    {
        "Conv2d" => $"Conv2d (in {InShape[0]}, kernel {InShape[1]}×{InShape[2]}, out {Out})",
        "Embedding" => $"Embedding ({InShape[0]} rows, width {Out})",
        _ => $"Linear (in {InShape[0]}, out {Out})",
    };
}
