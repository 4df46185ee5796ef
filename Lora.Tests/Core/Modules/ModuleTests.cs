using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Modules;

public class ModuleTests
{
    [Fact]
    public void LinearInitIsPytorchsKaimingUniform()
    {
        // torch.nn.Linear: W, b ~ U(−1/√in, 1/√in). Check the bound and the variance 1/(3·in) within 5 standard
        // errors (the variance estimate of n uniform samples has relative standard error √(4/5/n)).
        int inF = 300, outF = 200;
        var l = new Linear(inF, outF, new SeededRandom(1));
        double bound = 1 / Math.Sqrt(inF);
        var w = l.Weight.ToArray();
        Assert.All(w, v => Assert.InRange(v, -bound, bound));
        Assert.All(l.Bias!.ToArray(), v => Assert.InRange(v, -bound, bound));
        double var = w.Select(v => (double)v * v).Average(), expected = 1.0 / (3 * inF);
        Assert.InRange(var, expected * (1 - 5 * Math.Sqrt(0.8 / w.Length)), expected * (1 + 5 * Math.Sqrt(0.8 / w.Length)));
    }

    [Fact]
    public void SequentialNamesChildrenByIndexAndChainsThem()
    {
        var rng = new SeededRandom(2);
        var seq = new Sequential(new Linear(4, 5, rng), new Activation(ActivationKind.Tanh), new Linear(5, 3, rng));
        Assert.Equal(["0.weight", "0.bias", "2.weight", "2.bias"], seq.NamedParameters().Select(p => p.Name));
        var x = Random(2 * 4, 3);
        var y = Run(seq, x, 2);
        var manual = Run(seq[2], Run(seq[1], Run(seq[0], x, 2), 2), 2);
        Assert.Equal(manual, y);
        seq.ApplyLora(new LoraConfig { R = 2, TargetModules = ["2"] });
        Assert.IsType<LoraLinear>(seq[2]);
        Assert.Contains("2.lora_A.default.weight", seq.NamedParameters().Select(p => p.Name));
        // B = 0 adds exact zeros, but the fused kernel sums [x | s·h]·[W | B]ᵀ in its own blocking order, so the
        // result may differ from the plain GEMM by its rounding bound (k + r + 4)·ε·(Σ|h||W| + |b|), not bitwise.
        var hidden = Run(seq[1], Run(seq[0], x, 2), 2);
        var w = ((LoraLinear)seq[2]).BaseLayer.Weight.ToArray(); var b = ((LoraLinear)seq[2]).BaseLayer.Bias!.ToArray();
        var lora = Run(seq, x, 2);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
            {
                double mag = Math.Abs(b[j]);
                for (int c = 0; c < 5; c++) mag += Math.Abs((double)hidden[i * 5 + c] * w[j * 5 + c]);
                Assert.True(Math.Abs(lora[i * 3 + j] - y[i * 3 + j]) <= (5 + 2 + 4) * 2 * Eps * mag, $"[{i},{j}]");
            }
    }

    [Fact]
    public void LoraPlusScalesTheBMatricesAndOneDimensionalParametersAsPeftDoes()
    {
        // PEFT's create_loraplus_optimizer: "lora_B" in the name or param.ndim == 1 goes to B's group (ratio × lr).
        var m = new Mlp([6, 5, 4], seed: 1);
        m.ApplyLora(new LoraConfig { R = 2, Bias = LoraBias.All });
        var slots = TrainableSlots.From(m, loraPlusRatio: 16, decayBiases: false);
        Assert.Equal(m.TrainableParameters().Select(p => p.Name), slots.Select(s => s.Name));
        foreach (var s in slots)
        {
            Assert.Equal(s.Name.Contains(".lora_B.") || s.Name.EndsWith(".bias"), s.LrScale == 16f);
            Assert.Equal(!s.Name.EndsWith(".bias"), s.Decay);
        }
        Assert.Contains(slots, s => s.Name.EndsWith(".bias"));
        Assert.Throws<ArgumentException>(() => TrainableSlots.From(m, loraPlusRatio: 0));

        // A convolution's DoRA magnitude is stored (1, out, 1, 1): not one-dimensional, so PEFT leaves it at the base rate.
        var conv = new Sequential(new Conv2d(1, 2, 3, new SeededRandom(1)), new Flatten(), new Linear(8, 3, new SeededRandom(2)));
        conv.ApplyLora(new LoraConfig { R = 1, UseDora = true, TargetModules = ["0", "2"] });
        var convSlots = TrainableSlots.From(conv, loraPlusRatio: 16);
        Assert.Equal(1f, convSlots.Single(s => s.Name == "0.lora_magnitude_vector.default.weight").LrScale);
        Assert.Equal(16f, convSlots.Single(s => s.Name == "2.lora_magnitude_vector.default.weight").LrScale);
        Assert.Equal(16f, convSlots.Single(s => s.Name == "0.lora_B.default.weight").LrScale);
    }

    [Fact]
    public void RegistrationErrors()
    {
        var rng = new SeededRandom(3);
        Assert.Throws<ArgumentException>(() => new Linear(-1, 2));
        var m = new Mlp([3, 2], seed: 1);
        Assert.Throws<ArgumentException>(() => m.GetSubmodule("layers.7"));
        Assert.Throws<ArgumentException>(() => m.ReplaceChild("nope", new Linear(3, 2, rng)));
        Assert.Same(m.Layers[0], m.GetSubmodule("layers.0"));
        Assert.Throws<InvalidOperationException>(() => m.Layers.Forward(new Tensor(new float[3], new Shape(1, 3))));
    }
}
