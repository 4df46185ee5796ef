using Lora.Autograd;
using Lora.Core.Modules;
using Lora.Kernels;

namespace Lora.Core.Lora;

/// <summary>An <see cref="Embedding"/> with low-rank adapters, PEFT's formulation:
/// y[…, :] = T[id, :] + Σ_active s_i·(A_i[:, id])ᵀ·B_iᵀ for the table T (num, dim), A (r, num), B (dim, r).</summary>
/// <remarks>
/// <para>Layout and names follow PEFT: <c>base_layer.weight</c> (num, dim), <c>lora_embedding_A.{adapter}</c> (r, num)
/// and <c>lora_embedding_B.{adapter}</c> (dim, r); the weight delta is ΔW = s·(B·A)ᵀ (num, dim), which is what
/// <see cref="LoraLayer.Merge"/> adds to T. The forward runs on <c>Ops.LoraEmbedding</c>: it gathers the
/// columns of A the ids select and adds s·h·Bᵀ to the gathered rows with one GEMM, and its backward writes the
/// gradient of A only into the columns the batch used (the frozen table gets no gradient and costs nothing).</para>
/// <para>Initialisation (PEFT's <c>reset_lora_parameters</c> for embeddings): A = 0 and B ~ N(0, 1), for both the
/// default and the Gaussian init, so a new adapter leaves the output unchanged. PiSSA takes the top singular triplets
/// of Tᵀ (dim, num) — exactly PEFT's Linear PiSSA on the transposed table — and leaves T minus their delta.</para>
/// <para><b>DoRA</b> (<see cref="LoraAdapter.UseDora"/>), as PEFT runs it on an embedding: y = c ⊙ (T[id, :] +
/// s·(A[:, id])ᵀ·Bᵀ) with c = m/‖Tᵀ + s·B·A‖ per embedding dimension — the norm of each column of the adapted table
/// (<see cref="Ops.InverseColumnNorms"/>), a constant of the backward — and m (dim).</para>
/// <para><b>Dropout</b>: PEFT creates the configured <c>lora_dropout</c> module for an embedding layer but never applies
/// it in the forward (dropping ids, or entries of a one-hot input, would not be the same regularizer anyway). We
/// follow PEFT: a config's dropout is accepted and kept on the adapter (so it is saved in the adapter config), and
/// has no effect on this layer's output in training or evaluation.</para>
/// </remarks>
public sealed class LoraEmbedding : LoraLayer
{

    /// <summary>Wraps <paramref name="baseLayer"/> (which becomes the child <c>base_layer</c>).</summary>
    public LoraEmbedding(Embedding baseLayer) : base(baseLayer) => BaseLayer = baseLayer;

    /// <summary>The wrapped table.</summary>
    public new Embedding BaseLayer { get; }

    /// <summary>num, the number of rows.</summary>
    public int NumEmbeddings => BaseLayer.NumEmbeddings;

    /// <summary>dim, the vector length.</summary>
    public int EmbeddingDim => BaseLayer.EmbeddingDim;

    /// <inheritdoc/>
    public override Parameter BaseWeight => BaseLayer.Weight;

    /// <inheritdoc/>
    public override Parameter? BaseBias => null;

    /// <summary>num: A is (r, num).</summary>
    public override int FanIn => BaseLayer.NumEmbeddings;

    /// <summary>dim: B is (dim, r).</summary>
    public override int FanOut => BaseLayer.EmbeddingDim;

    /// <summary>Merges the active adapters and returns the base Embedding (T now including them), to be used in
    /// place of this wrapper. With adapters disabled nothing is merged.</summary>
    public new Embedding MergeAndUnload() => (Embedding)base.MergeAndUnload();

    /// <summary>T ← T + sign·s·Aᵀ·Bᵀ (num, dim), one GEMM.</summary>
    /// <remarks>Each element of T changes by one rounded product-sum: |error| ≤ (r + 1)·2⁻²⁴·(|T| + s·Σ_j |A_j,id||B_c,j|),
    /// so a merge followed by an unmerge restores T within twice that bound.</remarks>
    protected override void AddDelta(LoraAdapter adapter, float sign)
    {
        int num = NumEmbeddings, dim = EmbeddingDim, r = adapter.Rank;
        if (num == 0 || dim == 0) return;
        // A is stored (r, num): op(A) = Aᵀ (num, r); B is stored (dim, r): op(B) = Bᵀ (r, dim).
        Gemm.Sgemm(Transpose.Yes, Transpose.Yes, num, dim, r, sign * adapter.Scale, adapter.A.Data, num,
            adapter.B.Data, r, 1f, BaseWeight.Data, dim);
    }

    /// <summary>PEFT's embedding init: A = 0 and B ~ N(0, 1) for <see cref="LoraInit.KaimingUniform"/> (PEFT's
    /// default) and <see cref="LoraInit.Gaussian"/>; <see cref="LoraInit.Pissa"/> on the transposed table.</summary>
    /// <exception cref="ArgumentException">Spans of the wrong length or an unknown init.</exception>
    public override void InitializeFactors(LoraInit init, SeededRandom rng, int rank, float scale, int pissaIterations,
        Span<float> a, Span<float> b)
    {
        ArgumentNullException.ThrowIfNull(rng);
        int num = NumEmbeddings, dim = EmbeddingDim;
        if (rank < 1 || a.Length != (long)rank * num || b.Length != (long)dim * rank)
            throw new ArgumentException($"LoRA embedding: A has {a.Length} and B {b.Length} elements, expected rank ≥ 1 and ({rank}, {num}) and ({dim}, {rank}).");
        switch (init)
        {
            case LoraInit.KaimingUniform:
            case LoraInit.Gaussian:
                a.Clear();
                rng.FillGaussian(b, 1.0);
                break;
            case LoraInit.Pissa:
                // ΔW = s·(B·A)ᵀ, so Tᵀ (dim, num) plays the role of a Linear's W (out, in).
                var t = BaseWeight.Data;
                var tt = new float[dim * num];
                Transpose2d(t, num, dim, tt);
                LoraMath.PissaInit(tt, dim, num, rank, scale, rng.NextUInt64(), pissaIterations, a, b);
                Transpose2d(tt, dim, num, t);
                BaseWeightChanged();
                break;
            default:
                throw new ArgumentException($"Unknown LoRA init {init}.", nameof(init));
        }
    }

    static void Transpose2d(ReadOnlySpan<float> x, int rows, int cols, Span<float> y)
    {
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) y[j * rows + i] = x[i * cols + j];
    }

    /// <inheritdoc/>
    protected override Tensor ForwardBase(Tensor x) => Ops.Embedding(x, BaseLayer.Weight);

    /// <inheritdoc/>
    protected override Tensor ForwardAdapted(Tensor x, ReadOnlySpan<LoraAdapter> active)
    {
        var dora = ActiveDora(active);
        var a0 = active[0];
        var y = Ops.LoraEmbedding(x, BaseLayer.Weight, a0.A, a0.B, a0.Scale);
        if (dora != null) return Ops.Mul(y, DoraScale(dora)); // a DoRA adapter is active alone
        for (int i = 1; i < active.Length; i++)
            y = Ops.Add(y, Ops.LoraEmbedding(x, null, active[i].A, active[i].B, active[i].Scale));
        return y;
    }

    /// <summary>The forward over int ids (see <see cref="Embedding.Forward(ReadOnlyMemory{int})"/>): (ids.Length, dim),
    /// with the same adapter, merge and disable rules as <see cref="LoraLayer.Forward"/>. The backward reads the ids
    /// again: keep them unchanged until it has run.</summary>
    /// <exception cref="InvalidOperationException">Training (gradients on, training mode) while merged.</exception>
    public Tensor Forward(ReadOnlyMemory<int> ids)
    {
        var active = AdaptersInForward();
        if (active.IsEmpty) return Ops.Embedding(ids, BaseLayer.Weight);
        var dora = ActiveDora(active);
        var y = Ops.LoraEmbedding(ids, BaseLayer.Weight, active[0].A, active[0].B, active[0].Scale);
        if (dora != null) return Ops.Mul(y, DoraScale(dora));
        for (int i = 1; i < active.Length; i++)
            y = Ops.Add(y, Ops.LoraEmbedding(ids, null, active[i].A, active[i].B, active[i].Scale));
        return y;
    }
}
