using Lora.Autograd;

namespace Lora.Core.Modules;

/// <summary>Children named <c>0</c>, <c>1</c>, … applied in order (PyTorch's <c>nn.Sequential</c>).</summary>
public sealed class Sequential : Module
{
    Module[] _layers;

    /// <summary>Chains <paramref name="layers"/>.</summary>
    public Sequential(params Module[] layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        _layers = new Module[layers.Length];
        for (int i = 0; i < layers.Length; i++) _layers[i] = RegisterModule(i.ToString(System.Globalization.CultureInfo.InvariantCulture), layers[i]);
    }

    /// <summary>The number of children.</summary>
    public int Count => _layers.Length;

    /// <summary>Child <paramref name="index"/>.</summary>
    public Module this[int index] => _layers[index];

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x)
    {
        foreach (var layer in _layers) x = layer.Forward(x);
        return x;
    }

    /// <inheritdoc/>
    protected override void OnChildReplaced(string name, Module module) => _layers[int.Parse(name, System.Globalization.CultureInfo.InvariantCulture)] = module;
}
