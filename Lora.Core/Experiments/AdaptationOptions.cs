using System.Globalization;
using Lora.Core.Data;

namespace Lora.Core.Experiments;

/// <summary>The distribution shift that turns task A into the adaptation task B.</summary>
public enum TaskShift
{
    /// <summary>Every image turned 90° counter-clockwise, labels unchanged (the default).</summary>
    Rotate90,
    /// <summary>Every image mirrored left to right, labels unchanged.</summary>
    FlipHorizontal,
    /// <summary>Images unchanged, labels relabelled c → (c + 1) mod classes.</summary>
    ShiftLabels,
}

/// <summary>How the learning rate of each phase (pretraining, LoRA, full fine-tuning) moves over its steps.</summary>
public enum PhaseSchedule
{
    /// <summary>The phase's learning rate at every step (the default).</summary>
    Constant,
    /// <summary>Linear warm-up over the first <see cref="AdaptationOptions.WarmupFraction"/> of the phase's steps to
    /// its learning rate, then cosine decay to 0 at its last step.</summary>
    WarmupCosine,
}

/// <summary>Settings of <see cref="AdaptationExperiment"/>; the defaults are the main job's.</summary>
/// <remarks>
/// The defaults were chosen with a PyTorch prototype on the digits (docs/benchmarks.md, "The main job"): a
/// 64-256-256-10 ReLU MLP reaches ≥ 95% on task A; on the rotated task B it falls to chance; LoRA r = 8 on the
/// first layer only (3% of the parameters) recovers it to within a point of full fine-tuning.
/// </remarks>
public sealed record AdaptationOptions
{
    /// <summary>Hidden layer widths of the MLP (input and output sizes come from the data).</summary>
    public IReadOnlyList<int> Hidden { get; init; } = [256, 256];
    /// <summary>Seed of the split, the initialisations, the batch order and the adapter.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>Held-out fraction of the data when no separate test set is given.</summary>
    public double TestFraction { get; init; } = 0.2;
    /// <summary>Minibatch size of every phase.</summary>
    public int BatchSize { get; init; } = 64;
    /// <summary>Pretraining epochs on task A.</summary>
    public int BaseEpochs { get; init; } = 20;
    /// <summary>Pretraining learning rate (AdamW).</summary>
    public double BaseLearningRate { get; init; } = 1e-3;
    /// <summary>The shift from task A to task B.</summary>
    public TaskShift Shift { get; init; } = TaskShift.Rotate90;
    /// <summary>LoRA rank r.</summary>
    public int Rank { get; init; } = 8;
    /// <summary>LoRA alpha (scale s = alpha / r).</summary>
    public double Alpha { get; init; } = 16;
    /// <summary>DoRA instead of plain LoRA (<see cref="Lora.LoraConfig.UseDora"/>).</summary>
    public bool UseDora { get; init; }
    /// <summary>Modules LoRA adapts (names or patterns, see <see cref="Lora.LoraConfig.TargetModules"/>).</summary>
    public IReadOnlyList<string> Targets { get; init; } = ["layers.0"];
    /// <summary>Modules trained in full next to the LoRA factors (PEFT's <c>modules_to_save</c>, see
    /// <see cref="Lora.LoraConfig.ModulesToSave"/>; default none).</summary>
    public IReadOnlyList<string> ModulesToSave { get; init; } = [];
    /// <summary>LoRA learning rate (AdamW).</summary>
    public double LoraLearningRate { get; init; } = 1e-2;
    /// <summary>LoRA epochs on task B.</summary>
    public int LoraEpochs { get; init; } = 40;
    /// <summary>Full fine-tuning learning rate (AdamW).</summary>
    public double FullLearningRate { get; init; } = 1e-3;
    /// <summary>Full fine-tuning epochs on task B.</summary>
    public int FullEpochs { get; init; } = 20;
    /// <summary>The learning-rate schedule of every phase, each at its own peak rate (default constant).</summary>
    public PhaseSchedule Schedule { get; init; } = PhaseSchedule.Constant;

    /// <summary>Share of a phase's steps spent warming up under <see cref="PhaseSchedule.WarmupCosine"/>.</summary>
    public const double WarmupFraction = 0.05;

    /// <summary>The schedule of a phase of <paramref name="steps"/> optimizer steps at peak rate <paramref name="lr"/>.</summary>
    /// <remarks>Warm-up takes ⌈<see cref="WarmupFraction"/>·steps⌉ steps (at most steps − 1); a one-step phase is constant.</remarks>
    public Optim.LearningRateSchedule ScheduleFor(double lr, long steps)
    {
        if (Schedule == PhaseSchedule.Constant || steps < 2) return Optim.LearningRateSchedule.Constant(lr);
        long warmup = Math.Min((long)Math.Ceiling(WarmupFraction * steps), steps - 1);
        return Optim.LearningRateSchedule.WarmupCosine(lr, warmup, steps);
    }

    /// <summary>The name used on the command line and in metrics.json.</summary>
    public static string ScheduleName(PhaseSchedule schedule) => schedule == PhaseSchedule.WarmupCosine ? "cosine" : "constant";

    /// <summary>Parses a name of <see cref="ScheduleName"/>.</summary>
    public static bool TryParseSchedule(string name, out PhaseSchedule schedule)
    {
        foreach (var s in Enum.GetValues<PhaseSchedule>())
            if (ScheduleName(s) == name) { schedule = s; return true; }
        schedule = default;
        return false;
    }

    /// <summary>Checks every value; throws <see cref="ArgumentException"/> naming the first bad one.</summary>
    public void Validate()
    {
        if (Hidden.Count == 0 || Hidden.Any(h => h < 1)) throw new ArgumentException($"hidden sizes [{string.Join(", ", Hidden)}] must be at least 1 each.", nameof(Hidden));
        if (!(TestFraction > 0 && TestFraction < 1)) throw new ArgumentException($"test fraction {Num(TestFraction)} must be in (0, 1).", nameof(TestFraction));
        Positive(BatchSize, "batch size"); Positive(BaseEpochs, "base epochs"); Positive(LoraEpochs, "LoRA epochs"); Positive(FullEpochs, "full fine-tuning epochs");
        Positive(Rank, "rank");
        Rate(BaseLearningRate, "base learning rate"); Rate(LoraLearningRate, "LoRA learning rate"); Rate(FullLearningRate, "full fine-tuning learning rate");
        if (!(double.IsFinite(Alpha) && Alpha > 0)) throw new ArgumentException($"alpha {Num(Alpha)} must be finite and positive.", nameof(Alpha));
        if (Targets.Count == 0) throw new ArgumentException("at least one LoRA target module is needed.", nameof(Targets));
        if (ModulesToSave is null || ModulesToSave.Any(string.IsNullOrEmpty))
            throw new ArgumentException("modules to save must be non-empty names (an empty one would select every module).", nameof(ModulesToSave));
        if (!Enum.IsDefined(Schedule)) throw new ArgumentException($"unknown schedule {Schedule}.", nameof(Schedule));
    }

    /// <summary>Task B's data from task A's.</summary>
    public Dataset ApplyShift(Dataset a) => Shift switch
    {
        TaskShift.Rotate90 => ImageTransforms.Rotate90(a),
        TaskShift.FlipHorizontal => ImageTransforms.FlipHorizontal(a),
        TaskShift.ShiftLabels => ImageTransforms.RemapClasses(a, Enumerable.Range(0, a.ClassCount).Select(c => (c + 1) % a.ClassCount).ToArray()),
        _ => throw new ArgumentException($"unknown shift {Shift}.", nameof(Shift)),
    };

    /// <summary>The name used on the command line and in metrics.json.</summary>
    public static string ShiftName(TaskShift shift) => shift switch
    {
        TaskShift.Rotate90 => "rotate90",
        TaskShift.FlipHorizontal => "flip",
        TaskShift.ShiftLabels => "shift-labels",
        _ => shift.ToString(),
    };

    /// <summary>Parses a name of <see cref="ShiftName"/>.</summary>
    public static bool TryParseShift(string name, out TaskShift shift)
    {
        foreach (var s in Enum.GetValues<TaskShift>())
            if (ShiftName(s) == name) { shift = s; return true; }
        shift = default;
        return false;
    }

    static void Positive(int v, string what)
    {
        if (v < 1) throw new ArgumentException($"{what} {v} must be at least 1.");
    }

    static void Rate(double v, string what)
    {
        if (!(double.IsFinite(v) && v > 0)) throw new ArgumentException($"{what} {Num(v)} must be finite and positive.");
    }

    static string Num(double v) => v.ToString(CultureInfo.InvariantCulture);
}
