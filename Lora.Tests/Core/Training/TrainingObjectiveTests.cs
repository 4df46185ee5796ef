using Lora.Autograd;
using Lora.Core.Data;
using Lora.Core.Models;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;

namespace Lora.Tests.Core.Training;

[Collection(global::Lora.Tests.SerialCollection.Name)]
public class TrainingObjectiveTests
{
    static TextWindows Windows(int length)
    {
        var text = TextCorpus.Parse("the devil's dictionary: abasement, n. a decent and customary mental attitude in the presence of wealth.", "t", "t");
        return TextWindows.Cut([text.Ids.AsMemory()], length, CharVocabulary.Default.Size, "w");
    }

    [Fact]
    public void NextTokenReadsAWindowAsTheInputsAndTheFollowingTargets()
    {
        // TextWindows keeps its own inputs and targets: the objective must recover them from the dataset's rows.
        var w = Windows(7);
        var data = w.AsDataset();
        var o = TrainingObjective.NextToken;
        Assert.Equal(7, o.TargetsPerSample(data.FeatureCount));
        Assert.Equal(new Shape(3, 7), o.InputShape(3, data.FeatureCount));
        var input = new float[w.Count * 7];
        var targets = new int[w.Count * 7];
        o.Fill(data.Features, data.Labels, w.Count, data.FeatureCount, input, targets);
        Assert.Equal(w.Inputs, input);
        Assert.Equal(w.Targets, targets);
    }

    [Fact]
    public void ClassificationPassesFeaturesAndLabelsThrough()
    {
        var o = TrainingObjective.Classification;
        float[] features = [1, 2, 3, 4, 5, 6];
        int[] labels = [2, 0];
        var input = new float[6];
        var targets = new int[2];
        o.Fill(features, labels, 2, 3, input, targets);
        Assert.Equal(features, input);
        Assert.Equal(labels, targets);
        Assert.Equal((1, new Shape(2, 3)), (o.TargetsPerSample(3), o.InputShape(2, 3)));
    }

    [Fact]
    public void ANextTokenStepReportsTheLossEvaluationMeasuresAndAllocatesNothing()
    {
        var data = Windows(9).AsDataset();
        var model = new CharRnnModel(new CharRnnConfig(CharVocabulary.Default.Size, 6, 10), seed: 4);
        var before = Trainer.Evaluate(model, data, batchSize: data.Count, TrainingObjective.NextToken);
        var trainer = new Trainer(model, TrainableSlots.AdamW(model, LearningRateSchedule.Constant(1e-2)), objective: TrainingObjective.NextToken);
        var (loss, correct) = trainer.Step(data.Features, data.Labels, data.Count, data.FeatureCount);
        // The step scores the weights it started from: the same mean over every position as evaluation.
        Assert.Equal(before.Loss, loss, 1e-5);
        Assert.Equal(before.Accuracy, correct / (double)(data.Count * 9), 12);
        Assert.True(Trainer.Evaluate(model, data, batchSize: 4, TrainingObjective.NextToken).Loss < before.Loss);
        for (int i = 0; i < 2; i++) trainer.Step(data.Features, data.Labels, data.Count, data.FeatureCount);
        long allocated = AllocationProbe.QuietestWindow(() => trainer.Step(data.Features, data.Labels, data.Count, data.FeatureCount), 3);
        Assert.True(allocated == 0, $"next-token steps allocated {allocated} bytes");
    }

    [Fact]
    public void EarlyStoppingAndBestWeightsWorkForNextTokenTraining()
    {
        var w = Windows(9);
        var train = w.AsDataset();
        var model = new CharRnnModel(new CharRnnConfig(CharVocabulary.Default.Size, 6, 10), seed: 4);
        // Whatever the curve, the restored weights must score exactly the best epoch's validation loss.
        var opt = TrainableSlots.AdamW(model, LearningRateSchedule.Constant(0.5));
        var options = new TrainerOptions { Epochs = 8, BatchSize = 4, Seed = 2, EarlyStoppingPatience = 2, RestoreBestWeights = true };
        var history = new Trainer(model, opt, options, TrainingObjective.NextToken).Fit(train, train);
        var best = history.Epochs[history.BestEpoch - 1].ValidationLoss!.Value;
        Assert.Equal(history.Epochs.Min(e => e.ValidationLoss!.Value), best);
        Assert.Equal(best, Trainer.Evaluate(model, train, options.EvaluationBatchSize, TrainingObjective.NextToken).Loss, 12);
    }

    [Fact]
    public void DataOrOutputsTheObjectiveCannotReadAreRefused()
    {
        var model = new CharRnnModel(new CharRnnConfig(CharVocabulary.Default.Size, 6, 10), seed: 4);
        var single = new Dataset("single ids", [1, 2, 3], [0, 0, 0], 1, 39);
        var e = Assert.Throws<ArgumentException>(() => Trainer.Evaluate(model, single, objective: TrainingObjective.NextToken));
        Assert.Contains("single ids", e.Message);
        var trainer = new Trainer(model, TrainableSlots.Sgd(model, LearningRateSchedule.Constant(0.1)), objective: TrainingObjective.NextToken);
        Assert.Throws<ArgumentException>(() => trainer.Fit(single));
        // A classifier's (N, classes) output is not next-token logits, and a language model's is not a classifier's.
        var mlp = new Mlp([9, 39], seed: 1);
        var windows = Windows(9).AsDataset();
        Assert.Throws<ArgumentException>(() => Trainer.Evaluate(mlp, windows, objective: TrainingObjective.NextToken));
        Assert.Throws<ArgumentException>(() => Trainer.Evaluate(model, windows));
    }
}
