using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Lora;

/// <summary>Finite-difference checks (the engine's <see cref="GradCheck"/>) of a LoRA MLP's gradients.</summary>
public class LoraGradientTests
{
    static (Mlp Model, Tensor X) Setup(ActivationKind act, bool twoAdapters, bool trainBias)
    {
        var m = new Mlp([6, 9, 5, 3], act, 0, seed: 4);
        m.ApplyLora(new LoraConfig { R = 2, Alpha = 3, Bias = trainBias ? LoraBias.All : LoraBias.None }, "first");
        if (twoAdapters)
        {
            m.ApplyLora(new LoraConfig { R = 3, Alpha = 2, UseRsLora = true, TargetModules = ["layers.1"] }, "second", seed: 9);
            m.SetActiveAdapters("first", "second");
            foreach (var p in m.NamedParameters().Where(p => p.Name.Contains(".first.") || p.Name.Contains(".second."))) p.Parameter.Frozen = false;
        }
        // non-zero B so every path carries gradient
        foreach (var (_, l) in m.LoraLayers())
            foreach (var a in l.Adapters) Random(a.B.Length, (ulong)a.B.Length, 0.5).CopyTo(a.B.Data);
        m.Eval();
        var x = new Tensor(Random(4 * 6, 2), new Shape(4, 6), requiresGrad: true);
        return (m, x);
    }

    [Theory]
    [InlineData(ActivationKind.Tanh, false, false)]
    [InlineData(ActivationKind.Tanh, true, true)]
    [InlineData(ActivationKind.Gelu, false, true)]
    public void LoraMlpGradientsMatchFiniteDifferences(ActivationKind act, bool twoAdapters, bool trainBias)
    {
        var (m, x) = Setup(act, twoAdapters, trainBias);
        var inputs = new List<Tensor> { x };
        inputs.AddRange(m.TrainableParameters().Select(p => (Tensor)p.Parameter));
        Assert.True(inputs.Count >= 7);
        var result = GradCheck.Run(() => m.Forward(x), inputs, null);
        Assert.True(result.Passed, result.ToString());
    }

    [Fact]
    public void FrozenBaseWeightsGetNoGradient()
    {
        var (m, x) = Setup(ActivationKind.Tanh, false, false);
        Tape.Current.Reset();
        m.Forward(x).Backward(Enumerable.Repeat(1f, 4 * 3).ToArray());
        Tape.Current.Reset();
        foreach (var (name, p) in m.NamedParameters())
            Assert.Equal(!p.Frozen, p.HasGrad && p.Grad.ToArray().Any(v => v != 0));
    }
}
