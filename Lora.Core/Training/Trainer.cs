using System.Diagnostics;
using Lora.Autograd;
using Lora.Core.Data;
using Lora.Core.Modules;
using Lora.Core.Optim;

namespace Lora.Core.Training;

/// <summary>Trains a model with softmax cross-entropy: epochs of seeded, shuffled minibatches, evaluation,
/// early stopping, progress events and a history of loss and accuracy.</summary>
/// <remarks>
/// <para>The <see cref="TrainingObjective"/> says what is predicted: one class per sample
/// (<see cref="TrainingObjective.Classification"/>, the default) or every next token of a window
/// (<see cref="TrainingObjective.NextToken"/>). The loss is the mean cross-entropy over the batch's targets and the
/// accuracy the fraction of targets whose argmax is right; epoch figures weight every target alike.</para>
/// <para>A step is: <c>Tape.Current.Reset()</c>, forward in training mode, mean cross-entropy, backward, optimizer
/// step, zero the gradients. Once the first two steps have sized every pool, a step allocates nothing on the managed heap:
/// the batch buffers and input tensors are made once, the minibatch order is shuffled in place, and the engine
/// reuses its activations.</para>
/// <para>Determinism: the batch order depends only on (seed, epoch), dropout masks on their seeds, the epoch and the
/// forward passes within it (<see cref="DropoutStreams"/>, so a resumed run draws the same masks), and
/// the kernels never split a sum across threads, so the same seed gives the same bits for any thread count.</para>
/// </remarks>
public sealed class Trainer
{
    readonly Module _model;
    readonly Optimizer _optimizer;
    readonly Dictionary<int, Tensor> _inputs = [];
    float[] _features = [], _input = [];
    int[] _labels = [], _targets = [];
    int _featureCount = -1;

    /// <summary>A trainer for <paramref name="model"/> updated by <paramref name="optimizer"/>, optimising
    /// <paramref name="objective"/> (default <see cref="TrainingObjective.Classification"/>).</summary>
    public Trainer(Module model, Optimizer optimizer, TrainerOptions? options = null, TrainingObjective? objective = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        _model = model;
        _optimizer = optimizer;
        if (OptimizerCoverage.Problem(model, optimizer) is { } why) throw new ArgumentException(why, nameof(optimizer));
        Options = options ?? new TrainerOptions();
        Objective = objective ?? TrainingObjective.Classification;
    }

    /// <summary>What is predicted and scored.</summary>
    public TrainingObjective Objective { get; }

    /// <summary>The settings.</summary>
    public TrainerOptions Options { get; }

    /// <summary>The model being trained.</summary>
    public Module Model => _model;

    /// <summary>The optimizer.</summary>
    public Optimizer Optimizer => _optimizer;

    /// <summary>Raised after training steps and after each epoch (on the training thread).</summary>
    public event Action<TrainingProgress>? Progress;

    /// <summary>Trains for <see cref="TrainerOptions.Epochs"/> epochs (fewer with early stopping or cancellation).</summary>
    /// <exception cref="ArgumentException">A dataset whose feature count differs from the other's or that the
    /// <see cref="Objective"/> cannot read, or an empty training set.</exception>
    /// <exception cref="TrainingDivergedException">A step's loss was NaN or infinite (with
    /// <see cref="TrainerOptions.StopOnNonFiniteLoss"/>); that step's update was not applied.</exception>
    public TrainingHistory Fit(Dataset train, Dataset? validation = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        // Again here: the model may have changed since (LoRA applied, layers frozen).
        if (OptimizerCoverage.Problem(_model, _optimizer) is { } why) throw new InvalidOperationException(why);
        if (train.Count == 0) throw new ArgumentException($"Training set '{train.Name}' is empty.", nameof(train));
        if (validation is not null)
        {
            if (validation.FeatureCount != train.FeatureCount)
                throw new ArgumentException($"Validation set '{validation.Name}' has {validation.FeatureCount} features but training set '{train.Name}' has {train.FeatureCount}.", nameof(validation));
            // Checked before training, not found after the first epoch: an empty set gives NaN metrics that early
            // stopping cannot use, and classes the training set lacks are labels the model may not have outputs for.
            if (validation.Count == 0)
                throw new ArgumentException($"Validation set '{validation.Name}' is empty; pass null for none.", nameof(validation));
            if (validation.ClassCount > train.ClassCount)
                throw new ArgumentException($"Validation set '{validation.Name}' has {validation.ClassCount} classes but training set '{train.Name}' has {train.ClassCount}.", nameof(validation));
        }
        Objective.Check(train);
        int perSample = Objective.TargetsPerSample(train.FeatureCount);
        var o = Options;
        if (o.FirstEpoch > o.Epochs) throw new ArgumentException($"TrainerOptions.FirstEpoch = {o.FirstEpoch} is past Epochs = {o.Epochs}: nothing would run.");
        var batches = new MinibatchIterator(train, o.BatchSize, o.Seed, shuffle: true, dropLast: o.DropLast);
        if (batches.BatchesPerEpoch == 0) throw new ArgumentException($"Training set '{train.Name}' has {train.Count} samples, fewer than one batch of {o.BatchSize} with DropLast.", nameof(train));
        EnsureBuffers(batches.LargestBatch, train.FeatureCount); // not BatchSize: a batch size beyond the set would allocate (or overflow) for samples that do not exist
        var history = new TrainingHistory();
        // best-weights snapshot storage, only when asked for
        var trainable = o.RestoreBestWeights ? _optimizer.Slots.Select(s => s.Value.ToArray()).ToArray() : [];
        double best = double.NaN;
        int sinceBest = 0;
        long seen = 0;
        var dropouts = new DropoutStreams(_model);
        for (int epoch = o.FirstEpoch; epoch <= o.Epochs; epoch++)
        {
            if (cancellation.IsCancellationRequested) { history.Cancelled = true; break; }
            _model.Train();
            batches.StartEpoch(epoch - 1);
            dropouts.StartEpoch(epoch);
            double lossSum = 0;
            long correct = 0, epochSamples = 0, epochTargets = 0;
            int batch = 0, groupEnd = 0;
            long groupTargets = 0;
            long start = Stopwatch.GetTimestamp();
            while (batches.Next(_features, _labels, out int count))
            {
                if (batch == groupEnd)
                {
                    // The next group of minibatches sums its gradients into one step; each minibatch's mean loss is
                    // weighted by its share of the group's targets (1 when the group is one minibatch: same bits).
                    groupEnd = Math.Min(batch + o.GradientAccumulation, batches.BatchesPerEpoch);
                    groupTargets = 0;
                    for (int b = batch; b < groupEnd; b++) groupTargets += (long)batches.SamplesIn(b) * perSample;
                }
                long targets = (long)count * perSample;
                bool update = batch + 1 == groupEnd;
                var (loss, right) = StepCore(_features, _labels, count, train.FeatureCount, epoch, batch + 1, (float)((double)targets / groupTargets), update);
                lossSum += (double)loss * targets; correct += right; epochTargets += targets; epochSamples += count; seen += count; batch++;
                if (update) history.Steps++;
                if (Progress is { } p && (batch % o.ProgressInterval == 0 || batch == batches.BatchesPerEpoch))
                    p(new TrainingProgress(ProgressKind.Batch, epoch, o.Epochs, batch, batches.BatchesPerEpoch, seen,
                        lossSum / epochTargets, epochSamples / Seconds(start), _optimizer.LastLearningRate, null));
                if (cancellation.IsCancellationRequested) break;
            }
            if (batch < groupEnd) _optimizer.ZeroGrad(); // cancelled inside a group: its gradients are dropped, not carried over
            double seconds = Seconds(start);
            Evaluation? val = validation is null ? null : Evaluate(_model, validation, o.EvaluationBatchSize, Objective);
            var metrics = new EpochMetrics(epoch, lossSum / epochTargets, (double)correct / epochTargets, val?.Loss, val?.Accuracy, seconds, _optimizer.LastLearningRate)
            {
                Complete = batch == batches.BatchesPerEpoch, Samples = epochSamples,
            };
            history._epochs.Add(metrics);
            double monitored = o.EarlyStoppingMetric == EarlyStoppingMetric.Loss
                ? (val?.Loss ?? metrics.TrainLoss) : -(val?.Accuracy ?? metrics.TrainAccuracy);
            // A NaN metric (a diverged run with StopOnNonFiniteLoss off) is never an improvement, nor a first best.
            if (!double.IsNaN(monitored) && (double.IsNaN(best) || monitored < best - o.MinDelta))
            {
                best = monitored; sinceBest = 0; history.BestEpoch = epoch;
                if (o.RestoreBestWeights) for (int i = 0; i < trainable.Length; i++) _optimizer.Slots[i].Value.CopyTo(trainable[i]);
            }
            else sinceBest++;
            Progress?.Invoke(new TrainingProgress(ProgressKind.EpochEnd, epoch, o.Epochs, batch, batches.BatchesPerEpoch, seen,
                metrics.TrainLoss, epochSamples / seconds, metrics.LearningRate, metrics));
            if (cancellation.IsCancellationRequested) { history.Cancelled = true; break; }
            if (o.EarlyStoppingPatience is { } patience && sinceBest >= patience) { history.StoppedEarly = true; break; }
        }
        if (o.RestoreBestWeights && history.BestEpoch > 0)
            for (int i = 0; i < trainable.Length; i++) trainable[i].CopyTo(_optimizer.Slots[i].Value);
        return history;
    }

    /// <summary>One training step on <paramref name="count"/> samples: returns the mean loss and the number of targets
    /// predicted correctly. Allocation-free in steady state.</summary>
    /// <exception cref="ArgumentException">A count or feature count below 1, or buffers shorter than <paramref name="count"/> samples.</exception>
    /// <exception cref="TrainingDivergedException">The loss was NaN or infinite (with
    /// <see cref="TrainerOptions.StopOnNonFiniteLoss"/>); the update was not applied.</exception>
    public (float Loss, int Correct) Step(ReadOnlySpan<float> features, ReadOnlySpan<int> labels, int count, int featureCount)
    {
        if (count < 1 || featureCount < 1 || features.Length < (long)count * featureCount || labels.Length < count)
            throw new ArgumentException($"Step: {count} samples of {featureCount} features (both counts ≥ 1) need {(long)count * featureCount} values and {count} labels; got {features.Length} and {labels.Length}.");
        Objective.TargetsPerSample(featureCount);
        EnsureBuffers(Math.Max(count, _labels.Length), featureCount);
        return StepCore(features, labels, count, featureCount, 0, 0, 1f, update: true);
    }


    // The objective reads the batch where it lies (the caller's spans, or the iterator's buffers in Fit) straight
    // into the model's input, so a batch is copied once.
    // lossScale weights this minibatch's mean loss in its accumulation group; update: the group's last minibatch.
    (float Loss, int Correct) StepCore(ReadOnlySpan<float> features, ReadOnlySpan<int> labels, int count, int featureCount, int epoch, int step,
        float lossScale, bool update)
    {
        var tape = Tape.Current;
        tape.Reset();
        int targets = count * Objective.TargetsPerSample(featureCount);
        Objective.Fill(features, labels, count, featureCount, _input, _targets);
        var logits = Objective.Logits(_model.Forward(Input(count, featureCount)), targets);
        var loss = Ops.SoftmaxCrossEntropy(logits, _targets.AsMemory(0, targets));
        float value = loss.Item;
        if (!float.IsFinite(value) && Options.StopOnNonFiniteLoss)
        {
            // Before backward: a NaN loss would put NaN into every gradient and, through the update, every parameter.
            // The group's gradients so far are dropped too, so the optimizer is as after its last step.
            tape.Reset();
            _optimizer.ZeroGrad();
            throw new TrainingDivergedException(epoch, step, value);
        }
        int correct = CountCorrect(logits.Data, _targets, targets, logits.Shape.Last);
        if (!loss.RequiresGrad)
        {
            tape.Reset();
            _optimizer.ZeroGrad();
            throw new InvalidOperationException("The loss depends on no trainable parameter, so the step cannot train anything: " +
                "the model's adapters are disabled (EnableAdapters), every parameter its forward uses is frozen, or gradients are off on this thread (Tape.NoGrad).");
        }
        Span<float> seed = stackalloc float[1];
        seed[0] = lossScale;
        loss.Backward(seed);
        if (update)
        {
            _optimizer.Step();
            _optimizer.ZeroGrad();
        }
        tape.Reset();
        return (value, correct);
    }

    void EnsureBuffers(int batchSize, int featureCount)
    {
        if (_features.Length < (long)batchSize * featureCount || _featureCount != featureCount)
        {
            _features = new float[batchSize * featureCount];
            _input = new float[Objective.InputShape(batchSize, featureCount).Length];
            _featureCount = featureCount;
            _inputs.Clear();
        }
        if (_labels.Length < batchSize) _labels = new int[batchSize];
        int targets = batchSize * Objective.TargetsPerSample(featureCount);
        if (_targets.Length < targets) _targets = new int[targets];
    }

    Tensor Input(int count, int featureCount)
    {
        if (!_inputs.TryGetValue(count, out var t))
            _inputs[count] = t = new Tensor(_input, 0, Objective.InputShape(count, featureCount));
        return t;
    }

    /// <summary>Mean cross-entropy and accuracy of <paramref name="model"/> on <paramref name="data"/> under
    /// <paramref name="objective"/> (default <see cref="TrainingObjective.Classification"/>), in eval mode without
    /// recording gradients (<see cref="Module.EvaluationScope"/>: the model's own mode is never switched, so threads
    /// may evaluate one model at once). Loss and accuracy are means over every
    /// target (per token for <see cref="TrainingObjective.NextToken"/>); <see cref="Evaluation.Count"/> is the number
    /// of samples.</summary>
    /// <exception cref="ArgumentException">A batch size below 1, or data the objective cannot read.</exception>
    public static Evaluation Evaluate(Module model, Dataset data, int batchSize = 512, TrainingObjective? objective = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        if (batchSize < 1) throw new ArgumentException($"Batch size {batchSize} must be at least 1.", nameof(batchSize));
        objective ??= TrainingObjective.Classification;
        objective.Check(data);
        if (data.Count == 0) return new Evaluation(double.NaN, double.NaN, 0);
        int f = data.FeatureCount, perSample = objective.TargetsPerSample(f), b = Math.Min(batchSize, data.Count);
        var input = new float[objective.InputShape(b, f).Length];
        var targets = new int[b * perSample];
        var tape = Tape.Current;
        double lossSum = 0;
        long correct = 0;
        using (Module.EvaluationScope())
        {
            using (Tape.NoGrad())
            {
                for (int start = 0; start < data.Count; start += b)
                {
                    int count = Math.Min(b, data.Count - start), rows = count * perSample;
                    objective.Fill(data.Features.AsSpan(start * f, count * f), data.Labels.AsSpan(start, count), count, f, input, targets);
                    tape.Reset();
                    var logits = objective.Logits(model.Forward(new Tensor(input, 0, objective.InputShape(count, f))), rows);
                    lossSum += (double)Ops.SoftmaxCrossEntropy(logits, targets.AsMemory(0, rows)).Item * rows;
                    correct += CountCorrect(logits.Data, targets, rows, logits.Shape.Last);
                }
                tape.Reset();
            }
        }
        double total = (double)data.Count * perSample;
        return new Evaluation(lossSum / total, correct / total, data.Count);
    }

    /// <summary>The class predicted for each of <paramref name="count"/> samples (argmax of the logits; the first on
    /// ties), in evaluation mode without recording gradients. The model's own mode is never switched
    /// (<see cref="Module.EvaluationScope"/>), so several threads may predict with one model at once.</summary>
    /// <exception cref="ArgumentException">A count below 1, a feature count below 1, or fewer than
    /// count·featureCount features.</exception>
    public static int[] Predict(Module model, ReadOnlySpan<float> features, int count, int featureCount)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (count < 1 || featureCount < 1 || features.Length < (long)count * featureCount)
            throw new ArgumentException($"Predict: {count} samples of {featureCount} features need {(long)count * featureCount} values (both counts ≥ 1); got {features.Length}.");
        var copy = features[..(count * featureCount)].ToArray();
        using (Module.EvaluationScope())
        using (Tape.NoGrad())
        {
            Tape.Current.Reset();
            var logits = model.Forward(new Tensor(copy, new Shape(count, featureCount)));
            var result = new int[count];
            int c = logits.Shape.Last;
            var d = logits.Data;
            for (int i = 0; i < count; i++) result[i] = ArgMax(d.Slice(i * c, c));
            Tape.Current.Reset();
            return result;
        }
    }

    static int CountCorrect(ReadOnlySpan<float> logits, ReadOnlySpan<int> labels, int count, int classes)
    {
        int correct = 0;
        for (int i = 0; i < count; i++) if (ArgMax(logits.Slice(i * classes, classes)) == labels[i]) correct++;
        return correct;
    }

    static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int j = 1; j < row.Length; j++) if (row[j] > row[best]) best = j;
        return best;
    }

    static double Seconds(long start) => Math.Max(Stopwatch.GetElapsedTime(start).TotalSeconds, 1e-9);
}
