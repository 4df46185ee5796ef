using System.Text;
using Lora.Autograd;
using Lora.Core.Data;
using Lora.Core.Experiments;
using Lora.Core.Lora;
using Lora.Core.Models;
using Lora.Core.Modules;

namespace Lora.Tests.Core.Experiments;

/// <summary>The embedding demo: its config file, its model (the head reads the concatenated context rows; LoRA on the
/// table is a LoraEmbedding), and a tiny end-to-end run.</summary>
public class NgramEmbeddingTaskTests
{
    static readonly NgramEmbeddingTask Task = new();

    [Fact]
    public void ConfigRoundTripsAndCorruptConfigsNameTheKey()
    {
        var c = new NgramConfig(39, 3, 2048, 8);
        Assert.Equal(c, NgramConfig.FromJson(Encoding.UTF8.GetBytes(c.ToJson()), "config.json"));
        Assert.Equal(c, ModelTypes.ReadConfig(Encoding.UTF8.GetBytes(c.ToJson()), "config.json"));
        Assert.Equal([("table.weight", new[] { 2048, 8 }), ("head.weight", [39, 24]), ("head.bias", [39])], c.ExpectedTensors().ToArray());
        foreach (var (json, key) in new[]
        {
            ("""{"model_type": "ngram_embedding", "vocab_size": 39, "orders": 3, "rows": 1000, "dim": 8}""", "rows"),
            ("""{"model_type": "ngram_embedding", "vocab_size": 39, "orders": 3, "rows": 2048}""", "dim"),
            ("""{"model_type": "ngram_embedding", "vocab_size": 39, "orders": 0, "rows": 2048, "dim": 8}""", "orders"),
        })
        {
            var e = Assert.Throws<InvalidDataException>(() => NgramConfig.FromJson(Encoding.UTF8.GetBytes(json), "cfg.json"));
            Assert.Contains("cfg.json", e.Message);
            Assert.Contains(key, e.Message);
        }
    }

    [Fact]
    public void ParametersAreExactlyTheConfigsTensorsAndSaveAndLoadBack()
    {
        var config = new NgramConfig(39, 3, 2048, 4);
        var model = new NgramModel(config, seed: 8);
        Assert.Equal(config.ExpectedTensors().Select(t => (t.Name, string.Join(",", t.Shape))),
            model.NamedParameters().Select(p => (p.Name, string.Join(",", Enumerable.Range(0, p.Parameter.Shape.Rank).Select(i => p.Parameter.Shape[i])))));
        string dir = Path.Combine(Path.GetTempPath(), "lora-ngram-" + Guid.NewGuid().ToString("N"));
        try
        {
            ModelFiles.Save(model, dir);
            var loaded = ModelFiles.Load(dir);
            Assert.Equal(config, ((IConfiguredModel)loaded).Config);
            var x = new Tensor([1f, 50f, 1700f, 3f, 60f, 1900f], new Shape(2, 3));
            Assert.Equal(Logits(model, x), Logits(loaded, x));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void ForwardIsTheHeadOfTheConcatenatedContextRows()
    {
        var model = new NgramModel(new NgramConfig(39, 3, 2048, 4), seed: 2);
        var ids = new[] { 5f, 100f, 2000f, 7f, 7f, 1600f };
        var logits = Logits(model, new Tensor(ids, new Shape(2, 3)));
        var table = ((Embedding)model.GetSubmodule("table")).Weight.Data.ToArray();
        var head = (Linear)model.GetSubmodule("head");
        var w = head.Weight.Data.ToArray();
        var b = head.Bias!.Data.ToArray();
        for (int n = 0; n < 2; n++)
        {
            for (int c = 0; c < 39; c++)
            {
                double y = b[c], bound = Math.Abs(b[c]);
                for (int k = 0; k < 3; k++)
                {
                    for (int d = 0; d < 4; d++)
                    {
                        double term = (double)w[c * 12 + k * 4 + d] * table[(int)ids[n * 3 + k] * 4 + d];
                        y += term; bound += Math.Abs(term);
                    }
                }
                Assert.True(Math.Abs(logits[n * 39 + c] - y) <= 16 * 6e-8 * bound, $"logit ({n}, {c}): {logits[n * 39 + c]} vs {y}");
            }
        }
        Assert.Throws<ArgumentException>(() => model.Forward(new Tensor(new float[4], new Shape(2, 2))));
    }

    [Fact]
    public void LoraWrapsTheTableAsAnEmbeddingAdapterAndStartsAtTheBase()
    {
        var model = new NgramModel(new NgramConfig(39, 3, 2048, 8), seed: 4);
        var x = new Tensor([1f, 50f, 1700f, 3f, 60f, 1900f], new Shape(2, 3));
        float[] before = Logits(model, x);
        model.ApplyLora(new LoraConfig { R = 2, Alpha = 4, TargetModules = ["table", "head"] }, seed: 6);
        Assert.IsType<LoraEmbedding>(model.GetSubmodule("table"));
        Assert.Equal(2 * (2048 + 8) + 2 * (24 + 39), model.TrainableParameterCount());
        float[] init = Logits(model, x);
        for (int i = 0; i < init.Length; i++) Assert.Equal(before[i], init[i], 1e-5f);
    }

    [Fact]
    public void TinyRunAdaptsToTheDictionaryAndLoraTrainsFarFewerParameters()
    {
        var v = CharVocabulary.Default;
        var a = TextCorpus.KingJamesGenesisExodus().Split(CharRnnTask.BlockLength, CharRnnTask.TestEvery);
        var b = TextCorpus.DevilsDictionary().Split(CharRnnTask.BlockLength, CharRnnTask.TestEvery);
        Dataset Contexts(IReadOnlyList<ReadOnlyMemory<int>> blocks, int n) =>
            NgramContexts.Build(blocks.Take(n).ToArray(), NgramEmbeddingTask.Orders, NgramEmbeddingTask.Rows, v.Size, "c");
        var data = new DemoData(Contexts(a.Train, 4), Contexts(a.Test, 1), Contexts(b.Train, 4), Contexts(b.Test, 1), "tiny", "b");
        var options = Task.Defaults with { Hidden = [8], BatchSize = 128, BaseEpochs = 2, LoraEpochs = 2, FullEpochs = 2, Rank = 2, Alpha = 4 };
        var r = AdaptationExperiment.Run(Task, data, options);
        Assert.True(r.Full.Loss < r.TaskBBeforeLoss, $"full fine-tuning on B: {r.Full.Loss} vs before {r.TaskBBeforeLoss}");
        Assert.True(r.Lora.Loss < r.TaskBBeforeLoss, $"LoRA on B: {r.Lora.Loss} vs before {r.TaskBBeforeLoss}");
        Assert.True(r.Lora.TrainableParameters < r.Full.TrainableParameters / 4);
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
