using Lora.Autograd;
using Lora.Core.Modules;

namespace Lora.Core.Lora;

/// <summary>A module trained in full next to the LoRA adapters (PEFT's <c>modules_to_save</c>, e.g. a classifier
/// head): the original stays frozen and each adapter gets its own trainable copy; the forward runs the active
/// adapter's copy.</summary>
/// <remarks>
/// <para>Children follow PEFT's <c>ModulesToSaveWrapper</c>: <c>original_module</c> (the wrapped module, frozen) and
/// <c>modules_to_save.{adapter}</c> (one full copy per adapter), so parameter names read
/// <c>layers.2.modules_to_save.default.weight</c>. The forward is the original's when adapters are disabled or no
/// copy is active (the active adapter has none here), else the active copy's. One copy at most is active: PEFT's
/// wrapper runs a single adapter's copy.</para>
/// <para>Lora can copy the module types it knows the full state of: <see cref="Linear"/>, <see cref="Conv2d"/> and
/// <see cref="Embedding"/> (<see cref="CanCopy"/>). Adapters are managed through <see cref="LoraModel"/>.</para>
/// </remarks>
public sealed class ModulesToSaveLayer : Module
{
    /// <summary>The child name of the frozen original (PEFT's).</summary>
    public const string OriginalName = "original_module";

    /// <summary>The child name of the container of per-adapter copies (PEFT's).</summary>
    public const string CopiesName = "modules_to_save";

    CopyList _copies;
    Module _running; // cached so the forward allocates nothing (looking a copy up by name would)

    /// <summary>Wraps <paramref name="original"/> (which becomes the child <c>original_module</c> and is frozen).</summary>
    /// <exception cref="ArgumentException">Lora cannot copy that module type (<see cref="CanCopy"/>).</exception>
    public ModulesToSaveLayer(Module original)
    {
        ArgumentNullException.ThrowIfNull(original);
        if (!CanCopy(original))
            throw new ArgumentException($"modules_to_save: Lora can train full copies of Linear, Conv2d and Embedding modules, not a {original.GetType().Name}.", nameof(original));
        Original = RegisterModule(OriginalName, original);
        _copies = RegisterModule(CopiesName, new CopyList([]));
        _running = original;
        original.Freeze();
    }

    /// <summary>The wrapped module, frozen (the base model's).</summary>
    public Module Original { get; }

    /// <summary>The adapters holding a copy, in the order added.</summary>
    public IReadOnlyList<string> AdapterNames => _copies.Children.Select(c => c.Name).ToList();

    /// <summary>The adapter whose copy runs, or null (the original runs).</summary>
    public string? ActiveAdapter { get; private set; }

    /// <summary>True when adapters are disabled: the original runs.</summary>
    public bool AdaptersDisabled { get; private set; }

    /// <summary>The module the forward runs now: the active copy, or the original when disabled or none is active.</summary>
    public Module Running => _running;

    /// <summary>True when adapter <paramref name="adapter"/> has a copy here.</summary>
    public bool HasCopy(string adapter) => _copies.Children.Any(c => c.Name == adapter);

    /// <summary>Adapter <paramref name="adapter"/>'s copy.</summary>
    /// <exception cref="ArgumentException">No such copy.</exception>
    public Module GetCopy(string adapter) =>
        _copies.Children.FirstOrDefault(c => c.Name == adapter).Module ?? throw new ArgumentException(
            $"modules_to_save module has no copy for adapter '{adapter}' (copies: {string.Join(", ", AdapterNames)}).", nameof(adapter));

    /// <summary>True for the module types Lora can copy in full: <see cref="Linear"/>, <see cref="Conv2d"/>, <see cref="Embedding"/>.</summary>
    public static bool CanCopy(Module module) => module is Linear or Conv2d or Embedding;

    /// <summary>True for the parameter name of a copy (a <c>modules_to_save.</c> path segment), which full fine-tuning
    /// of the base model would not have.</summary>
    public static bool IsCopyParameter(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.StartsWith(CopiesName + ".", StringComparison.Ordinal) || name.Contains("." + CopiesName + ".", StringComparison.Ordinal);
    }

    /// <summary>Adds a trainable copy of the original for <paramref name="adapter"/> (not activated) and returns it.</summary>
    /// <param name="values">The copy's parameters by local name (e.g. <c>weight</c>); null copies the original's.</param>
    /// <exception cref="ArgumentException">A duplicate or invalid name, or values that do not match the parameters.</exception>
    internal Module AddCopy(string adapter, IReadOnlyDictionary<string, float[]>? values = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(adapter);
        if (adapter.Contains('.')) throw new ArgumentException($"Adapter name '{adapter}' must not contain a dot.", nameof(adapter));
        if (HasCopy(adapter)) throw new ArgumentException($"modules_to_save module already has a copy for adapter '{adapter}'.", nameof(adapter));
        var copy = Copy(Original);
        if (values is not null)
            foreach (var (name, p) in copy.NamedParameters())
            {
                if (!values.TryGetValue(name, out var v) || v.Length != p.Length)
                    throw new ArgumentException($"modules_to_save copy of a {Original.GetType().Name}: parameter '{name}' needs {p.Length} values.", nameof(values));
                v.CopyTo(p.Data);
            }
        foreach (var p in copy.Parameters()) p.Frozen = false;
        Rebuild([.. _copies.Children, (adapter, copy)]);
        return copy;
    }

    /// <summary>Makes <paramref name="adapter"/>'s copy the one that runs, trainable, and freezes the other copies
    /// (PEFT's <c>set_adapter</c>); null (or an adapter without a copy here) runs the original and freezes every copy.</summary>
    internal void SetActive(string? adapter)
    {
        ActiveAdapter = adapter is not null && HasCopy(adapter) ? adapter : null;
        SetTrainable();
        Refresh();
    }

    // The running copy trains, the others are frozen; while disabled, every copy is frozen (the original stays
    // frozen throughout, where PEFT would make it trainable while disabled).
    void SetTrainable()
    {
        foreach (var (name, copy) in _copies.Children)
            foreach (var p in copy.Parameters()) p.Frozen = AdaptersDisabled || name != ActiveAdapter;
    }

    /// <summary>Removes <paramref name="adapter"/>'s copy; when it was active, the original runs afterwards.</summary>
    internal void DeleteCopy(string adapter)
    {
        _ = GetCopy(adapter);
        Rebuild(_copies.Children.Where(c => c.Name != adapter).ToList());
        if (ActiveAdapter == adapter) ActiveAdapter = null;
        Refresh();
    }

    internal void Disable()
    {
        AdaptersDisabled = true;
        SetTrainable();
        Refresh();
    }

    internal void Enable()
    {
        AdaptersDisabled = false;
        SetTrainable();
        Refresh();
    }

    void Refresh() => _running = AdaptersDisabled || ActiveAdapter is null ? Original : GetCopy(ActiveAdapter);

    // Module offers no way to remove a child, so the container is rebuilt and swapped in.
    void Rebuild(IReadOnlyList<(string Name, Module Module)> copies)
    {
        var next = new CopyList(copies);
        ReplaceChild(CopiesName, next);
        _copies = next;
    }

    static Module Copy(Module m)
    {
        Module copy = m switch
        {
            Linear l => new Linear(l.InFeatures, l.OutFeatures, l.Bias is not null),
            Conv2d c => new Conv2d(c.InChannels, c.OutChannels, c.KernelSize, c.Stride, c.Padding, c.Bias is not null),
            Embedding e => new Embedding(e.NumEmbeddings, e.EmbeddingDim),
            _ => throw new ArgumentException($"modules_to_save cannot copy a {m.GetType().Name}.", nameof(m)),
        };
        var source = m.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter, StringComparer.Ordinal);
        foreach (var (name, p) in copy.NamedParameters()) source[name].Data.CopyTo(p.Data);
        return copy;
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x) => _running.Forward(x);

    /// <inheritdoc/>
    public override string ToString() => $"ModulesToSaveLayer({Original}, copies=[{string.Join(", ", AdapterNames)}], active={ActiveAdapter ?? "none"})";

    /// <summary>The per-adapter copies under their adapter names (PEFT's ModuleDict <c>modules_to_save</c>).</summary>
    sealed class CopyList : Module
    {
        public CopyList(IReadOnlyList<(string Name, Module Module)> copies)
        {
            foreach (var (name, m) in copies) RegisterModule(name, m);
        }

        public override Tensor Forward(Tensor x) => throw new InvalidOperationException("modules_to_save holds copies; its parent runs one of them.");
    }
}
