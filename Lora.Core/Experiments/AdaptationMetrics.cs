using System.Text;
using System.Text.Json;

namespace Lora.Core.Experiments;

/// <summary>Writes an <see cref="AdaptationResult"/> as <c>metrics.json</c>.</summary>
/// <remarks>
/// Dotted names are nested objects: <c>task_b.lora</c> is <c>{"task_b": {"lora": …}}</c>. Keys: <c>base.accuracy</c>
/// (task A, held out), <c>task_b.before</c>, <c>task_b.lora</c>, <c>task_b.full</c>, <c>trainable_params.lora</c>,
/// <c>trainable_params.full</c>, <c>trainable_state_bytes.lora</c>, <c>trainable_state_bytes.full</c>,
/// <c>seconds_per_epoch.lora</c>, <c>seconds_per_epoch.full</c>, <c>peak_working_set_bytes</c>, the per-epoch
/// <c>history</c>, and under <c>config</c> every option of the run.
/// </remarks>
public static class AdaptationMetrics
{
    /// <summary>The JSON text (UTF-8 bytes, indented).</summary>
    public static byte[] ToJson(AdaptationResult r, AdaptationOptions o, string dataName, long peakWorkingSetBytes)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartObject("base");
            w.WriteNumber("accuracy", r.BaseAccuracy);
            w.WriteEndObject();
            Pair(w, "task_b", r.Lora.Accuracy, r.Full.Accuracy, ("before", r.TaskBBefore));
            Pair(w, "trainable_params", r.Lora.TrainableParameters, r.Full.TrainableParameters);
            Pair(w, "trainable_state_bytes", r.Lora.TrainableStateBytes, r.Full.TrainableStateBytes);
            Pair(w, "seconds_per_epoch", r.Lora.SecondsPerEpoch, r.Full.SecondsPerEpoch);
            w.WriteNumber("peak_working_set_bytes", peakWorkingSetBytes);
            w.WriteStartObject("history");
            History(w, "base", r.BaseHistory);
            History(w, "lora", r.Lora.History);
            History(w, "full", r.Full.History);
            w.WriteEndObject();
            w.WriteStartObject("config");
            w.WriteString("data", dataName);
            w.WriteNumber("train_samples", r.Sizes.Train);
            w.WriteNumber("test_samples", r.Sizes.Test);
            w.WriteString("shift", AdaptationOptions.ShiftName(o.Shift));
            w.WriteStartArray("sizes");
            foreach (int s in r.Base.Config.Sizes) w.WriteNumberValue(s);
            w.WriteEndArray();
            w.WriteNumber("seed", o.Seed);
            w.WriteNumber("test_fraction", o.TestFraction);
            w.WriteNumber("batch_size", o.BatchSize);
            w.WriteNumber("base_epochs", o.BaseEpochs);
            w.WriteNumber("base_lr", o.BaseLearningRate);
            w.WriteNumber("rank", o.Rank);
            w.WriteNumber("alpha", o.Alpha);
            w.WriteStartArray("targets");
            foreach (var t in o.Targets) w.WriteStringValue(t);
            w.WriteEndArray();
            w.WriteNumber("lora_lr", o.LoraLearningRate);
            w.WriteNumber("lora_epochs", o.LoraEpochs);
            w.WriteNumber("full_lr", o.FullLearningRate);
            w.WriteNumber("full_epochs", o.FullEpochs);
            w.WriteString("optimizer", "adamw");
            w.WriteNumber("threads", Kernels.KernelThreads.Count);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        stream.WriteByte((byte)'\n');
        return stream.ToArray();
    }

    static void Pair(Utf8JsonWriter w, string name, double lora, double full, (string Key, double Value)? first = null)
    {
        w.WriteStartObject(name);
        if (first is { } f) w.WriteNumber(f.Key, f.Value);
        w.WriteNumber("lora", lora);
        w.WriteNumber("full", full);
        w.WriteEndObject();
    }

    static void History(Utf8JsonWriter w, string name, Training.TrainingHistory h)
    {
        w.WriteStartArray(name);
        foreach (var e in h.Epochs)
        {
            w.WriteStartObject();
            w.WriteNumber("epoch", e.Epoch);
            w.WriteNumber("train_loss", e.TrainLoss);
            w.WriteNumber("train_accuracy", e.TrainAccuracy);
            if (e.ValidationLoss is double vl) w.WriteNumber("test_loss", vl);
            if (e.ValidationAccuracy is double va) w.WriteNumber("test_accuracy", va);
            w.WriteNumber("seconds", e.Seconds);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
