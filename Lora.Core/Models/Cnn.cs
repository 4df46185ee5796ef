using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Modules;

namespace Lora.Core.Models;

/// <summary>A small convolutional classifier with the layout of <see cref="CnnConfig"/>: conv blocks (Conv2d → ReLU →
/// MaxPool2d(2)) in a list named <c>convs</c>, then a Linear <c>head</c> over the flattened features.</summary>
/// <remarks>The ReLU, pooling, unflatten and flatten steps hold no parameters and are applied in <see cref="Forward"/>,
/// as a PyTorch module would apply them functionally, so the parameter names are the checkpoint's keys. Children
/// are called through the module tree, so LoRA wrappers on <c>convs.{i}</c> or <c>head</c> take effect.</remarks>
public sealed class Cnn : Module, IConfiguredModel
{
    readonly ModuleList _convs;
    readonly Unflatten _unflatten;
    readonly MaxPool2d _pool = new(2);
    readonly Flatten _flatten = new();
    Module _head;

    /// <summary>A freshly initialised CNN (PyTorch's Conv2d and Linear initialisation), drawn in layer order from
    /// <paramref name="seed"/>.</summary>
    public Cnn(CnnConfig config, ulong seed) : this(config, new SeededRandom(seed)) { }

    Cnn(CnnConfig config, SeededRandom? rng)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        var convs = new Module[config.Channels.Count];
        int cin = config.InChannels, k = config.KernelSize;
        for (int i = 0; i < convs.Length; i++)
        {
            int cout = config.Channels[i];
            convs[i] = rng is null ? new Conv2d(cin, cout, k, stride: 1, padding: k / 2) : new Conv2d(cin, cout, k, rng, stride: 1, padding: k / 2);
            cin = cout;
        }
        _convs = RegisterModule("convs", new ModuleList(convs));
        _head = RegisterModule("head", rng is null ? new Linear(config.HeadFeatures, config.Classes) : new Linear(config.HeadFeatures, config.Classes, rng));
        _unflatten = new Unflatten(config.InChannels, config.Height, config.Width);
    }

    /// <summary>A zero-initialised CNN, to be filled by loading weights.</summary>
    public static Cnn CreateEmpty(CnnConfig config) => new(config, (SeededRandom?)null);

    /// <summary>The architecture.</summary>
    public CnnConfig Config { get; }

    IModelConfig IConfiguredModel.Config => Config;

    /// <summary>The conv layers, in order: a <see cref="Conv2d"/> or, after LoRA is applied, a wrapper of one.</summary>
    public ModuleList Convs => _convs;

    /// <summary>The classifier head: a <see cref="Linear"/> or a wrapper of one.</summary>
    public Module Head => _head;

    /// <summary>x (N, C·H·W) → logits (N, classes).</summary>
    public override Tensor Forward(Tensor x)
    {
        x = _unflatten.Forward(x);
        for (int i = 0; i < _convs.Count; i++) x = _pool.Forward(Ops.Relu(_convs[i].Forward(x)));
        return _head.Forward(_flatten.Forward(x));
    }

    /// <inheritdoc/>
    protected override void OnChildReplaced(string name, Module module)
    {
        if (name == "head") _head = module;
    }
}
