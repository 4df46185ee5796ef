using Lora.Autograd;
using Lora.Core.Data;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Training;

namespace Lora.Tests.Core.Modules;

/// <summary><see cref="Module.EvaluationScope"/> puts every module of the calling thread in evaluation mode without
/// switching any module's own mode; Predict and Evaluate use it, so threads sharing a model never see it switched.</summary>
public class EvaluationScopeTests
{
    /// <summary>Passes its input through as logits, and records its mode as seen on this thread and on another one.</summary>
    sealed class Probe : Module
    {
        public bool SeenHere, SeenElsewhere;

        public override Tensor Forward(Tensor x)
        {
            SeenHere = Training;
            var t = new Thread(() => SeenElsewhere = Training);
            t.Start();
            t.Join();
            return x;
        }
    }

    [Fact]
    public void PredictAndEvaluateRunInEvalModeWithoutSwitchingTheModelForOtherThreads()
    {
        var probe = new Probe();
        Assert.True(probe.Training);
        float[] x = [0.1f, 0.9f, 0.7f, 0.2f];
        Assert.Equal([1, 0], Trainer.Predict(probe, x, 2, 2));
        Assert.False(probe.SeenHere);
        Assert.True(probe.SeenElsewhere); // before: Predict had called model.Eval(), seen by every thread
        Assert.True(probe.Training);

        probe.SeenElsewhere = false;
        var data = new Dataset("two", x, [1, 0], 2, 2);
        Assert.Equal(1.0, Trainer.Evaluate(probe, data).Accuracy);
        Assert.False(probe.SeenHere);
        Assert.True(probe.SeenElsewhere);
        Assert.True(probe.Training);
    }

    [Fact]
    public void TheScopeNestsRestoresAndLeavesTheModeAlone()
    {
        var m = new Mlp([4, 3], ActivationKind.Relu, 0.5, seed: 1);
        using (Module.EvaluationScope())
        {
            Assert.False(m.Training);
            using (Module.EvaluationScope()) Assert.False(m.Training);
            Assert.False(m.Training); // the inner scope restored the outer one's state
            m.Eval();
            m.Train();                // switching the mode inside a scope takes effect after it
            Assert.False(m.Training);
        }
        Assert.True(m.Training);
        m.Eval();
        using (Module.EvaluationScope()) Assert.False(m.Training);
        Assert.False(m.Training);
    }

    [Fact]
    public void DropoutIsOffInsideTheScope()
    {
        var d = new Dropout(0.5, seed: 3);
        var x = new float[64];
        Array.Fill(x, 1f);
        using (Tape.NoGrad())
        using (Module.EvaluationScope())
            Assert.Equal(x, d.Forward(new Tensor(x, new Shape(8, 8))).ToArray());
        using (Tape.NoGrad())
            Assert.NotEqual(x, d.Forward(new Tensor(x, new Shape(8, 8))).ToArray()); // training mode: half are dropped
        Tape.Current.Reset();
    }

    [Fact]
    public void ThreadsPredictingWithOneTrainingModeModelAgreeWithSequentialCalls()
    {
        static Mlp Make()
        {
            var model = new Mlp([16, 64, 4], ActivationKind.Relu, 0.5, seed: 2);
            model.ApplyLora(new LoraConfig { R = 2, Alpha = 4, Dropout = 0.3 }, seed: 3);
            foreach (var (_, l) in model.LoraLayers())
                foreach (var a in l.Adapters) for (int i = 0; i < a.B.Length; i++) a.B.Data[i] = 0.2f * MathF.Sin(i);
            return model;
        }
        var rng = new SeededRandom(4);
        var x = new float[200 * 16];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextGaussian();
        var expected = Trainer.Predict(Make(), x, 200, 16);
        var m = Make(); // never run yet: the threads' first calls pack its weights at once
        int differing = 0;
        var threads = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            for (int k = 0; k < 25; k++)
                if (!Trainer.Predict(m, x, 200, 16).AsSpan().SequenceEqual(expected)) Interlocked.Increment(ref differing);
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        Assert.Equal(0, differing);
        Assert.True(m.Training);
    }
}
