namespace Lora.Core.Optim;

/// <summary>Base of the optimizers: a fixed list of trainable slots, a learning-rate schedule, optional clipping.</summary>
/// <remarks>
/// <para>State (moments, momentum) is allocated once, only for the slots given (the trainable parameters), as one
/// contiguous arena per kind of state. <see cref="Step"/> then allocates nothing: it clips, reads the schedule at
/// <see cref="StepCount"/>, updates every slot in order and advances the count.</para>
/// <para>Clipping (when <see cref="MaxGradNorm"/> is set) uses the norm of all slots' gradients together, in double,
/// in slot order, so it is deterministic (PyTorch's <c>clip_grad_norm_</c>).</para>
/// <para>A slot whose <see cref="OptimizerSlot.Parameter"/> is frozen is skipped, by the update (weight decay
/// included) and by the clipping norm, as PyTorch skips a parameter without a gradient: an optimizer built before
/// <c>ApplyLora</c> froze the base weights leaves them bitwise unchanged. Its state waits, and so does its own update
/// count (<see cref="SlotStepCount"/>, PyTorch's per-parameter <c>state["step"]</c>), which AdamW's bias correction
/// uses: a parameter unfrozen at step 1000 takes its first AdamW step as a fresh one would (about lr), not as step
/// 1001 with empty moments (about 3·lr). The schedule follows the optimizer's <see cref="StepCount"/>.</para>
/// </remarks>
public abstract class Optimizer
{
    readonly OptimizerSlot[] _slots;
    readonly long[] _slotSteps;

    /// <summary>Creates the optimizer over <paramref name="slots"/>.</summary>
    /// <exception cref="ArgumentException">No slots, two slots with the same name, or a bad max norm.</exception>
    protected Optimizer(IEnumerable<OptimizerSlot> slots, LearningRateSchedule schedule, double? maxGradNorm)
    {
        ArgumentNullException.ThrowIfNull(slots);
        ArgumentNullException.ThrowIfNull(schedule);
        _slots = slots.ToArray();
        for (int i = 0; i < _slots.Length; i++)
            if (_slots[i] is null) throw new ArgumentException($"Optimizer slot {i} of {_slots.Length} is null.", nameof(slots));
        if (_slots.Length == 0) throw new ArgumentException("An optimizer needs at least one trainable parameter; none was given.", nameof(slots));
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in _slots)
            if (!names.Add(s.Name)) throw new ArgumentException($"Parameter '{s.Name}' was given to the optimizer twice.", nameof(slots));
        if (maxGradNorm is { } mn) GradientClipping.Coefficient(0, mn);
        _slotSteps = new long[_slots.Length];
        _schedule = schedule;
        MaxGradNorm = maxGradNorm;
        foreach (var s in _slots) _maxLrScale = Math.Max(_maxLrScale, s.LrScale);
        GradientArena = PlaceGradients();
    }

    /// <summary>The contiguous block holding the gradients of every slot made from a parameter.</summary>
    public float[] GradientArena { get; }

    float[] PlaceGradients()
    {
        long n = 0;
        foreach (var s in _slots) if (s.Parameter is not null) n += s.Length;
        var arena = new float[n];
        int offset = 0;
        foreach (var s in _slots)
        {
            if (s.Parameter is null) continue;
            s.Parameter.SetGradStorage(arena, offset);
            offset += s.Length;
        }
        return arena;
    }

    /// <summary>The trainable tensors, in update order.</summary>
    public IReadOnlyList<OptimizerSlot> Slots => _slots;

    /// <summary>The learning rate as a function of the step.</summary>
    /// <exception cref="ArgumentNullException">Set to null.</exception>
    public LearningRateSchedule Schedule
    {
        get => _schedule;
        set => _schedule = value ?? throw new ArgumentNullException(nameof(value), "Optimizer.Schedule cannot be null.");
    }

    LearningRateSchedule _schedule;
    readonly float _maxLrScale;

    /// <summary>The gradient-norm threshold, or null for no clipping.</summary>
    public double? MaxGradNorm { get; }

    /// <summary>The number of steps taken so far.</summary>
    public long StepCount { get; private set; }

    /// <summary>The learning rate used by the last step.</summary>
    public double LastLearningRate { get; private set; }

    /// <summary>The gradient norm before clipping at the last step (NaN when neither clipping nor a
    /// <see cref="NonFiniteGradients"/> check computed it).</summary>
    public double LastGradNorm { get; private set; } = double.NaN;

    /// <summary>What a step does with a NaN or infinite gradient norm (default <see cref="NonFiniteGradientPolicy.Apply"/>).
    /// Any other policy computes the norm at every step, with clipping off too: one pass over the trainable
    /// gradients.</summary>
    /// <exception cref="ArgumentException">Set to a value outside the enum.</exception>
    public NonFiniteGradientPolicy NonFiniteGradients
    {
        get;
        set => field = Enum.IsDefined(value) ? value : throw new ArgumentException($"Unknown NonFiniteGradientPolicy {(int)value}.", nameof(value));
    }

    /// <summary>Steps this object has left out under <see cref="NonFiniteGradientPolicy.Skip"/> (not counted in
    /// <see cref="StepCount"/>, and not saved with the optimizer's state).</summary>
    public long SkippedSteps { get; private set; }

    /// <summary>The number of trainable elements.</summary>
    public long ParameterCount { get { long n = 0; foreach (var s in _slots) n += s.Length; return n; } }

    /// <summary>Floats of optimizer state per trainable element (AdamW: 2, SGD with momentum: 1, plain SGD: 0).</summary>
    public abstract int StateFloatsPerParameter { get; }

    /// <summary>Bytes of optimizer state actually allocated.</summary>
    public long StateBytes => ParameterCount * StateFloatsPerParameter * sizeof(float);

    /// <summary>Applies one update to every slot from its current gradient (frozen parameters excepted).</summary>
    /// <exception cref="InvalidOperationException">The schedule (a custom one) gave a learning rate that is NaN, negative,
    /// or too large for float once multiplied by a slot's scale; or, under <see cref="NonFiniteGradientPolicy.Throw"/>, the
    /// gradient norm is NaN or infinite. Either way nothing is changed.</exception>
    public void Step()
    {
        // Read first: a bad rate must fail before the clipping below scales the gradients.
        double lr = Schedule.At(StepCount);
        if (!(lr >= 0 && float.IsFinite((float)(lr * _maxLrScale)) && float.IsFinite((float)lr)))
            throw new InvalidOperationException($"The {Schedule.GetType().Name} schedule gave learning rate {lr.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} for step {StepCount}; it must be ≥ 0 and finite in float (the largest slot scale is {_maxLrScale}).");
        bool check = NonFiniteGradients != NonFiniteGradientPolicy.Apply;
        if (MaxGradNorm is not null || check)
        {
            double sum = 0;
            foreach (var s in _slots) if (!IsFrozen(s)) sum += GradientClipping.SumOfSquares(s.Gradient);
            double norm = Math.Sqrt(sum);
            LastGradNorm = norm;
            if (check && !double.IsFinite(norm))
            {
                // Before anything is scaled or updated: the step either never happened or fails whole.
                if (NonFiniteGradients == NonFiniteGradientPolicy.Skip) { SkippedSteps++; return; }
                throw new InvalidOperationException($"Optimizer step {StepCount + 1}: the gradient norm is {(double.IsNaN(norm) ? "NaN" : "∞")} ({FirstNonFinite()}); nothing was updated.");
            }
        }
        if (MaxGradNorm is { } maxNorm)
        {
            double coef = GradientClipping.Coefficient(LastGradNorm, maxNorm);
            if (coef < 1)
            {
                float f = (float)coef;
                foreach (var s in _slots)
                {
                    if (IsFrozen(s)) continue;
                    var g = s.Gradient;
                    for (int i = 0; i < g.Length; i++) g[i] *= f;
                }
            }
        }
        LastLearningRate = lr;
        StepCount++;
        BeginStep(StepCount);
        for (int i = 0; i < _slots.Length; i++)
        {
            var s = _slots[i];
            if (IsFrozen(s)) continue;
            _slotSteps[i]++;
            Update(i, s.Value, s.Gradient, (float)(lr * s.LrScale), s.Decay);
        }
    }

    // Names the first slot holding a NaN or infinite gradient element, for the error message.
    string FirstNonFinite()
    {
        foreach (var s in _slots)
        {
            if (IsFrozen(s)) continue;
            var g = s.Gradient;
            for (int i = 0; i < g.Length; i++)
                if (!float.IsFinite(g[i])) return $"'{s.Name}' element {i} is {g[i].ToString(System.Globalization.CultureInfo.InvariantCulture)}";
        }
        return "no single element is; the sum of squares overflowed";
    }

    /// <summary>The updates slot <paramref name="index"/> has received: <see cref="StepCount"/> less the steps it
    /// spent frozen (PyTorch's per-parameter <c>state["step"]</c>). During <see cref="Update"/> it already counts the
    /// update being made (1 at a slot's first).</summary>
    public long SlotStepCount(int index) => _slotSteps[index];

    static bool IsFrozen(OptimizerSlot s) => s.Parameter is { Frozen: true };

    /// <summary>Sets every slot's gradient to zero.</summary>
    public void ZeroGrad()
    {
        foreach (var s in _slots) s.Gradient.Clear();
    }

    /// <summary>Writes the optimizer's state (moments or momentum of every slot, and the step count) to a safetensors
    /// file at <paramref name="path"/>, atomically, so that training can resume where it stopped
    /// (<see cref="LoadState"/>); the parameters themselves are saved with the model or adapter.</summary>
    public void SaveState(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        OptimizerStateFile.Save(path, this, StateKinds);
    }

    /// <summary>Reads a state written by <see cref="SaveState"/> for an optimizer of the same type over slots of the
    /// same names and shapes, and continues from it: the next <see cref="Step"/> is the one after the saved step count
    /// (the schedule and AdamW's bias correction included), so resumed training takes the steps the uninterrupted
    /// run would have taken.</summary>
    /// <exception cref="InvalidDataException">A corrupt file, another optimizer's state, a missing or unexpected slot, a
    /// shape mismatch, or a NaN, ∞ or negative second moment, naming the file and key; the optimizer is then unchanged.</exception>
    public void LoadState(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var kinds = StateKinds;
        var (step, slotSteps, values) = OptimizerStateFile.Load(path, this, kinds);
        for (int k = 0; k < kinds.Count; k++)
            for (int i = 0; i < _slots.Length; i++) values[k][i].CopyTo(kinds[k].Views[i].Span);
        slotSteps.CopyTo(_slotSteps, 0);
        StepCount = step;
    }

    /// <summary>The kinds of per-slot state, by PyTorch's names, each with one view per slot (none for plain SGD).</summary>
    protected virtual IReadOnlyList<(string Kind, Memory<float>[] Views)> StateKinds => [];

    /// <summary>Called once per step, before the updates, with the 1-based step number.</summary>
    protected virtual void BeginStep(long t) { }

    /// <summary>Updates slot <paramref name="index"/> in place.</summary>
    protected abstract void Update(int index, Span<float> value, ReadOnlySpan<float> gradient, float lr, bool decay);

    /// <summary>Carves one contiguous state arena into per-slot views.</summary>
    protected Memory<float>[] AllocateState()
    {
        var arena = new float[ParameterCount];
        var views = new Memory<float>[_slots.Length];
        int offset = 0;
        for (int i = 0; i < _slots.Length; i++)
        {
            views[i] = arena.AsMemory(offset, _slots[i].Length);
            offset += _slots[i].Length;
        }
        return views;
    }
}
