using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Modules;

namespace Lora.Core.Models;

/// <summary>A character-level recurrent language model: embedding → GRU (or Elman RNN) → Linear head over the
/// vocabulary, predicting the next character at every position.</summary>
/// <remarks>
/// Children <c>embedding</c> (<see cref="Embedding"/>), <c>rnn</c> (<see cref="Gru"/> or <see cref="ElmanRnn"/>, whose
/// <c>ih</c> and <c>hh</c> are Linear layers LoRA can wrap as <c>rnn.ih</c>, <c>rnn.hh</c>) and <c>head</c>
/// (<see cref="Linear"/>): the state-dict keys of the PyTorch equivalent, listed by <see cref="CharRnnConfig"/>.
/// </remarks>
public sealed class CharRnnModel : Module, IConfiguredModel
{
    Module _embedding, _rnn, _head;

    /// <summary>A freshly initialised model (PyTorch's initialisations) drawn from <paramref name="seed"/>.</summary>
    public CharRnnModel(CharRnnConfig config, ulong seed) : this(config, new SeededRandom(seed)) { }

    CharRnnModel(CharRnnConfig config, SeededRandom? rng)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        int v = config.VocabSize, e = config.EmbeddingDim, h = config.HiddenSize;
        _embedding = RegisterModule("embedding", rng is null ? new Embedding(v, e) : new Embedding(v, e, rng));
        _rnn = RegisterModule<Module>("rnn", (config.Cell, rng) switch
        {
            (RecurrentCell.Gru, null) => new Gru(e, h),
            (RecurrentCell.Gru, _) => new Gru(e, h, rng),
            (_, null) => new ElmanRnn(e, h),
            _ => new ElmanRnn(e, h, rng),
        });
        _head = RegisterModule("head", rng is null ? new Linear(h, v) : new Linear(h, v, rng));
    }

    /// <summary>A zero-initialised model, to be filled by loading weights.</summary>
    public static CharRnnModel CreateEmpty(CharRnnConfig config) => new(config, (SeededRandom?)null);

    /// <summary>The architecture.</summary>
    public CharRnnConfig Config { get; }

    IModelConfig IConfiguredModel.Config => Config;

    /// <inheritdoc/>
    protected override void OnChildReplaced(string name, Module module)
    {
        // ApplyLora / MergeAndUnload swap a child for its wrapper and back.
        switch (name)
        {
            case "embedding": _embedding = module; break;
            case "rnn": _rnn = module; break;
            case "head": _head = module; break;
        }
    }

    /// <summary>Next-character logits: x (N, T) character ids as exact integer floats → (N, T, V), with h₀ = 0.</summary>
    /// <exception cref="ArgumentException">x not of rank 2, or an id outside the vocabulary.</exception>
    public override Tensor Forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Shape.Rank != 2) throw new ArgumentException($"CharRnnModel: input must be (batch, time) character ids, got {x.Shape}.", nameof(x));
        // Children's Forward, not their weights: LoRA wrappers on rnn.ih / rnn.hh / head take effect.
        return _head.Forward(_rnn.Forward(_embedding.Forward(x)));
    }
}
