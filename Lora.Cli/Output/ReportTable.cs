using System.Globalization;
using Lora.Core.Experiments;

namespace Lora.Cli.Output;

/// <summary>The main job's one comparison table.</summary>
internal static class ReportTable
{
    public static void Write(TextWriter w, AdaptationResult r, AdaptationOptions o, string dataName, long peakBytes, double seconds, string outDir)
    {
        var c = CultureInfo.InvariantCulture;
        string targets = string.Join(",", o.Targets);
        w.WriteLine(string.Create(c, $"data: {dataName}; {r.Sizes.Train:N0} train / {r.Sizes.Test:N0} test; {r.Config.Summary}"));
        string perplexityA = r.Task.IsLanguageModel ? string.Create(c, $", perplexity {AdaptationResult.Perplexity(r.BaseLoss):0.00}") : "";
        w.WriteLine(string.Create(c, $"task A (held out): base accuracy {Pct(r.BaseAccuracy)}{perplexityA}; task B = {r.Data.TaskB}"));
        w.WriteLine();
        string saved = o.ModulesToSave.Count == 0 ? "" : $"; full: {string.Join(",", o.ModulesToSave)}";
        string loraHeader = $"{(o.UseDora ? "DoRA" : "LoRA")} (r={o.Rank}, {targets}{saved})";
        // The LoRA column grows with its header (long target lists) so the columns never run together.
        int width = Math.Max(28, loraHeader.Length + 2);
        void Row(string label, string a, string b, string d) => w.WriteLine(label.PadRight(24) + a.PadRight(12) + b.PadRight(width) + d);
        Row("", "before", loraHeader, "full fine-tuning");
        Row("accuracy on task B", Pct(r.TaskBBefore), Pct(r.Lora.Accuracy), Pct(r.Full.Accuracy));
        if (r.Task.IsLanguageModel)
        {
            Row("perplexity on task B", Ppl(r.TaskBBeforeLoss), Ppl(r.Lora.Loss), Ppl(r.Full.Loss));
            Row("tokens per second", "", string.Create(c, $"{r.Lora.SamplesPerSecond * r.Task.TokensPerSample:N0}"),
                string.Create(c, $"{r.Full.SamplesPerSecond * r.Task.TokensPerSample:N0}"));
        }
        Row("trainable parameters", "", string.Create(c, $"{r.Lora.TrainableParameters:N0} ({100.0 * r.Lora.TrainableParameters / Math.Max(1, r.Full.TrainableParameters):0.0}%)"),
            string.Create(c, $"{r.Full.TrainableParameters:N0}"));
        Row("trainable state bytes", "", string.Create(c, $"{r.Lora.TrainableStateBytes:N0}"), string.Create(c, $"{r.Full.TrainableStateBytes:N0}"));
        Row("seconds per epoch", "", string.Create(c, $"{r.Lora.SecondsPerEpoch:0.0000}"), string.Create(c, $"{r.Full.SecondsPerEpoch:0.0000}"));
        Row("peak working set", string.Create(c, $"{peakBytes / (1024.0 * 1024.0):0.0} MiB"), "", "");
        w.WriteLine();
        w.WriteLine(string.Create(c, $"wall time {seconds:0.0} s; outputs in {outDir}"));
    }

    static string Ppl(double loss) => AdaptationResult.Perplexity(loss).ToString("0.00", CultureInfo.InvariantCulture);

    static string Pct(double v) => (100 * v).ToString("0.00", CultureInfo.InvariantCulture) + "%";
}
