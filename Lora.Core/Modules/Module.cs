using Lora.Autograd;

namespace Lora.Core.Modules;

/// <summary>A layer or a model: parameters and child modules under names, and a forward pass.</summary>
/// <remarks>
/// <para>Names are hierarchical like PyTorch's state-dict keys: a child registered as <c>layers</c> holding a child
/// <c>0</c> with a parameter <c>weight</c> gives <c>layers.0.weight</c>. Each <see cref="Parameter"/>'s own name is
/// kept equal to its full path (it shows up in error messages), updated whenever a module is attached or replaced.</para>
/// <para>Modules start in training mode; <see cref="Eval"/> switches the whole tree (dropout off), <see cref="Train"/>
/// back. Freezing a parameter (<see cref="Parameter.Frozen"/>) removes it from the gradient computation and from
/// <see cref="TrainableParameters"/>, which is what optimizers are built over.</para>
/// </remarks>
public abstract class Module
{
    readonly List<(string Name, Parameter Parameter)> _parameters = [];
    readonly List<(string Name, Module Module)> _children = [];
    string _prefix = "";

    bool _training = true;
    [ThreadStatic] static bool t_evaluating;

    /// <summary>True in training mode (the default), false after <see cref="Eval"/>, and false for every module on a
    /// thread inside <see cref="EvaluationScope"/>.</summary>
    public bool Training => _training && !t_evaluating;

    /// <summary>Runs every module in evaluation mode on the calling thread until the scope is disposed (which restores
    /// the thread's previous state), without changing any module's mode. <c>Trainer.Predict</c> and
    /// <c>Trainer.Evaluate</c> use it, so that threads predicting with one shared model never see each other switch
    /// it (they used to flip the model to eval and back, which let a concurrent call run with dropout on).</summary>
    /// <example><code>using (Module.EvaluationScope()) { var logits = model.Forward(x); }</code></example>
    public static EvaluationScopeHandle EvaluationScope()
    {
        var scope = new EvaluationScopeHandle(t_evaluating);
        t_evaluating = true;
        return scope;
    }

    /// <summary>Restores the thread's previous evaluation state when disposed. See <see cref="EvaluationScope"/>.</summary>
    public readonly struct EvaluationScopeHandle : IDisposable
    {
        readonly bool _previous;

        internal EvaluationScopeHandle(bool previous) => _previous = previous;

        /// <summary>Restores the state that was in force when the scope was created.</summary>
        public void Dispose() => t_evaluating = _previous;
    }

    /// <summary>The forward pass; <paramref name="x"/> is (batch, features).</summary>
    public abstract Tensor Forward(Tensor x);

    /// <summary>This module's direct parameters, by local name.</summary>
    protected IReadOnlyList<(string Name, Parameter Parameter)> OwnParameters => _parameters;

    /// <summary>This module's direct children, by local name, in registration order.</summary>
    public IReadOnlyList<(string Name, Module Module)> Children => _children;

    /// <summary>Registers <paramref name="parameter"/> under <paramref name="name"/> (may contain dots, e.g.
    /// <c>lora_A.default.weight</c>) and renames it to its full path.</summary>
    /// <exception cref="ArgumentException">The name is empty or already used.</exception>
    protected Parameter RegisterParameter(string name, Parameter parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        CheckFreeName(name);
        _parameters.Add((name, parameter));
        ((Tensor)parameter).Name = _prefix + name;
        return parameter;
    }

    /// <summary>Removes the parameter registered as <paramref name="name"/>.</summary>
    protected void UnregisterParameter(string name)
    {
        int i = _parameters.FindIndex(p => p.Name == name);
        if (i < 0) throw new ArgumentException($"{GetType().Name} has no parameter '{name}'.", nameof(name));
        _parameters.RemoveAt(i);
    }

    /// <summary>Registers <paramref name="module"/> as a child named <paramref name="name"/>.</summary>
    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        ArgumentNullException.ThrowIfNull(module);
        CheckFreeName(name);
        if (name.Contains('.')) throw new ArgumentException($"Module name '{name}' must not contain a dot.", nameof(name));
        _children.Add((name, module));
        module.SetPrefix(_prefix + name + ".");
        return module;
    }

    /// <summary>Puts <paramref name="module"/> in place of the child named <paramref name="name"/>; the new child
    /// takes over the mode (train/eval) of this module.</summary>
    /// <exception cref="ArgumentException">No child has that name.</exception>
    public void ReplaceChild(string name, Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        int i = _children.FindIndex(c => c.Name == name);
        if (i < 0) throw new ArgumentException($"{GetType().Name} at '{_prefix}' has no child '{name}'.", nameof(name));
        _children[i] = (name, module);
        module.SetPrefix(_prefix + name + ".");
        module.SetMode(_training);
        OnChildReplaced(name, module);
    }

    /// <summary>Lets containers that cache typed references to children refresh them after <see cref="ReplaceChild"/>.</summary>
    protected virtual void OnChildReplaced(string name, Module module) { }

    void CheckFreeName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (_parameters.Exists(p => p.Name == name) || _children.Exists(c => c.Name == name))
            throw new ArgumentException($"{GetType().Name}: the name '{name}' is already registered.", nameof(name));
    }

    void SetPrefix(string prefix)
    {
        _prefix = prefix;
        foreach (var (name, p) in _parameters) ((Tensor)p).Name = prefix + name;
        foreach (var (name, c) in _children) c.SetPrefix(prefix + name + ".");
    }

    /// <summary>Every parameter of the tree with its full name, depth first in registration order (own parameters first),
    /// each once: a parameter shared by two paths (one module registered twice, tied weights) is listed under the first,
    /// as PyTorch's <c>named_parameters()</c> does, so counts, reports and optimizers see it once.</summary>
    public IEnumerable<(string Name, Parameter Parameter)> NamedParameters()
    {
        var seen = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        foreach (var np in NamedParameters(""))
            if (seen.Add(np.Parameter)) yield return np;
    }

    IEnumerable<(string Name, Parameter Parameter)> NamedParameters(string prefix)
    {
        foreach (var (name, p) in _parameters) yield return (prefix + name, p);
        foreach (var (name, c) in _children)
            foreach (var np in c.NamedParameters(prefix + name + ".")) yield return np;
    }

    /// <summary>Every parameter of the tree.</summary>
    public IEnumerable<Parameter> Parameters() => NamedParameters().Select(p => p.Parameter);

    /// <summary>The parameters that are not frozen, with their names.</summary>
    public IEnumerable<(string Name, Parameter Parameter)> TrainableParameters() => NamedParameters().Where(p => !p.Parameter.Frozen);

    /// <summary>This module (path "") and every descendant with its path, e.g. <c>layers.0</c>.</summary>
    public IEnumerable<(string Path, Module Module)> NamedModules() => NamedModules("");

    IEnumerable<(string Path, Module Module)> NamedModules(string path)
    {
        yield return (path, this);
        foreach (var (name, c) in _children)
            foreach (var nm in c.NamedModules(path.Length == 0 ? name : path + "." + name)) yield return nm;
    }

    /// <summary>The descendant at <paramref name="path"/> ("" is this module).</summary>
    /// <exception cref="ArgumentException">No module has that path.</exception>
    public Module GetSubmodule(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        Module m = this;
        if (path.Length == 0) return m;
        foreach (var part in path.Split('.'))
        {
            int i = m._children.FindIndex(c => c.Name == part);
            if (i < 0) throw new ArgumentException($"The model has no module '{path}' (no child '{part}').", nameof(path));
            m = m._children[i].Module;
        }
        return m;
    }

    /// <summary>The number of parameter elements in the tree.</summary>
    public long ParameterCount() { long n = 0; foreach (var p in Parameters()) n += p.Length; return n; }

    /// <summary>The number of trainable (not frozen) parameter elements.</summary>
    public long TrainableParameterCount() { long n = 0; foreach (var (_, p) in TrainableParameters()) n += p.Length; return n; }

    /// <summary>Training mode for the whole tree (dropout active).</summary>
    public Module Train() { SetMode(true); return this; }

    /// <summary>Evaluation mode for the whole tree (dropout off).</summary>
    public Module Eval() { SetMode(false); return this; }

    void SetMode(bool training)
    {
        _training = training;
        foreach (var (_, c) in _children) c.SetMode(training);
    }

    /// <summary>Freezes every parameter in the tree.</summary>
    public void Freeze() { foreach (var p in Parameters()) p.Frozen = true; }

    /// <summary>Unfreezes every parameter in the tree.</summary>
    public void Unfreeze() { foreach (var p in Parameters()) p.Frozen = false; }

    /// <summary>Zeroes every parameter's gradient.</summary>
    public void ZeroGrad() { foreach (var p in Parameters()) p.ZeroGrad(); }
}
