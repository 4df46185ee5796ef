using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Modules;

namespace Lora.Core.Models;

/// <summary>A hashed n-gram next-character model: the rows of the K preceding contexts (orders 1…K) are looked up
/// in one embedding table, concatenated, and mapped to next-character logits by a Linear head.</summary>
/// <remarks>
/// It is a log-bilinear n-gram model: the table holds what the model knows about each context, the head how that
/// knowledge turns into a prediction. Children <c>table</c> (<see cref="Embedding"/>; LoRA wraps it as a
/// LoraEmbedding) and <c>head</c> (<see cref="Linear"/>), the names of the PyTorch equivalent.
/// </remarks>
public sealed class NgramModel : Module, IConfiguredModel
{
    Module _table, _head;

    /// <summary>A freshly initialised model (PyTorch's initialisations: table N(0, 1), head U(±1/√fanIn)) drawn
    /// from <paramref name="seed"/>.</summary>
    public NgramModel(NgramConfig config, ulong seed) : this(config, new SeededRandom(seed)) { }

    NgramModel(NgramConfig config, SeededRandom? rng)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        _table = RegisterModule<Module>("table", rng is null ? new Embedding(config.Rows, config.Dim) : new Embedding(config.Rows, config.Dim, rng));
        _head = RegisterModule<Module>("head", rng is null
            ? new Linear(config.Orders * config.Dim, config.VocabSize)
            : new Linear(config.Orders * config.Dim, config.VocabSize, rng));
    }

    /// <summary>A zero-initialised model, to be filled by loading weights.</summary>
    public static NgramModel CreateEmpty(NgramConfig config) => new(config, (SeededRandom?)null);

    /// <summary>The architecture.</summary>
    public NgramConfig Config { get; }

    IModelConfig IConfiguredModel.Config => Config;

    /// <inheritdoc/>
    protected override void OnChildReplaced(string name, Module module)
    {
        if (name == "table") _table = module;
        else if (name == "head") _head = module;
    }

    /// <summary>Logits (N, V) from x (N, K): the table rows of each sample's K contexts, as exact integer floats.</summary>
    /// <exception cref="ArgumentException">x not (N, K), or a row id outside the table.</exception>
    public override Tensor Forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Shape.Rank != 2 || x.Shape.Last != Config.Orders)
            throw new ArgumentException($"NgramModel: input must be (batch, {Config.Orders}) context rows, got {x.Shape}.", nameof(x));
        var rows = _table.Forward(x);                                        // (N, K, dim)
        var joined = Ops.Reshape(rows, new Shape(x.Shape[0], Config.Orders * Config.Dim)); // (N, K·dim)
        return _head.Forward(joined);
    }
}
