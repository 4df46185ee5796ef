using Lora.Core.Data;
using Lora.Core.IO;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;

namespace Lora.Core.Experiments;

/// <summary>The settings of <see cref="AdaptationOptions"/> that only some demo tasks use; a command line that sets
/// one for a task that does not use it is an error.</summary>
[Flags]
public enum DemoSettings
{
    /// <summary>Only the common settings (epochs, learning rates, rank, alpha, targets, batch size, seed).</summary>
    None = 0,
    /// <summary>A data directory replaces the built-in data (<c>--data</c>).</summary>
    Data = 1,
    /// <summary><see cref="AdaptationOptions.Shift"/> chooses task B (<c>--shift</c>).</summary>
    Shift = 2,
    /// <summary><see cref="AdaptationOptions.Hidden"/> sets the model's widths (<c>--hidden</c>).</summary>
    Hidden = 4,
}

/// <summary>One demo of low-rank adaptation (<c>lora train --model NAME</c>): its data for tasks A and B, its base
/// model, its LoRA targets and default hyperparameters, and how it trains and is measured.</summary>
/// <remarks>
/// <para><see cref="AdaptationExperiment.Run(DemoTask, DemoData, AdaptationOptions, Action{ExperimentPhase, TrainingProgress}?)"/>
/// runs every task the same way: pretrain <see cref="CreateBase"/> on task A, evaluate on task B before adapting,
/// adapt copies of the base with LoRA and with full fine-tuning, and report. A task is one small class overriding the
/// abstract members; every task trains and evaluates with <see cref="Trainer"/>, whose <see cref="Objective"/> is
/// classification (one label per sample) unless the task says otherwise (next-token windows for a recurrent
/// language model).</para>
/// <para>A language model sets <see cref="IsLanguageModel"/>: its mean cross-entropy is per token in nats, so the
/// reports add perplexity exp(loss) and tokens per second (<see cref="TokensPerSample"/> × samples per second).</para>
/// </remarks>
public abstract class DemoTask
{
    /// <summary>The <c>--model</c> name, e.g. <c>cnn</c>.</summary>
    public abstract string Name { get; }

    /// <summary>The <c>model_type</c> of the base model's <c>config.json</c> (registered in <c>Models.ModelTypes</c>).</summary>
    public abstract string ModelType { get; }

    /// <summary>One line for <c>lora train --help</c>: the model and the two tasks.</summary>
    public abstract string Description { get; }

    /// <summary>The optional settings this task uses (default none).</summary>
    public virtual DemoSettings Settings => DemoSettings.None;

    /// <summary>The tuned defaults: widths, epochs, learning rates, rank, alpha and LoRA targets.</summary>
    public abstract AdaptationOptions Defaults { get; }

    /// <summary>True when the metric of interest is perplexity (the loss is a per-token cross-entropy).</summary>
    public virtual bool IsLanguageModel => false;

    /// <summary>Tokens predicted per training sample, for tokens per second (default 1).</summary>
    public virtual int TokensPerSample => 1;

    /// <summary>What the trainer predicts and scores (default <see cref="TrainingObjective.Classification"/>).</summary>
    public virtual TrainingObjective Objective => TrainingObjective.Classification;

    /// <summary>Task A and task B, each split into train and held-out test data.</summary>
    /// <param name="options">The run's options (seed, test fraction, shift).</param>
    /// <param name="dataDirectory">A data directory given with <c>--data</c>, or null for the built-in data; only
    /// passed when <see cref="Settings"/> has <see cref="DemoSettings.Data"/>.</param>
    /// <exception cref="ArgumentException">Options this task cannot use.</exception>
    /// <exception cref="InvalidDataException">Corrupt data files.</exception>
    public abstract DemoData LoadData(AdaptationOptions options, string? dataDirectory);

    /// <summary>A freshly initialised base model for <paramref name="data"/>, from <see cref="AdaptationOptions.Seed"/>;
    /// it must implement <see cref="IConfiguredModel"/> so that <see cref="ModelFiles"/> saves and loads it.</summary>
    /// <exception cref="ArgumentException">Options that give no valid model (e.g. widths that do not fit the data).</exception>
    public abstract Module CreateBase(DemoData data, AdaptationOptions options);

    /// <summary>The configuration <see cref="CreateBase"/> builds its model from, without building it.</summary>
    /// <exception cref="ArgumentException">Options that give no valid model.</exception>
    public abstract IModelConfig BaseConfig(DemoData data, AdaptationOptions options);

    /// <summary>Checks that a saved model of <paramref name="config"/> can be evaluated on <paramref name="data"/>
    /// (<c>lora eval</c>); throws <see cref="ArgumentException"/> naming both when not.</summary>
    public abstract void CheckCompatible(IModelConfig config, Dataset data);

    /// <summary>Trains <paramref name="model"/> on <paramref name="train"/>, evaluating on <paramref name="test"/> after
    /// each epoch (<see cref="Trainer.Fit"/> under <see cref="Objective"/>).</summary>
    public TrainingHistory Fit(Module model, Optimizer optimizer, Dataset train, Dataset test, TrainerOptions options,
        Action<TrainingProgress>? progress)
    {
        var trainer = new Trainer(model, optimizer, options, Objective);
        if (progress != null) trainer.Progress += progress;
        return trainer.Fit(train, test);
    }

    /// <summary>Mean loss (per token for a language model) and accuracy of <paramref name="model"/> on
    /// <paramref name="data"/> (<see cref="Trainer.Evaluate"/> under <see cref="Objective"/>).</summary>
    public Evaluation Evaluate(Module model, Dataset data) => Trainer.Evaluate(model, data, objective: Objective);
}

/// <summary>The data of a demo: task A (pretraining) and task B (adaptation), each with a training set and a
/// held-out test set.</summary>
/// <param name="TrainA">Task A's training data.</param>
/// <param name="TestA">Task A's held-out data.</param>
/// <param name="TrainB">Task B's training data.</param>
/// <param name="TestB">Task B's held-out data.</param>
/// <param name="Name">Where the data comes from, for reports (e.g. <c>digits (embedded UCI optical digits)</c>).</param>
/// <param name="TaskB">What task B is, for reports (e.g. <c>rotate90</c>).</param>
public sealed record DemoData(Dataset TrainA, Dataset TestA, Dataset TrainB, Dataset TestB, string Name, string TaskB);
