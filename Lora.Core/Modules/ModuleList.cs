using Lora.Autograd;

namespace Lora.Core.Modules;

/// <summary>Children named <c>0</c>, <c>1</c>, … held for a parent that applies them itself (PyTorch's <c>nn.ModuleList</c>).</summary>
public sealed class ModuleList : Module
{
    readonly Module[] _items;

    /// <summary>Holds <paramref name="items"/>.</summary>
    public ModuleList(params Module[] items)
    {
        ArgumentNullException.ThrowIfNull(items);
        _items = new Module[items.Length];
        for (int i = 0; i < items.Length; i++) _items[i] = RegisterModule(i.ToString(System.Globalization.CultureInfo.InvariantCulture), items[i]);
    }

    /// <summary>The number of children.</summary>
    public int Count => _items.Length;

    /// <summary>Child <paramref name="index"/>.</summary>
    public Module this[int index] => _items[index];

    /// <summary>A module list has no forward of its own.</summary>
    /// <exception cref="InvalidOperationException">Always.</exception>
    public override Tensor Forward(Tensor x) => throw new InvalidOperationException("ModuleList has no forward; its parent applies the children.");

    /// <inheritdoc/>
    protected override void OnChildReplaced(string name, Module module) => _items[int.Parse(name, System.Globalization.CultureInfo.InvariantCulture)] = module;
}
