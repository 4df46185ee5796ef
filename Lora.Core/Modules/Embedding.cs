using Lora.Autograd;

namespace Lora.Core.Modules;

/// <summary>A lookup table of vectors: y[…, :] = W[id, :] with W (num, dim), PyTorch's <c>nn.Embedding</c> layout
/// and initialisation.</summary>
/// <remarks>
/// <para>Initialisation follows <c>torch.nn.Embedding.reset_parameters</c>: W ~ N(0, 1) (the values differ from
/// PyTorch's, another generator, the distribution is the same). <c>padding_idx</c>, <c>max_norm</c> and sparse
/// gradients are not supported.</para>
/// <para>The ids come either as a tensor of exact integer floats (the form datasets and <see cref="Sequential"/>
/// pipelines carry) or as ints. The backward scatter-adds dy into the rows of W that the batch used; every other row
/// of the gradient is left untouched.</para>
/// </remarks>
public sealed class Embedding : Module
{
    /// <summary>A table with W ~ N(0, 1) drawn from <paramref name="rng"/>.</summary>
    /// <exception cref="ArgumentException">A negative size.</exception>
    public Embedding(int numEmbeddings, int embeddingDim, SeededRandom rng)
        : this(numEmbeddings, embeddingDim)
    {
        ArgumentNullException.ThrowIfNull(rng);
        rng.FillGaussian(Weight.Data, 1.0);
    }

    /// <summary>A zero-initialised table (for loading weights).</summary>
    /// <exception cref="ArgumentException">A negative size.</exception>
    public Embedding(int numEmbeddings, int embeddingDim)
    {
        if (numEmbeddings < 0 || embeddingDim < 0)
            throw new ArgumentException($"Embedding({numEmbeddings}, {embeddingDim}): sizes must be non-negative.");
        NumEmbeddings = numEmbeddings;
        EmbeddingDim = embeddingDim;
        Weight = RegisterParameter("weight", new Parameter("weight", new Shape(numEmbeddings, embeddingDim)));
    }

    /// <summary>num, the number of rows (the vocabulary size).</summary>
    public int NumEmbeddings { get; }

    /// <summary>dim, the length of each vector.</summary>
    public int EmbeddingDim { get; }

    /// <summary>W, (num, dim).</summary>
    public Parameter Weight { get; }

    /// <summary>Looks up the ids held in <paramref name="x"/> (any shape of rank ≤ 3, exact integer floats in
    /// [0, num)); the output has shape x.Shape + (dim).</summary>
    /// <exception cref="ArgumentException">An element that is not an integer in [0, num), naming its index and
    /// value; x of rank 4.</exception>
    public override Tensor Forward(Tensor x) => Ops.Embedding(x, Weight);

    /// <summary>Looks up <paramref name="ids"/>; the output is (ids.Length, dim). The backward reads the ids again:
    /// keep them unchanged until it has run.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id outside [0, num), naming its position.</exception>
    public Tensor Forward(ReadOnlyMemory<int> ids) => Ops.Embedding(ids, Weight);

    /// <inheritdoc/>
    public override string ToString() => $"Embedding(num={NumEmbeddings}, dim={EmbeddingDim})";
}
