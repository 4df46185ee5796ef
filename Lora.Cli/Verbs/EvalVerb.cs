using System.Globalization;
using Lora.Core.Data;
using Lora.Core.Experiments;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Training;

namespace Lora.Cli.Verbs;

/// <summary><c>lora eval</c>: loss and accuracy of a model, optionally with an adapter, on held-out data.</summary>
internal static class EvalVerb
{
    public const string Help = """
        usage: lora eval --model DIR [--adapter DIR] [--data DIR] [--shift NAME] [--seed N]

        Evaluates a model (config.json + model.safetensors), with a PEFT-layout adapter applied if given, on held-out
        data: the t10k files of an IDX directory (--data), or by default the embedded digits' test split of
        'lora train' with the same --seed (default 1). --shift rotate90|flip|shift-labels evaluates on task B.

        """;

    public static int Run(IReadOnlyList<string> args, TextWriter stdout)
    {
        var o = CliOptions.Parse("eval", args, ["model", "adapter", "data", "shift", "seed"], []);
        if (o.Positionals.Count > 0) throw new UsageException($"eval: unexpected argument '{o.Positionals[0]}'.");
        var defaults = new AdaptationOptions();
        var options = defaults with { Seed = (ulong)o.Int("seed", (int)defaults.Seed, min: 0) };
        if (o.String("shift") is { } shiftName)
        {
            if (!AdaptationOptions.TryParseShift(shiftName, out var shift))
                throw new UsageException($"--shift: unknown shift '{shiftName}' (rotate90, flip or shift-labels).");
            options = options with { Shift = shift };
        }
        var model = ModelFiles.Load(o.RequiredString("eval", "model"));
        if (o.String("adapter") is { } adapterDir) LoraAdapterFiles.Load(model, adapterDir);

        Dataset test = o.String("data") is { } dataDir
            ? Idx.LoadDirectory(dataDir).Test
            : DatasetSplit.Split(Digits.Load(), options.TestFraction, options.Seed, stratified: true).Test;
        if (o.String("shift") is not null) test = options.ApplyShift(test);
        int inputs = model.Config.Sizes[0], classes = model.Config.Sizes[^1];
        if (test.FeatureCount != inputs || test.ClassCount > classes)
            throw new UsageException($"eval: the model takes {inputs} inputs and {classes} classes but the data has {test.FeatureCount} features and {test.ClassCount} classes.");
        var e = Trainer.Evaluate(model, test);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{test.Name}: {e.Count:N0} samples, loss {e.Loss:0.0000}, accuracy {100 * e.Accuracy:0.00}%{(o.String("adapter") is null ? "" : " (with adapter)")}"));
        return CliApp.Ok;
    }
}
