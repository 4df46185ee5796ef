using System.Globalization;
using Lora.Core.IO;
using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.Optim;

/// <summary>
/// An optimizer's state as a safetensors file, to resume training where it stopped: one F32 tensor per slot and
/// kind of state, named <c>{kind}.{slot}</c> with PyTorch's kinds (AdamW: <c>exp_avg</c>, <c>exp_avg_sq</c>; SGD with
/// momentum: <c>momentum_buffer</c>) and the slot's parameter shape, plus <c>__metadata__</c> with the format, the
/// optimizer type and the step count (which also positions the learning-rate schedule). A slot that spent steps frozen
/// has its own update count (AdamW's bias correction) as <c>__metadata__["step.{slot}"]</c>; a slot without that key
/// took every step, so files written before per-slot counts existed read as they did.
/// </summary>
/// <remarks>A load refuses NaN, ∞ and negative second moments (InvalidDataException naming the key), which would turn
/// the parameters NaN at the next step. Hyperparameters (learning rate, betas, weight decay) are not stored: they are the constructor's, so a
/// resumed run may change them, as with PyTorch when a new value is set after <c>load_state_dict</c>.</remarks>
internal static class OptimizerStateFile
{
    public const string Format = "lora-optimizer-state";
    public const string Version = "1";

    static int[] ShapeOf(OptimizerSlot s) => s.Parameter is { } p ? p.Shape.ToArray() : [s.Length];

    public static void Save(string path, Optimizer optimizer, IReadOnlyList<(string Kind, Memory<float>[] Views)> kinds)
    {
        var tensors = new List<TensorData>();
        foreach (var (kind, views) in kinds)
            for (int i = 0; i < optimizer.Slots.Count; i++)
                tensors.Add(new TensorData($"{kind}.{optimizer.Slots[i].Name}", ShapeOf(optimizer.Slots[i]), views[i].ToArray()));
        var metadata = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["version"] = Version,
            ["optimizer"] = optimizer.GetType().Name,
            ["step"] = optimizer.StepCount.ToString(CultureInfo.InvariantCulture),
        };
        for (int i = 0; i < optimizer.Slots.Count; i++)
            if (optimizer.SlotStepCount(i) != optimizer.StepCount)
                metadata[SlotStepPrefix + optimizer.Slots[i].Name] = optimizer.SlotStepCount(i).ToString(CultureInfo.InvariantCulture);
        SafeTensors.Write(path, tensors, metadata);
    }

    const string SlotStepPrefix = "step.";

    /// <summary>Reads and checks the whole file, then returns the step count, each slot's update count and one array
    /// per (kind, slot) in the order of <paramref name="kinds"/>; nothing is assigned here, so a failed load changes nothing.</summary>
    public static (long Step, long[] SlotSteps, float[][][] Values) Load(string path, Optimizer optimizer, IReadOnlyList<(string Kind, Memory<float>[] Views)> kinds)
    {
        var file = SafeTensors.Read(path);
        string name = file.FileName;
        string Meta(string key) => file.Metadata.TryGetValue(key, out var v) ? v
            : throw Corrupt(name, $"__metadata__.{key}", "missing: not an optimizer state written by Lora");
        if (Meta("format") != Format) throw Corrupt(name, "__metadata__.format", $"is '{Meta("format")}', expected '{Format}'");
        if (Meta("version") != Version) throw Corrupt(name, "__metadata__.version", $"is '{Meta("version")}'; this Lora reads version {Version}");
        string type = optimizer.GetType().Name;
        if (Meta("optimizer") != type)
            throw Corrupt(name, "__metadata__.optimizer", $"the state is a {Meta("optimizer")}'s, but this optimizer is a {type}");
        if (!long.TryParse(Meta("step"), NumberStyles.None, CultureInfo.InvariantCulture, out long step))
            throw Corrupt(name, "__metadata__.step", $"'{Meta("step")}' is not a step count");
        var slotSteps = new long[optimizer.Slots.Count];
        Array.Fill(slotSteps, step);
        foreach (var (key, text) in file.Metadata)
        {
            if (!key.StartsWith(SlotStepPrefix, StringComparison.Ordinal)) continue;
            int i = IndexOf(optimizer, key[SlotStepPrefix.Length..]);
            if (i < 0) throw Corrupt(name, $"__metadata__.{key}", $"unexpected key: this {type} has no such slot (its slots: {Describe(optimizer)})");
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n > step)
                throw Corrupt(name, $"__metadata__.{key}", $"'{text}' is not an update count between 0 and the step count {step}");
            slotSteps[i] = n;
        }
        var expected = new HashSet<string>(StringComparer.Ordinal);
        var values = new float[kinds.Count][][];
        for (int k = 0; k < kinds.Count; k++)
        {
            values[k] = new float[optimizer.Slots.Count][];
            for (int i = 0; i < optimizer.Slots.Count; i++)
            {
                var slot = optimizer.Slots[i];
                string key = $"{kinds[k].Kind}.{slot.Name}";
                expected.Add(key);
                values[k][i] = file.Require(key, ShapeOf(slot)).Data;
                if (BadValue(values[k][i], kinds[k].Kind) is { } why) throw Corrupt(name, Quote(key), why);
            }
        }
        foreach (var t in file.Tensors)
            if (!expected.Contains(t.Name))
                throw Corrupt(name, Quote(t.Name), $"unexpected key: this {type} has no such slot or state (its slots: {Describe(optimizer)})");
        return (step, slotSteps, values);
    }

    /// <summary>Why the values cannot be an optimizer state, or null: a NaN or ∞ anywhere (the next step would put it into
    /// the parameters), or a negative second moment (√v would be NaN).</summary>
    static string? BadValue(float[] values, string kind)
    {
        bool moment2 = kind == "exp_avg_sq";
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (!float.IsFinite(v) || moment2 && v < 0)
                return $"element {i} is {v.ToString(CultureInfo.InvariantCulture)}; {(moment2 ? "a second moment is finite and ≥ 0" : "a state value is finite")}, so the file is corrupt (or saved from a diverged run)";
        }
        return null;
    }

    static int IndexOf(Optimizer o, string slot)
    {
        for (int i = 0; i < o.Slots.Count; i++) if (o.Slots[i].Name == slot) return i;
        return -1;
    }

    static string Describe(Optimizer o) =>
        o.Slots.Count <= 6 ? string.Join(", ", o.Slots.Select(s => s.Name)) : $"{string.Join(", ", o.Slots.Take(6).Select(s => s.Name))}, … ({o.Slots.Count} in all)";
}
