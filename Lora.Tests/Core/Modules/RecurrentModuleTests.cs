using Lora.Autograd;
using Lora.Core.Lora;
using Lora.Core.Modules;
using static Lora.Tests.Core.Modules.RecurrentTestData;

namespace Lora.Tests.Core.Modules;

/// <summary>ElmanRnn and Gru as modules: layout and initialisation, input checks, gradients through time with
/// respect to x, h₀ and every weight and bias (plain, and with LoRA on ih and hh).</summary>
public class RecurrentModuleTests
{
    static RecurrentLayer Make(bool gru, int inputSize, int hidden, ulong seed) =>
        gru ? new Gru(inputSize, hidden, new SeededRandom(seed)) : new ElmanRnn(inputSize, hidden, new SeededRandom(seed));

    static void AssertPasses(GradCheckResult r) => Assert.True(r.Passed, r.ToString());

    [Theory]
    [InlineData(false, 1)]
    [InlineData(true, 3)]
    public void ChildrenParametersAndInitFollowPyTorch(bool gru, int gates)
    {
        const int inputSize = 5, hidden = 64;
        var m = Make(gru, inputSize, hidden, 1);
        Assert.Equal(["ih.weight", "ih.bias", "hh.weight", "hh.bias"], m.NamedParameters().Select(p => p.Name));
        var p = m.NamedParameters().ToDictionary(q => q.Name, q => q.Parameter);
        Assert.Equal(new Shape(gates * hidden, inputSize), p["ih.weight"].Shape);
        Assert.Equal(new Shape(gates * hidden, hidden), p["hh.weight"].Shape);
        Assert.Equal(new Shape(gates * hidden), p["ih.bias"].Shape);
        Assert.Equal(new Shape(gates * hidden), p["hh.bias"].Shape);
        Assert.IsType<Linear>(m.InputToHidden);
        Assert.Equal((inputSize, hidden), (m.InputSize, m.HiddenSize));
        // U(−1/√H, 1/√H) for all four, whatever the input width: the bound holds, and mean and variance are those of
        // the uniform (variance bound²/3) within 5 standard errors.
        double bound = 1 / Math.Sqrt(hidden);
        foreach (var (name, t) in p)
        {
            var v = t.ToArray().Select(x => (double)x).ToArray();
            Assert.All(v, x => Assert.InRange(Math.Abs(x), 0, bound));
            double mean = v.Average(), meanSquare = v.Select(x => x * x).Average(), n = v.Length;
            Assert.True(Math.Abs(mean) < 5 * bound / Math.Sqrt(3 * n), $"{name}: mean {mean}");
            Assert.True(Math.Abs(meanSquare - bound * bound / 3) < 5 * bound * bound * Math.Sqrt(4.0 / 45 / n), $"{name}: mean square {meanSquare}");
        }
        // The zero-initialised overload is all zeros (for loading); the same seed gives the same weights.
        var zero = gru ? (RecurrentLayer)new Gru(inputSize, hidden) : new ElmanRnn(inputSize, hidden);
        Assert.All(zero.Parameters().SelectMany(q => q.ToArray()), x => Assert.Equal(0f, x));
        Assert.Equal(m.Parameters().SelectMany(q => q.ToArray()), Make(gru, inputSize, hidden, 1).Parameters().SelectMany(q => q.ToArray()));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BadInputsGetClearErrors(bool gru)
    {
        var m = Make(gru, 3, 4, 1);
        Tape.Current.Reset();
        var ex = Assert.Throws<ArgumentException>(() => m.Forward(new Tensor(new Shape(2, 5, 4))));
        Assert.Contains("(2, 5, 4)", ex.Message);
        Assert.Contains("(N, T, 3)", ex.Message);
        Assert.Throws<ArgumentException>(() => m.Forward(new Tensor(new Shape(2, 3))));
        Assert.Throws<ArgumentException>(() => m.Forward(new Tensor(new Shape(2, 0, 3))));
        ex = Assert.Throws<ArgumentException>(() => m.Forward(new Tensor(new Shape(2, 5, 3)), new Tensor(new Shape(3, 4))));
        Assert.Contains("(3, 4)", ex.Message);
        Assert.Contains("(2, 4)", ex.Message);
        Assert.Throws<ArgumentException>(() => gru ? new Gru(0, 4) : new ElmanRnn(3, 0));
        Tape.Current.Reset();
    }

    [Theory]
    [InlineData(false, 1)]
    [InlineData(false, 4)]
    [InlineData(true, 1)]
    [InlineData(true, 4)]
    public void GradientsThroughTimeForInputInitialStateAndEveryWeight(bool gru, int steps)
    {
        const int n = 2, inputSize = 3, hidden = 3;
        var m = Make(gru, inputSize, hidden, 7);
        var x = new Tensor(Uniform(n * steps * inputSize, -1, 1, 8), new Shape(n, steps, inputSize), true, "x");
        var h0 = new Tensor(Uniform(n * hidden, -1, 1, 9), new Shape(n, hidden), true, "h0");
        var inputs = new List<Tensor> { x, h0 };
        inputs.AddRange(m.Parameters());
        AssertPasses(GradCheck.Run(() => m.Forward(x, h0), inputs, null));
        AssertPasses(GradCheck.Run(() => m.Forward(x), [x, .. m.Parameters()], null));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GradientsThroughTimeWithLoraOnIhAndHh(bool gru)
    {
        const int n = 2, steps = 3, inputSize = 4, hidden = 3;
        var model = new RecurrentTestModel(gru, inputSize, hidden, 5, 11);
        model.ApplyLora(new LoraConfig { R = 2, Alpha = 3, TargetModules = ["rnn.ih", "rnn.hh"] }, seed: 12);
        Assert.IsType<LoraLinear>(model.Rnn.InputToHidden);
        Assert.IsType<LoraLinear>(model.Rnn.HiddenToHidden);
        // B starts at zero (PEFT), which would hide A's gradient: give it values.
        ulong s = 13;
        foreach (var (_, l) in model.LoraLayers()) Uniform(l.Adapters[0].B.Length, -0.5, 0.5, s++).CopyTo(l.Adapters[0].B.Data);
        var x = new Tensor(Uniform(n * steps * inputSize, -1, 1, 14), new Shape(n, steps, inputSize), true, "x");
        var h0 = new Tensor(Uniform(n * hidden, -1, 1, 15), new Shape(n, hidden), true, "h0");
        var trainable = model.TrainableParameters().Select(p => p.Parameter).ToList<Tensor>();
        Assert.Equal(4, trainable.Count); // A and B of ih and hh; everything else frozen
        AssertPasses(GradCheck.Run(() => model.Rnn.Forward(x, h0), [x, h0, .. trainable], null));
    }
}
