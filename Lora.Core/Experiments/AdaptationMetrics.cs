using System.Text;
using System.Text.Json;

namespace Lora.Core.Experiments;

/// <summary>Writes an <see cref="AdaptationResult"/> as <c>metrics.json</c>.</summary>
/// <remarks>
/// Dotted names are nested objects: <c>task_b.lora</c> is <c>{"task_b": {"lora": …}}</c>. Keys: <c>base.accuracy</c>
/// (task A, held out), <c>task_b.before</c>, <c>task_b.lora</c>, <c>task_b.full</c>, <c>trainable_params.lora</c>,
/// <c>trainable_params.full</c>, <c>trainable_state_bytes.lora</c>, <c>trainable_state_bytes.full</c>,
/// <c>seconds_per_epoch.lora</c>, <c>seconds_per_epoch.full</c>, <c>peak_working_set_bytes</c>, the per-epoch
/// <c>history</c>, and under <c>config</c> every option of the run, the <c>model</c> (<c>--model</c> name) and the
/// base model's <c>architecture</c> (its config.json). A language model adds <c>perplexity.base</c> (task A),
/// <c>perplexity.before</c>, <c>perplexity.lora</c>, <c>perplexity.full</c> (task B) and
/// <c>tokens_per_second.lora</c>, <c>tokens_per_second.full</c> (training throughput). A figure that is not finite (a
/// perplexity beyond float range after a run that went astray, say) is written as <c>null</c>: JSON has no NaN or
/// infinity.
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
            Number(w, "accuracy", r.BaseAccuracy);
            w.WriteEndObject();
            Pair(w, "task_b", r.Lora.Accuracy, r.Full.Accuracy, ("before", r.TaskBBefore));
            Pair(w, "trainable_params", r.Lora.TrainableParameters, r.Full.TrainableParameters);
            Pair(w, "trainable_state_bytes", r.Lora.TrainableStateBytes, r.Full.TrainableStateBytes);
            Pair(w, "seconds_per_epoch", r.Lora.SecondsPerEpoch, r.Full.SecondsPerEpoch);
            if (r.Task.IsLanguageModel)
            {
                w.WriteStartObject("perplexity");
                Number(w, "base", AdaptationResult.Perplexity(r.BaseLoss));
                Number(w, "before", AdaptationResult.Perplexity(r.TaskBBeforeLoss));
                Number(w, "lora", AdaptationResult.Perplexity(r.Lora.Loss));
                Number(w, "full", AdaptationResult.Perplexity(r.Full.Loss));
                w.WriteEndObject();
                Pair(w, "tokens_per_second", r.Lora.SamplesPerSecond * r.Task.TokensPerSample, r.Full.SamplesPerSecond * r.Task.TokensPerSample);
            }
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
            w.WriteString("shift", r.Data.TaskB);
            w.WriteString("model", r.Task.Name);
            if (r.Config is IO.ModelConfig mlp)
            {
                w.WriteStartArray("sizes");
                foreach (int s in mlp.Sizes) w.WriteNumberValue(s);
                w.WriteEndArray();
            }
            w.WritePropertyName("architecture");
            using (var architecture = JsonDocument.Parse(r.Config.ToJson())) architecture.RootElement.WriteTo(w);
            w.WriteNumber("seed", o.Seed);
            w.WriteNumber("test_fraction", o.TestFraction);
            w.WriteNumber("batch_size", o.BatchSize);
            w.WriteNumber("base_epochs", o.BaseEpochs);
            w.WriteNumber("base_lr", o.BaseLearningRate);
            w.WriteNumber("rank", o.Rank);
            w.WriteNumber("alpha", o.Alpha);
            w.WriteBoolean("use_dora", o.UseDora);
            w.WriteStartArray("targets");
            foreach (var t in o.Targets) w.WriteStringValue(t);
            w.WriteEndArray();
            w.WriteStartArray("modules_to_save");
            foreach (var m in o.ModulesToSave) w.WriteStringValue(m);
            w.WriteEndArray();
            w.WriteNumber("lora_lr", o.LoraLearningRate);
            w.WriteNumber("lora_epochs", o.LoraEpochs);
            w.WriteNumber("full_lr", o.FullLearningRate);
            w.WriteNumber("full_epochs", o.FullEpochs);
            w.WriteString("optimizer", "adamw");
            w.WriteString("schedule", AdaptationOptions.ScheduleName(o.Schedule));
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
        if (first is { } f) Number(w, f.Key, f.Value);
        Number(w, "lora", lora);
        Number(w, "full", full);
        w.WriteEndObject();
    }

    static void Number(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value)) w.WriteNumber(name, value);
        else w.WriteNull(name);
    }

    static void History(Utf8JsonWriter w, string name, Training.TrainingHistory h)
    {
        w.WriteStartArray(name);
        foreach (var e in h.Epochs)
        {
            w.WriteStartObject();
            w.WriteNumber("epoch", e.Epoch);
            Number(w, "train_loss", e.TrainLoss);
            Number(w, "train_accuracy", e.TrainAccuracy);
            if (e.ValidationLoss is double vl) Number(w, "test_loss", vl);
            if (e.ValidationAccuracy is double va) Number(w, "test_accuracy", va);
            Number(w, "seconds", e.Seconds);
            Number(w, "lr", e.LearningRate);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
