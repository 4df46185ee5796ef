using System.Diagnostics;
using System.Globalization;
using Lora.Cli.Output;
using Lora.Core.Data;
using Lora.Core.Experiments;
using Lora.Core.Training;
using Lora.Core.Lora;
using Lora.Core.Models;
using Lora.Core.Modules;

namespace Lora.Cli.Verbs;

/// <summary><c>lora train</c>: the main job (pretrain on task A, adapt to task B with LoRA and with full fine-tuning,
/// report), writing base/, adapter/, metrics.json and curves.svg into the output directory.</summary>
internal static class TrainVerb
{
    /// <summary>The help text, with each demo's defaults.</summary>
    public static string Help
    {
        get
        {
            var sb = new System.Text.StringBuilder("""
                usage: lora train [--model NAME] [options]

                Pretrains a base model on task A, moves to task B, adapts the same base with LoRA and with full
                fine-tuning, and prints one comparison table. --model chooses the demo (default mlp):

                """);
            foreach (var t in DemoTasks.All) sb.Append(Invariant($"  {t.Name,-10}  {t.Description}\n"));
            sb.Append("""

                data (image models only):
                  --data DIR          MNIST-format IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-…;
                                      raw or .gz), e.g. /usr/share/datasets/fashion-mnist. Default: the embedded
                                      UCI digits (1,797 8×8 images, 80/20 split)
                  --shift NAME        rotate90 (default) | flip | shift-labels
                model and pretraining:
                  --hidden LIST       widths, comma-separated (mlp: hidden layers; cnn: conv channels;
                                      rnn: embedding,hidden; embedding: table width)
                  --base-epochs N     --base-lr X
                LoRA:
                  --rank N            --alpha X
                  --dora              DoRA (weight-decomposed LoRA: a trained magnitude per output) instead of
                                      plain LoRA (Linear, convolution and embedding targets)
                  --targets LIST      modules to adapt, comma-separated; each must select a layer
                  --modules-to-save LIST
                                      modules trained in full next to LoRA and saved whole in the adapter (PEFT's
                                      modules_to_save: a module whose path ends with an entry), comma-separated,
                                      e.g. the mlp's head layers.2; default none
                  --lr X              --epochs N
                full fine-tuning:
                  --full-lr X         --full-epochs N
                run:
                  --batch-size N      --seed N      (default 1)
                  --schedule NAME     learning rate of every phase: constant | cosine (5% linear warm-up, then
                                      cosine decay to 0 over the phase); default per model below
                  --threads N         kernel threads (default: all cores, or LORA_NUM_THREADS)
                  --out DIR           output directory (default runs/<timestamp>); an existing one needs --force
                  --force             replace an existing output directory
                  --quiet             no progress output

                defaults per model:

                """);
            foreach (var t in DemoTasks.All)
            {
                var d = t.Defaults;
                sb.Append(Invariant($"  {t.Name,-10}  "));
                if (t.Settings.HasFlag(DemoSettings.Hidden)) sb.Append(Invariant($"--hidden {string.Join(",", d.Hidden)} "));
                sb.Append(Invariant($"--base-epochs {d.BaseEpochs} --base-lr {d.BaseLearningRate} --rank {d.Rank} --alpha {d.Alpha} --targets {string.Join(",", d.Targets)}\n"));
                sb.Append(Invariant($"              --lr {d.LoraLearningRate} --epochs {d.LoraEpochs} --full-lr {d.FullLearningRate} --full-epochs {d.FullEpochs} --batch-size {d.BatchSize} --schedule {AdaptationOptions.ScheduleName(d.Schedule)}\n"));
            }
            return sb.Append('\n').ToString();
        }
    }

    /// <summary>The metadata key of base/model.safetensors recording the run's --seed, which chose the held-out split:
    /// 'lora eval' reads it, so evaluating with another seed's split (mostly training samples) takes an explicit --seed.</summary>
    public const string SeedKey = "lora_seed";

    static readonly string[] Valued = ["model", "data", "shift", "hidden", "base-epochs", "base-lr", "rank", "alpha", "targets",
        "modules-to-save", "lr", "epochs", "full-lr", "full-epochs", "batch-size", "seed", "threads", "out", "schedule"];

    public static int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr)
    {
        var o = CliOptions.Parse("train", args, Valued, ["force", "quiet", "dora"]);
        if (o.Positionals.Count > 0) throw new UsageException($"train: unexpected argument '{o.Positionals[0]}'.");
        string modelName = o.String("model") ?? DemoTasks.All[0].Name;
        var task = DemoTasks.Find(modelName)
            ?? throw new UsageException($"--model: unknown model '{modelName}' ({string.Join(", ", DemoTasks.All.Select(t => t.Name))}).");
        foreach (var (option, setting) in Optional)
            if (o.String(option) is not null && !task.Settings.HasFlag(setting))
                throw new UsageException($"train: --{option} does not apply to --model {task.Name}.");
        var options = ReadOptions(o, task.Defaults);
        string outDir = o.String("out") ?? Path.Combine("runs", DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
        int threads = o.Int("threads", 0, min: 1, max: Lora.Kernels.KernelThreads.MaxCount);
        if (threads > 0) Lora.Kernels.KernelThreads.Count = threads;

        // Refuse an existing directory and read the data before spending any time training.
        using var output = AtomicDirectory.Create(outDir, o.Flag("force"), o.String("data"));
        var data = task.LoadData(options, o.String("data"));
        CheckMemory(task, data, options, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);
        CheckEveryTargetMatches(task, data, options);

        var progress = new ProgressReporter(stderr, ProgressReporter.Detect(o.Flag("quiet")));
        var clock = Stopwatch.StartNew();
        ExperimentPhase? current = null;
        void OnProgress(ExperimentPhase phase, Lora.Core.Training.TrainingProgress p)
        {
            if (current != phase) progress.BeginPhase(PhaseName(phase), p.Epochs);
            current = phase;
            if (p.Kind == Lora.Core.Training.ProgressKind.Batch) progress.Batch(p.Epoch, p.Batch, p.BatchesPerEpoch, p.Loss);
            else progress.EpochEnd(p.Epoch, p.Loss, p.EpochResult?.ValidationAccuracy, p.SamplesPerSecond);
        }
        AdaptationResult result;
        try
        {
            result = AdaptationExperiment.Run(task, data, options, OnProgress);
        }
        catch (TrainingDivergedException e)
        {
            progress.Abort();
            throw new UsageException($"train: {e.Message} This phase's learning rate: {LearningRateOption(e.Phase, options)}.");
        }
        long peak = Process.GetCurrentProcess().PeakWorkingSet64;

        ModelFiles.Save(result.Base, Path.Combine(output.Staging, "base"),
            new Dictionary<string, string> { [SeedKey] = options.Seed.ToString(CultureInfo.InvariantCulture) });
        LoraAdapterFiles.Save(result.Lora.Model, Path.Combine(output.Staging, "adapter"), baseModelNameOrPath: "../base");
        File.WriteAllBytes(Path.Combine(output.Staging, "metrics.json"), AdaptationMetrics.ToJson(result, options, data.Name, peak));
        File.WriteAllText(Path.Combine(output.Staging, "curves.svg"), Curves(result, options));
        output.Commit();

        ReportTable.Write(stdout, result, options, data.Name, peak, clock.Elapsed.TotalSeconds, Path.GetFullPath(outDir));
        return CliApp.Ok;
    }

    /// <summary>Options only some demos use, and the setting each one sets.</summary>
    static readonly (string Option, DemoSettings Setting)[] Optional =
        [("data", DemoSettings.Data), ("shift", DemoSettings.Shift), ("hidden", DemoSettings.Hidden)];

    static AdaptationOptions ReadOptions(CliOptions o, AdaptationOptions d)
    {
        string shiftName = o.String("shift") ?? AdaptationOptions.ShiftName(d.Shift);
        if (!AdaptationOptions.TryParseShift(shiftName, out var shift))
            throw new UsageException($"--shift: unknown shift '{shiftName}' (rotate90, flip or shift-labels).");
        string scheduleName = o.String("schedule") ?? AdaptationOptions.ScheduleName(d.Schedule);
        if (!AdaptationOptions.TryParseSchedule(scheduleName, out var schedule))
            throw new UsageException($"--schedule: unknown schedule '{scheduleName}' (constant or cosine).");
        return d with
        {
            Shift = shift,
            Schedule = schedule,
            Hidden = o.String("hidden") is { } h ? IntList("hidden", h) : d.Hidden,
            BaseEpochs = o.Int("base-epochs", d.BaseEpochs, min: 1),
            BaseLearningRate = o.Float("base-lr", (float)d.BaseLearningRate, min: float.Epsilon),
            Rank = o.Int("rank", d.Rank, min: 1),
            Alpha = o.Float("alpha", (float)d.Alpha, min: float.Epsilon),
            UseDora = o.Flag("dora"),
            Targets = o.String("targets") is { } t ? List("targets", t) : d.Targets,
            ModulesToSave = o.String("modules-to-save") is { } m ? List("modules-to-save", m) : d.ModulesToSave,
            LoraLearningRate = o.Float("lr", (float)d.LoraLearningRate, min: float.Epsilon),
            LoraEpochs = o.Int("epochs", d.LoraEpochs, min: 1),
            FullLearningRate = o.Float("full-lr", (float)d.FullLearningRate, min: float.Epsilon),
            FullEpochs = o.Int("full-epochs", d.FullEpochs, min: 1),
            BatchSize = o.Int("batch-size", d.BatchSize, min: 1),
            Seed = (ulong)o.Int("seed", (int)d.Seed, min: 0),
        };
    }

    /// <summary>Refuses a model that cannot fit in memory, before anything of it is allocated: such a job used to
    /// be killed by the kernel's out-of-memory killer with no message (--hidden 40000,40000 on 24 GB).</summary>
    internal static void CheckMemory(DemoTask task, DemoData data, AdaptationOptions options, long availableBytes)
    {
        var config = task.BaseConfig(data, options);
        long parameters = config.ParameterCount();
        long needed = AdaptationExperiment.EstimatedPeakBytes(parameters);
        if (availableBytes <= 0 || needed <= availableBytes) return;
        throw new UsageException(Invariant($"train: the {task.Name} model ({config.Summary}) has {parameters:N0} parameters; a job holds about {AdaptationExperiment.PeakBytesPerParameter} bytes per parameter at its peak (the base, LoRA and fine-tuned copies, gradients, AdamW state), {needed / 1e9:F1} GB, more than the {availableBytes / 1e9:F1} GB available; use smaller --hidden widths."));
    }

    /// <summary>Refuses a --targets entry that selects no layer. The library follows PEFT, which needs only one entry
    /// to match; here every entry was typed for this model, and the report would name a typo as if it were adapted.</summary>
    static void CheckEveryTargetMatches(DemoTask task, DemoData data, AdaptationOptions options)
    {
        var layers = task.CreateBase(data, options).AdaptableLayers().ToList();
        var paths = layers.Select(l => l.Path).ToList();
        foreach (var target in options.Targets)
        {
            var config = new LoraConfig { TargetModules = [target] };
            if (!paths.Any(config.Targets))
                throw new UsageException($"--targets: '{target}' selects no layer of the {task.Name} model (its adaptable layers: {string.Join(", ", paths)}).");
        }
    }

    static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    static string[] List(string name, string value)
    {
        var items = value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return items.Length > 0 ? items : throw new UsageException($"--{name}: expected a comma-separated list, got '{value}'.");
    }

    static int[] IntList(string name, string value) => List(name, value).Select(s =>
        int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= 1 ? v
            : throw new UsageException($"--{name}: '{s}' is not a positive integer.")).ToArray();

    /// <summary>The option that sets the learning rate of the phase a divergence names, with its value.</summary>
    static string LearningRateOption(string? phase, AdaptationOptions o)
    {
        var (option, lr) = phase == AdaptationExperiment.Describe(ExperimentPhase.Pretrain) ? ("--base-lr", o.BaseLearningRate)
            : phase == AdaptationExperiment.Describe(ExperimentPhase.Lora) ? ("--lr", o.LoraLearningRate)
            : ("--full-lr", o.FullLearningRate);
        return string.Create(CultureInfo.InvariantCulture, $"{option} {(float)lr}"); // options are read as floats
    }

    static string PhaseName(ExperimentPhase p) => p switch
    {
        ExperimentPhase.Pretrain => "pretrain",
        ExperimentPhase.Lora => "lora",
        _ => "full",
    };

    static string Curves(AdaptationResult r, AdaptationOptions o)
    {
        static IReadOnlyList<double> Loss(Lora.Core.Training.TrainingHistory h) => h.Epochs.Select(e => e.TrainLoss).ToList();
        static IReadOnlyList<double> Acc(Lora.Core.Training.TrainingHistory h) => h.Epochs.Select(e => e.ValidationAccuracy ?? double.NaN).ToList();
        string loraName = $"LoRA r={o.Rank}";
        return SvgCurves.Render($"task B ({r.Data.TaskB}): LoRA vs full fine-tuning",
            [new Series(loraName, "#d62728", Loss(r.Lora.History)), new Series("full fine-tuning", "#1f77b4", Loss(r.Full.History))],
            [new Series(loraName, "#d62728", Acc(r.Lora.History)), new Series("full fine-tuning", "#1f77b4", Acc(r.Full.History))]);
    }
}
