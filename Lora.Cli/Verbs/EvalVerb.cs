using System.Globalization;
using Lora.Core.Data;
using Lora.Core.Experiments;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Models;
using Lora.Core.Modules;

namespace Lora.Cli.Verbs;

/// <summary><c>lora eval</c>: loss and accuracy (and perplexity for language models) of a saved model of any demo,
/// optionally with an adapter, on held-out data of its task A or B.</summary>
internal static class EvalVerb
{
    public const string Help = """
        usage: lora eval --model DIR [--adapter DIR] [--task a|b] [--data DIR] [--shift NAME] [--seed N]

        Evaluates a model (config.json + model.safetensors) written by 'lora train' for any --model, with a
        PEFT-layout adapter applied if given, on the held-out data of its demo: task A by default, task B with
        --task b. The held-out split is the one 'lora train' made: with the --seed it recorded in the model (a merged
        model keeps it), or --seed N to choose another (default 1 for a model without one). Image models
        also take --data DIR (the t10k files of an IDX directory) and --shift rotate90|flip|shift-labels (which
        evaluates on that task B).

        """;

    public static int Run(IReadOnlyList<string> args, TextWriter stdout)
    {
        var o = CliOptions.Parse("eval", args, ["model", "adapter", "task", "data", "shift", "seed"], []);
        if (o.Positionals.Count > 0) throw new UsageException($"eval: unexpected argument '{o.Positionals[0]}'.");
        string modelDir = o.RequiredString("eval", "model");
        var model = ModelFiles.Load(modelDir);
        var config = ((IConfiguredModel)model).Config;
        var task = DemoTasks.ForModelType(config.ModelType)
            ?? throw new UsageException($"eval: no demo evaluates a model of type '{config.ModelType}'.");
        foreach (var (option, setting) in new[] { ("data", DemoSettings.Data), ("shift", DemoSettings.Shift) })
            if (o.String(option) is not null && !task.Settings.HasFlag(setting))
                throw new UsageException($"eval: --{option} does not apply to a {task.Name} model.");
        var defaults = task.Defaults;
        var options = defaults with { Seed = (ulong)o.Int("seed", RecordedSeed(modelDir) ?? (int)defaults.Seed, min: 0) };
        bool taskB = o.String("shift") is not null;
        if (o.String("shift") is { } shiftName)
        {
            if (!AdaptationOptions.TryParseShift(shiftName, out var shift))
                throw new UsageException($"--shift: unknown shift '{shiftName}' (rotate90, flip or shift-labels).");
            options = options with { Shift = shift };
        }
        switch (o.String("task"))
        {
            case null: break;
            case "a" or "A":
                if (taskB) throw new UsageException("eval: --task a contradicts --shift (which evaluates on task B).");
                break;
            case "b" or "B": taskB = true; break;
            case var t: throw new UsageException($"--task: expected a or b, got '{t}'.");
        }
        if (o.String("adapter") is { } adapterDir) LoraAdapterFiles.Load(model, adapterDir);

        var data = task.LoadData(options, o.String("data"));
        Dataset test = taskB ? data.TestB : data.TestA;
        task.CheckCompatible(config, test);
        var e = task.Evaluate(model, test);
        string perplexity = task.IsLanguageModel ? string.Create(CultureInfo.InvariantCulture, $", perplexity {AdaptationResult.Perplexity(e.Loss):0.00}") : "";
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{test.Name}: {e.Count:N0} samples, loss {e.Loss:0.0000}, accuracy {100 * e.Accuracy:0.00}%{perplexity}{(o.String("adapter") is null ? "" : " (with adapter)")}"));
        return CliApp.Ok;
    }

    /// <summary>The --seed 'lora train' recorded in the model's weights file (or a merge carried over), or null.</summary>
    static int? RecordedSeed(string modelDir)
    {
        string weights = Path.Combine(modelDir, ModelCheckpoint.WeightsFileName);
        if (!SafeTensors.ReadHeader(weights).Metadata.TryGetValue(TrainVerb.SeedKey, out var text)) return null;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int seed) ? seed
            : throw new InvalidDataException($"{weights}: __metadata__.{TrainVerb.SeedKey}: '{text}' is not a seed 'lora train' writes (a non-negative integer)");
    }
}
