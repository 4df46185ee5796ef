using System.Text;
using Lora.Autograd;
using Lora.Core.Data;
using Lora.Core.Experiments;
using Lora.Core.Lora;
using Lora.Core.Models;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;

namespace Lora.Tests.Core.Experiments;

/// <summary>The char-RNN demo: its config file, its model (LoRA on rnn.ih / rnn.hh / head takes effect), the
/// next-token loss against a double-precision recomputation, and a tiny end-to-end run.</summary>
public class CharLmTaskTests
{
    static readonly CharRnnTask Task = new();

    [Fact]
    public void ConfigRoundTripsAndCorruptConfigsNameTheKey()
    {
        var c = new CharRnnConfig(39, 16, 24, RecurrentCell.Elman);
        Assert.Equal(c, CharRnnConfig.FromJson(Encoding.UTF8.GetBytes(c.ToJson()), "config.json"));
        Assert.Equal(c, ModelTypes.ReadConfig(Encoding.UTF8.GetBytes(c.ToJson()), "config.json"));
        Assert.Equal(
            [("embedding.weight", new[] { 39, 16 }), ("rnn.ih.weight", [24, 16]), ("rnn.ih.bias", [24]), ("rnn.hh.weight", [24, 24]),
             ("rnn.hh.bias", [24]), ("head.weight", [39, 24]), ("head.bias", [39])],
            c.ExpectedTensors().ToArray());
        foreach (var (json, key) in new[]
        {
            ("""{"model_type": "char_rnn", "vocab_size": 39, "embedding_dim": 16, "hidden_size": 24, "cell": "lstm"}""", "cell"),
            ("""{"model_type": "char_rnn", "vocab_size": 39, "embedding_dim": 16, "cell": "gru"}""", "hidden_size"),
            ("""{"model_type": "char_rnn", "vocab_size": 0, "embedding_dim": 16, "hidden_size": 24, "cell": "gru"}""", "vocab_size"),
        })
        {
            var e = Assert.Throws<InvalidDataException>(() => CharRnnConfig.FromJson(Encoding.UTF8.GetBytes(json), "cfg.json"));
            Assert.Contains("cfg.json", e.Message);
            Assert.Contains(key, e.Message);
        }
    }

    [Theory]
    [InlineData(RecurrentCell.Gru)]
    [InlineData(RecurrentCell.Elman)]
    public void ParametersAreExactlyTheConfigsTensorsAndSaveAndLoadBack(RecurrentCell cell)
    {
        var config = new CharRnnConfig(39, 6, 10, cell);
        var model = new CharRnnModel(config, seed: 7);
        Assert.Equal(config.ExpectedTensors().Select(t => (t.Name, string.Join(",", t.Shape))),
            model.NamedParameters().Select(p => (p.Name, string.Join(",", Enumerable.Range(0, p.Parameter.Shape.Rank).Select(i => p.Parameter.Shape[i])))));
        string dir = Path.Combine(Path.GetTempPath(), "lora-charrnn-" + Guid.NewGuid().ToString("N"));
        try
        {
            ModelFiles.Save(model, dir);
            var loaded = ModelFiles.Load(dir);
            Assert.Equal(config, ((IConfiguredModel)loaded).Config);
            var x = new Tensor([1f, 5f, 9f, 38f, 0f, 2f], new Shape(2, 3));
            Assert.Equal(Logits(model, x), Logits(loaded, x));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void LoraOnTheRecurrentMatricesAndHeadChangesTheModelOnlyThroughTheAdapters()
    {
        var model = new CharRnnModel(new CharRnnConfig(39, 8, 12), seed: 3);
        var x = new Tensor(Enumerable.Range(0, 2 * 5).Select(i => (float)(i * 7 % 39)).ToArray(), new Shape(2, 5));
        float[] before = Logits(model, x);
        Assert.Equal(2 * 5 * 39, before.Length);
        var report = model.ApplyLora(new LoraConfig { R = 2, Alpha = 4, TargetModules = ["rnn.ih", "rnn.hh", "head"] }, seed: 5);
        Assert.Equal(2 * (8 + 36) + 2 * (12 + 36) + 2 * (12 + 39), model.TrainableParameterCount());
        // B = 0 at init: the adapted model computes the base function (up to the fused kernel's rounding).
        float[] init = Logits(model, x);
        for (int i = 0; i < init.Length; i++) Assert.Equal(before[i], init[i], 1e-5f);
        // Non-zero B on hh alone changes the output: the GRU calls its (wrapped) children.
        var hh = (LoraLayer)model.GetSubmodule("rnn.hh");
        hh.GetAdapter("default").B.Data.Fill(0.05f);
        Assert.NotEqual(before, Logits(model, x));
        Assert.NotNull(report);
    }

    [Fact]
    public void EvaluationIsTheMeanNextCharacterCrossEntropyOverEveryPosition()
    {
        var v = CharVocabulary.Default;
        var text = TextCorpus.Parse("the devil's dictionary: abasement, n. a decent and customary mental attitude.", "t", "t");
        var windows = TextWindows.Cut([text.Ids.AsMemory()], 9, v.Size, "w");
        var data = windows.AsDataset();
        Assert.Equal((windows.Count, 10), (data.Count, data.FeatureCount));
        var model = new CharRnnModel(new CharRnnConfig(v.Size, 6, 10), seed: 9);
        var e = Trainer.Evaluate(model, data, batchSize: 3, TrainingObjective.NextToken);

        // Recompute in double from the logits of each window, targets taken from TextWindows (not from the dataset).
        double nll = 0; int right = 0;
        for (int w = 0; w < windows.Count; w++)
        {
            var x = new Tensor(windows.Inputs.AsSpan(w * 9, 9).ToArray(), new Shape(1, 9));
            float[] logits = Logits(model, x);
            for (int t = 0; t < 9; t++)
            {
                var row = logits.AsSpan(t * v.Size, v.Size).ToArray().Select(f => (double)f).ToArray();
                double max = row.Max(), lse = max + Math.Log(row.Sum(z => Math.Exp(z - max)));
                int target = windows.Targets[w * 9 + t];
                nll += lse - row[target];
                if (Array.IndexOf(row, max) == target) right++;
            }
        }
        int n = windows.Count * 9;
        Assert.Equal(nll / n, e.Loss, 1e-5);
        Assert.Equal((double)right / n, e.Accuracy, 12);
    }

    [Fact]
    public void TaskAIsTheBiblesAlternateChaptersAndTaskBAdaptsOnEveryEighthDictionaryBlockAndTestsOnAllHeldOutBlocks()
    {
        var data = Task.LoadData(Task.Defaults, null);
        var a = TextCorpus.KingJamesAlternateChapters().Split(CharRnnTask.BlockLength, CharRnnTask.TestEvery);
        var b = TextCorpus.DevilsDictionary().Split(CharRnnTask.BlockLength, CharRnnTask.TestEvery);
        int T = CharRnnTask.WindowLength, perBlock = (CharRnnTask.BlockLength - 1) / T; // 31 windows in a full block
        int Windows(IEnumerable<ReadOnlyMemory<int>> blocks) => blocks.Sum(x => (x.Length - 1) / T);
        Assert.Equal((Windows(a.Train), Windows(a.Test)), (data.TrainA.Count, data.TestA.Count));
        Assert.Equal(Windows(b.Test), data.TestB.Count); // the held-out blocks are all tested, as before the sample

        // Training blocks 0, 8, 16, … of the dictionary (155 training blocks → 20), and nothing else.
        Assert.Equal(155, b.Train.Count);
        var sample = CharRnnTask.AdaptationSample(b.Train);
        Assert.Equal(20, sample.Count);
        Assert.Equal(20 * perBlock, data.TrainB.Count);
        for (int i = 0; i < sample.Count; i++)
        {
            Assert.True(sample[i].Span.SequenceEqual(b.Train[CharRnnTask.AdaptationSampleEvery * i].Span));
            // The block's first window is the next training sample in order: its T inputs and last target.
            var window = data.TrainB.Sample(i * perBlock);
            var ids = sample[i].Span[..(T + 1)].ToArray().Select(id => (float)id).ToArray();
            Assert.Equal(ids, window.ToArray());
        }
        // The sample spreads over the alphabetical dictionary: its last block lies in the last eighth of the text.
        Assert.StartsWith("abasement, n.", CharVocabulary.Default.Decode(sample[0].Span[..13]));
        Assert.True(b.Train.Count - 8 <= CharRnnTask.AdaptationSampleEvery * (sample.Count - 1));
    }

    [Fact]
    public void TinyRunAdaptsToTheDictionaryAndLoraTrainsFarFewerParameters()
    {
        // The real texts, split and windowed as the job does, but 16-character windows and a slice of each set keep
        // the run short.
        var v = CharVocabulary.Default;
        var a = TextCorpus.KingJamesAlternateChapters().Split(CharRnnTask.BlockLength, CharRnnTask.TestEvery);
        var b = TextCorpus.DevilsDictionary().Split(CharRnnTask.BlockLength, CharRnnTask.TestEvery);
        Dataset Windows(IReadOnlyList<ReadOnlyMemory<int>> blocks, int n) => TextWindows.Cut(blocks.Take(n).ToArray(), 16, v.Size, "w").AsDataset();
        var data = new DemoData(Windows(a.Train, 2), Windows(a.Test, 1), Windows(b.Train, 2), Windows(b.Test, 1), "tiny", "b");
        Assert.Equal((2 * 127, 127, 17), (data.TrainA.Count, data.TestB.Count, data.TrainA.FeatureCount));
        var options = Task.Defaults with
        {
            Hidden = [8, 24], BatchSize = 32, BaseEpochs = 2, LoraEpochs = 2, FullEpochs = 2, Rank = 2, Alpha = 4,
            BaseLearningRate = 1e-2, LoraLearningRate = 2e-2, FullLearningRate = 1e-2,
        };
        var r = AdaptationExperiment.Run(Task, data, options);
        Assert.True(r.Full.Loss < r.TaskBBeforeLoss, $"full fine-tuning on B: {r.Full.Loss} vs before {r.TaskBBeforeLoss}");
        Assert.True(r.Lora.Loss < r.TaskBBeforeLoss, $"LoRA on B: {r.Lora.Loss} vs before {r.TaskBBeforeLoss}");
        Assert.True(r.Lora.TrainableParameters < r.Full.TrainableParameters / 4);
        // The demo's phases run warm-up + cosine decay (its defaults): each ends far below its peak rate.
        Assert.Equal(PhaseSchedule.WarmupCosine, options.Schedule);
        Assert.True(r.BaseHistory.Epochs[^1].LearningRate < 0.1 * options.BaseLearningRate);
        Assert.True(r.Lora.History.Epochs[^1].LearningRate < 0.1 * options.LoraLearningRate);
        Assert.True(r.Full.History.Epochs[^1].LearningRate < 0.1 * options.FullLearningRate);
        // The base is untouched by either adaptation: it still scores what it scored before.
        Assert.Equal(r.TaskBBeforeLoss, Task.Evaluate(r.Base, data.TestB).Loss);
    }

    static float[] Logits(Module model, Tensor x)
    {
        using (Tape.NoGrad())
        {
            Tape.Current.Reset();
            var y = model.Forward(x).Data.ToArray();
            Tape.Current.Reset();
            return y;
        }
    }
}
