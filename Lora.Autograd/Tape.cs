using System.Runtime.CompilerServices;

namespace Lora.Autograd;

/// <summary>
/// Records ops in execution order and runs their backward functions in reverse. Each thread has one
/// (<see cref="Current"/>); it also owns the activations that ops produce, and <see cref="Reset"/> returns them
/// to its pool so that a steady-state training step allocates nothing.
/// </summary>
/// <remarks>
/// A training step is: <c>Tape.Current.Reset()</c>, forward, <c>loss.Backward()</c>, optimizer step,
/// <c>ZeroGrad()</c> on the parameters. Backward walks the recorded nodes from last to first with a plain loop
/// (no recursion, so depth is unlimited) and calls each node whose output received a gradient. After a backward the
/// tape is <em>consumed</em>: the graph cannot be walked again nor extended until <see cref="Reset"/>.
/// </remarks>
public sealed unsafe class Tape
{
    [ThreadStatic] static Tape? t_current;
    [ThreadStatic] static bool t_noGrad;

    Node[] _nodes = new Node[64];
    int _count;
    readonly List<Tensor> _live = new(64);
    readonly Stack<Tensor> _free = new(64);
    // Tensor objects released by the last reset: reissued only after the next one, so that a reference kept from the
    // previous step reads as released (and throws) during this whole step instead of aliasing a new activation.
    readonly List<Tensor> _cooling = new(64);
    readonly List<int[]> _liveInts = new(8);
    bool _consumed;

    internal readonly BufferPool Pool = new();

    /// <summary>This thread's tape.</summary>
    public static Tape Current => t_current ??= new Tape();

    /// <summary>False inside a <see cref="NoGrad"/> scope on this thread.</summary>
    public static bool IsGradEnabled => !t_noGrad;

    /// <summary>Stops recording on this thread until the returned scope is disposed (the previous state is then restored).</summary>
    /// <example><code>using (Tape.NoGrad()) { var logits = model.Forward(x); }</code></example>
    public static NoGradScope NoGrad()
    {
        var scope = new NoGradScope(t_noGrad);
        t_noGrad = true;
        return scope;
    }

    internal static void SetNoGrad(bool value) => t_noGrad = value;

    /// <summary>When true, every op checks its output (and every backward the gradients it wrote) for NaN and ±∞
    /// and throws <see cref="NotFiniteNumberException"/> naming the op. Off by default: it costs a pass over each tensor.</summary>
    public bool CheckFinite { get; set; }

    /// <summary>The number of nodes recorded since the last reset.</summary>
    public int NodeCount => _count;

    /// <summary>The number of activations (op outputs and saved tensors) alive since the last reset.</summary>
    public int LiveTensorCount => _live.Count;

    /// <summary>Bytes of activation storage the pool has allocated so far (in use or idle).</summary>
    public long PooledBytes => Pool.AllocatedBytes;

    /// <summary>Whether a backward pass has run since the last reset.</summary>
    public bool IsConsumed => _consumed;

    /// <summary>Forgets the graph and returns every activation to the pool; tensors made by ops since the previous
    /// reset must not be used afterwards. Parameters and their gradients are untouched.</summary>
    /// <remarks>Storage is reused at once, tensor objects only after the next reset: until then a reference kept from
    /// before this reset throws <see cref="ObjectDisposedException"/> when read, instead of silently standing for a
    /// new activation. (After two resets the object may be reissued, and a stale reference can no longer be told
    /// from its new owner.)</remarks>
    public void Reset()
    {
        foreach (var t in _cooling) _free.Push(t);
        _cooling.Clear();
        foreach (var t in _live)
        {
            if (t._ownsData) Pool.Return(t._data!);
            if (t._ownsGrad) Pool.Return(t._grad!);
            t._data = null;
            t._grad = null;
            t._ownsData = t._ownsGrad = false;
            t._requiresGrad = false;
            t.Name = null;
            _cooling.Add(t);
        }
        _live.Clear();
        foreach (var a in _liveInts) Pool.Return(a);
        _liveInts.Clear();
        Array.Clear(_nodes, 0, _count); // drop references so released objects are not kept alive through the array
        _count = 0;
        _consumed = false;
    }

    /// <summary><see cref="Reset"/>, then lets the garbage collector reclaim the pooled activation storage (the
    /// pool otherwise keeps the peak of a step for reuse, for the life of the thread). The next step allocates
    /// again.</summary>
    public void ResetAndReleaseMemory()
    {
        Reset();
        Pool.Clear();
        _free.Clear();
        _free.TrimExcess();
        _cooling.Clear();
        _cooling.TrimExcess();
    }

    /// <summary>A pooled activation with unspecified contents; released on reset.</summary>
    internal Tensor NewTensor(Shape shape)
    {
        var t = Rent();
        t._data = Pool.RentFloats(shape.Length);
        t._offset = 0;
        t._shape = shape;
        t._ownsData = true;
        return t;
    }

    /// <summary>A pooled tensor object sharing <paramref name="source"/>'s storage under another shape.</summary>
    internal Tensor NewView(Tensor source, Shape shape)
    {
        var t = Rent();
        t._data = source._data ?? throw new ObjectDisposedException(nameof(Tensor), "the source of a view was released by Tape.Reset().");
        t._offset = source._offset;
        t._shape = shape;
        t._ownsData = false;
        return t;
    }

    /// <summary>A pooled int array of at least <paramref name="length"/> elements; released on reset.</summary>
    internal int[] RentInts(int length)
    {
        var a = Pool.RentInts(length);
        _liveInts.Add(a);
        return a;
    }

    Tensor Rent()
    {
        var t = _free.Count > 0 ? _free.Pop() : new Tensor();
        t._tape = this;
        t._grad = null;
        t._requiresGrad = false;
        _live.Add(t);
        return t;
    }

    /// <summary>Whether an op with these inputs must record a node (gradients enabled and some input requires one).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool NeedsGrad(Tensor? a, Tensor? b = null, Tensor? c = null, Tensor? d = null) =>
        !t_noGrad && ((a?._requiresGrad ?? false) || (b?._requiresGrad ?? false) || (c?._requiresGrad ?? false) || (d?._requiresGrad ?? false));

    /// <summary>Appends a node for <paramref name="output"/> (which then requires a gradient) and returns it to fill in.</summary>
    internal ref Node Record(string op, delegate*<ref Node, void> backward, Tensor output)
    {
        if (_consumed)
            throw new InvalidOperationException($"{op}: this tape was consumed by Backward(); call Tape.Reset() before recording the next forward pass.");
        if (_count == _nodes.Length) Array.Resize(ref _nodes, _count * 2);
        ref Node n = ref _nodes[_count++];
        n.Backward = backward;
        n.Op = op;
        n.Out = output;
        output._requiresGrad = true;
        return ref n;
    }

    /// <summary>Ends an op's forward: runs the opt-in finite check and returns the output.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal Tensor Finish(string op, Tensor output)
    {
        if (CheckFinite) FiniteCheck.Throw(op, "output", output.Data);
        return output;
    }

    internal void Backward(Tensor root, ReadOnlySpan<float> seed)
    {
        if (_consumed)
            throw new InvalidOperationException("Backward() over a tape that was already consumed: gradients from this graph were already propagated. Call Tape.Reset() and run the forward pass again.");
        if (root._tape != this) throw new InvalidOperationException($"{root.Describe()} was recorded on another thread's tape.");
        _consumed = true;
        Kernels.Elementwise.AddInto(seed, root.Grad);
        for (int i = _count - 1; i >= 0; i--)
        {
            ref Node n = ref _nodes[i];
            if (n.Out._grad == null) continue; // not on a path to the root
            n.Backward(ref n);
            if (CheckFinite) FiniteCheck.Inputs(ref n);
        }
    }
}

/// <summary>Restores the previous gradient mode of its thread when disposed. See <see cref="Tape.NoGrad"/>.</summary>
public readonly struct NoGradScope : IDisposable
{
    readonly bool _previous;

    internal NoGradScope(bool previous) => _previous = previous;

    /// <summary>Restores the gradient mode that was in force when the scope was created.</summary>
    public void Dispose() => Tape.SetNoGrad(_previous);
}
