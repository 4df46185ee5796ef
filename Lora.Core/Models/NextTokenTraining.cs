using System.Diagnostics;
using Lora.Autograd;
using Lora.Core.Data;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;

namespace Lora.Core.Models;

/// <summary>Training and evaluation of a sequence model that predicts the next token at every position, on windows
/// stored as a <see cref="Dataset"/> by <see cref="TextWindows.AsDataset"/>: each sample holds T + 1 ids, the input
/// is the first T and the targets the last T.</summary>
/// <remarks>
/// <para>The model maps (N, T) ids to (N, T, V) logits; the loss is the mean cross-entropy over all N·T positions
/// (nats per token, so exp(loss) is the perplexity) and the accuracy the fraction of positions whose argmax is the
/// target. A step is the <see cref="Trainer"/>'s: reset the tape, forward, loss, backward, optimizer step, zero the
/// gradients; batch order from (seed, epoch) through <see cref="MinibatchIterator"/>. After the first step the
/// buffers and input tensors are reused, so the loop itself allocates nothing per step.</para>
/// </remarks>
public static class NextTokenTraining
{
    /// <summary>Trains <paramref name="model"/> for <see cref="TrainerOptions.Epochs"/> epochs on
    /// <paramref name="train"/>, evaluating on <paramref name="test"/> after each epoch.</summary>
    /// <exception cref="ArgumentException">Windows shorter than 2 ids, datasets of different window lengths, or
    /// options this loop does not implement (early stopping, restoring the best weights).</exception>
    public static TrainingHistory Fit(Module model, Optimizer optimizer, Dataset train, Dataset? test, TrainerOptions options,
        Action<TrainingProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        int t = WindowLength(train);
        if (test is not null && test.FeatureCount != train.FeatureCount)
            throw new ArgumentException($"Test windows '{test.Name}' hold {test.FeatureCount} ids but training windows '{train.Name}' hold {train.FeatureCount}.", nameof(test));
        if (options.EarlyStoppingPatience is not null || options.RestoreBestWeights)
            throw new ArgumentException("NextTokenTraining runs every epoch: early stopping and restoring the best weights are not supported.", nameof(options));
        var batches = new MinibatchIterator(train, options.BatchSize, options.Seed, shuffle: true, dropLast: options.DropLast);
        if (batches.BatchesPerEpoch == 0)
            throw new ArgumentException($"Training windows '{train.Name}': {train.Count} windows, fewer than one batch of {options.BatchSize} with DropLast.", nameof(train));
        int b = options.BatchSize, f = train.FeatureCount;
        var windows = new float[b * f];
        var lastIds = new int[b];
        var inputs = new float[b * t];
        var targets = new int[b * t];
        var tensors = new Dictionary<int, Tensor>();
        var history = new TrainingHistory();
        long seen = 0;
        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            model.Train();
            batches.StartEpoch(epoch - 1);
            double lossSum = 0;
            long correct = 0, tokens = 0;
            int batch = 0;
            long start = Stopwatch.GetTimestamp();
            while (batches.Next(windows, lastIds, out int count))
            {
                Unpack(windows, count, t, inputs, targets);
                if (!tensors.TryGetValue(count, out var x)) tensors[count] = x = new Tensor(inputs, 0, new Shape(count, t));
                var (loss, right) = Step(model, optimizer, x, targets.AsMemory(0, count * t));
                lossSum += (double)loss * count * t; correct += right; tokens += (long)count * t; seen += count; batch++;
                history.Steps++;
                if (progress is not null && (batch % options.ProgressInterval == 0 || batch == batches.BatchesPerEpoch))
                    progress(new TrainingProgress(ProgressKind.Batch, epoch, options.Epochs, batch, batches.BatchesPerEpoch, seen,
                        lossSum / tokens, tokens / (double)t / Seconds(start), optimizer.LastLearningRate, null));
            }
            double seconds = Seconds(start);
            Evaluation? val = test is null ? null : Evaluate(model, test, options.EvaluationBatchSize);
            var metrics = new EpochMetrics(epoch, lossSum / tokens, (double)correct / tokens, val?.Loss, val?.Accuracy, seconds, optimizer.LastLearningRate);
            history._epochs.Add(metrics);
            progress?.Invoke(new TrainingProgress(ProgressKind.EpochEnd, epoch, options.Epochs, batch, batches.BatchesPerEpoch, seen,
                metrics.TrainLoss, tokens / (double)t / seconds, metrics.LearningRate, metrics));
        }
        history.BestEpoch = history.Epochs.Count;
        return history;
    }

    static (float Loss, int Correct) Step(Module model, Optimizer optimizer, Tensor x, ReadOnlyMemory<int> targets)
    {
        var tape = Tape.Current;
        tape.Reset();
        var logits = Flatten(model.Forward(x), targets.Length);
        var loss = Ops.SoftmaxCrossEntropy(logits, targets);
        float value = loss.Item;
        int correct = CountCorrect(logits.Data, targets.Span, logits.Shape.Last);
        loss.Backward();
        optimizer.Step();
        optimizer.ZeroGrad();
        tape.Reset();
        return (value, correct);
    }

    /// <summary>Mean per-token cross-entropy (nats) and next-token accuracy of <paramref name="model"/> on the windows
    /// of <paramref name="data"/>, in eval mode without recording gradients (the mode is restored afterwards).
    /// <see cref="Evaluation.Count"/> is the number of windows.</summary>
    /// <exception cref="ArgumentException">Windows shorter than 2 ids or a batch size below 1.</exception>
    public static Evaluation Evaluate(Module model, Dataset data, int batchSize = 256)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        if (batchSize < 1) throw new ArgumentException($"Batch size {batchSize} must be at least 1.", nameof(batchSize));
        int t = WindowLength(data);
        if (data.Count == 0) return new Evaluation(double.NaN, double.NaN, 0);
        bool wasTraining = model.Training;
        model.Eval();
        var tape = Tape.Current;
        int b = Math.Min(batchSize, data.Count), f = data.FeatureCount;
        var inputs = new float[b * t];
        var targets = new int[b * t];
        double lossSum = 0;
        long correct = 0;
        try
        {
            using (Tape.NoGrad())
            {
                for (int start = 0; start < data.Count; start += b)
                {
                    int count = Math.Min(b, data.Count - start);
                    Unpack(data.Features.AsSpan(start * f, count * f), count, t, inputs, targets);
                    tape.Reset();
                    var logits = Flatten(model.Forward(new Tensor(inputs, 0, new Shape(count, t))), count * t);
                    lossSum += (double)Ops.SoftmaxCrossEntropy(logits, targets.AsMemory(0, count * t)).Item * count * t;
                    correct += CountCorrect(logits.Data, targets.AsSpan(0, count * t), logits.Shape.Last);
                }
                tape.Reset();
            }
        }
        finally
        {
            if (wasTraining) model.Train();
        }
        double n = (double)data.Count * t;
        return new Evaluation(lossSum / n, correct / n, data.Count);
    }

    static int WindowLength(Dataset data)
    {
        if (data.FeatureCount < 2)
            throw new ArgumentException($"'{data.Name}' holds {data.FeatureCount} id per sample; next-token windows need at least 2 (T + 1).", nameof(data));
        return data.FeatureCount - 1;
    }

    // windows (count, T + 1) → inputs (count, T) = ids 0..T−1, targets (count·T) = ids 1..T.
    static void Unpack(ReadOnlySpan<float> windows, int count, int t, Span<float> inputs, Span<int> targets)
    {
        for (int i = 0; i < count; i++)
        {
            var w = windows.Slice(i * (t + 1), t + 1);
            w[..t].CopyTo(inputs.Slice(i * t, t));
            for (int j = 0; j < t; j++) targets[i * t + j] = (int)w[j + 1];
        }
    }

    static Tensor Flatten(Tensor logits, int rows)
    {
        if (logits.Shape.Rank != 3 || logits.Shape.Rows != rows)
            throw new ArgumentException($"NextTokenTraining: the model must return (batch, time, vocabulary) logits for {rows} positions, got {logits.Shape}.");
        return Ops.Reshape(logits, new Shape(rows, logits.Shape.Last));
    }

    static int CountCorrect(ReadOnlySpan<float> logits, ReadOnlySpan<int> labels, int classes)
    {
        int correct = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            var row = logits.Slice(i * classes, classes);
            int best = 0;
            for (int j = 1; j < classes; j++) if (row[j] > row[best]) best = j;
            if (best == labels[i]) correct++;
        }
        return correct;
    }

    static double Seconds(long start) => Math.Max(Stopwatch.GetElapsedTime(start).TotalSeconds, 1e-9);
}
