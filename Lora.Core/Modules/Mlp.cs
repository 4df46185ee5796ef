using Lora.Autograd;
using Lora.Core.IO;

namespace Lora.Core.Modules;

/// <summary>A multilayer perceptron with the layout of <see cref="ModelConfig"/>: Linear layers in a list named
/// <c>layers</c> (parameters <c>layers.{i}.weight</c> (out, in) and <c>layers.{i}.bias</c>), the activation and
/// dropout between consecutive layers, nothing after the last.</summary>
/// <remarks>The PyTorch equivalent keeps the Linear layers in an <c>nn.ModuleList</c> named <c>layers</c> and applies
/// the activation in <c>forward</c>, so the state-dict keys match this module's parameter names exactly.</remarks>
public sealed class Mlp : Module, IConfiguredModel
{
    readonly ModuleList _layers;
    readonly Dropout[] _dropouts;

    /// <summary>A freshly initialised MLP (PyTorch's Linear initialisation) for <paramref name="config"/>.</summary>
    public Mlp(ModelConfig config, ulong seed) : this(config, new SeededRandom(seed)) { }

    /// <summary>An MLP of the given sizes, e.g. (784, 1024, 10).</summary>
    public Mlp(IReadOnlyList<int> sizes, ActivationKind activation = ActivationKind.Relu, double dropout = 0, ulong seed = 0)
        : this(new ModelConfig(sizes, activation, dropout), seed) { }

    Mlp(ModelConfig config, SeededRandom? rng)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        var linears = new Module[config.LayerCount];
        for (int i = 0; i < linears.Length; i++)
            linears[i] = rng is null ? new Linear(config.Sizes[i], config.Sizes[i + 1]) : new Linear(config.Sizes[i], config.Sizes[i + 1], rng);
        _layers = RegisterModule("layers", new ModuleList(linears));
        ulong dropSeed = rng?.NextUInt64() ?? 0;
        _dropouts = new Dropout[Math.Max(0, config.LayerCount - 1)];
        for (int i = 0; i < _dropouts.Length; i++) _dropouts[i] = new Dropout(config.Dropout, Dropout.MixSeed(dropSeed, (ulong)i));
    }

    /// <summary>A zero-initialised MLP, to be filled by loading weights.</summary>
    public static Mlp CreateEmpty(ModelConfig config) => new(config, (SeededRandom?)null);

    /// <summary>The architecture.</summary>
    public ModelConfig Config { get; }

    IModelConfig IConfiguredModel.Config => Config;

    /// <summary>The layers, in order: a <see cref="Linear"/> or, after LoRA is applied, a wrapper of one.</summary>
    public ModuleList Layers => _layers;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x)
    {
        int n = _layers.Count;
        for (int i = 0; i < n; i++)
        {
            x = _layers[i].Forward(x);
            if (i + 1 < n)
            {
                x = Activation.Apply(Config.Activation, x);
                if (Training) x = _dropouts[i].Forward(x);
            }
        }
        return x;
    }

    /// <summary>The dropout between layers i and i + 1 (not registered as children: PyTorch's MLP applies
    /// <c>F.dropout</c> in <c>forward</c>, so it has no module names).</summary>
    internal IReadOnlyList<Dropout> Dropouts => _dropouts;

    /// <summary>Restarts every dropout mask sequence from <paramref name="seed"/>.</summary>
    public void ReseedDropout(ulong seed)
    {
        for (int i = 0; i < _dropouts.Length; i++) _dropouts[i].Reseed(Dropout.MixSeed(seed, (ulong)i));
    }
}
