using System.Text.Json;
using Lora.Autograd;
using Lora.Core.Modules;
using Lora.Tests.Kernels;

namespace Lora.Tests.Core.Modules;

/// <summary>
/// ElmanRnn and Gru against PyTorch 1.13 (<c>tools/make_rnn_fixtures.py</c>: <c>nn.RNN(tanh)</c> and <c>nn.GRU</c>,
/// batch-first, evaluated in float64 from float32 weights and inputs): the output and the gradients of
/// L = Σ proj ⊙ output with respect to x, h₀ and every weight and bias. This pins the equations and the gate order.
/// </summary>
/// <remarks>
/// The tolerance is derived, per element, by a double-precision reference of the same network that carries a
/// running error bound (<see cref="Bounded"/>) through the forward and backpropagation through time, operation by
/// operation as Lora evaluates them in float32 (dot products of K terms bounded for any summation order). The
/// reference itself must reproduce PyTorch's float64 values to 1e-12 relative, so the bound is centred on PyTorch.
/// </remarks>
public class RecurrentTorchFixtureTests
{
    sealed class Fixture(JsonElement root)
    {
        public JsonElement Root { get; } = root;
        public int Int(string key) => Root.GetProperty(key).GetInt32();
        public float[] Input(string name) => Floats(Root.GetProperty("inputs").GetProperty(name));
        public double[] Expected(string section, string? name = null)
        {
            var el = Root.GetProperty(section);
            if (name != null) el = el.GetProperty(name);
            return el.GetProperty("data").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        }
        static float[] Floats(JsonElement t) => t.GetProperty("data").EnumerateArray().Select(e => e.GetSingle()).ToArray();
    }

    static Fixture Load(string name) =>
        new(JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "rnn", name + ".json"))).RootElement);

    [Theory]
    [InlineData("elman")]
    [InlineData("gru")]
    public void OutputAndGradientsMatchPyTorch(string name)
    {
        var f = Load(name);
        bool gru = f.Root.GetProperty("cell").GetString() == "gru";
        int n = f.Int("n"), steps = f.Int("steps"), inputSize = f.Int("input_size"), hidden = f.Int("hidden_size");
        RecurrentLayer m = gru ? new Gru(inputSize, hidden) : new ElmanRnn(inputSize, hidden);
        var p = m.NamedParameters().ToDictionary(q => q.Name, q => q.Parameter);
        foreach (var key in new[] { "ih.weight", "ih.bias", "hh.weight", "hh.bias" }) f.Input(key).CopyTo(p[key].Data);
        var x = new Tensor(f.Input("x"), new Shape(n, steps, inputSize), true, "x");
        var h0 = new Tensor(f.Input("h0"), new Shape(n, hidden), true, "h0");
        float[] proj = f.Input("proj");

        var tape = Tape.Current;
        tape.Reset();
        var y = m.Forward(x, h0);
        Assert.Equal(new Shape(n, steps, hidden), y.Shape);
        float[] output = y.ToArray();
        y.Backward(proj);
        tape.Reset();

        var reference = new RecurrentReference(gru, n, steps, inputSize, hidden,
            f.Input("ih.weight"), f.Input("ih.bias"), f.Input("hh.weight"), f.Input("hh.bias"), f.Input("x"), f.Input("h0"), proj);
        Agree("output", output, reference.Output, f.Expected("output"));
        double loss = 0;
        for (int i = 0; i < output.Length; i++) loss += (double)output[i] * proj[i];
        double lossBound = reference.Output.Select((b, i) => b.E * Math.Abs(proj[i])).Sum() + 1e-12 * Math.Abs(loss);
        Assert.True(Math.Abs(loss - f.Root.GetProperty("loss").GetDouble()) <= lossBound, $"loss {loss} vs PyTorch {f.Root.GetProperty("loss").GetDouble()}");
        Agree("dx", x.Grad, reference.DInput, f.Expected("grads", "x"));
        Agree("dh0", h0.Grad, reference.DInitial, f.Expected("grads", "h0"));
        Agree("d ih.weight", p["ih.weight"].Grad, reference.DWeightIh, f.Expected("grads", "ih.weight"));
        Agree("d ih.bias", p["ih.bias"].Grad, reference.DBiasIh, f.Expected("grads", "ih.bias"));
        Agree("d hh.weight", p["hh.weight"].Grad, reference.DWeightHh, f.Expected("grads", "hh.weight"));
        Agree("d hh.bias", p["hh.bias"].Grad, reference.DBiasHh, f.Expected("grads", "hh.bias"));
    }

    static void Agree(string what, ReadOnlySpan<float> actual, Bounded[] reference, double[] torch)
    {
        Assert.Equal(torch.Length, actual.Length);
        Assert.Equal(torch.Length, reference.Length);
        for (int i = 0; i < torch.Length; i++)
        {
            // The reference is PyTorch's function (to double rounding) …
            Assert.True(Math.Abs(reference[i].V - torch[i]) <= 1e-12 * (1 + Math.Abs(torch[i])),
                $"{what}[{i}]: the double reference {reference[i].V:R} disagrees with PyTorch {torch[i]:R}");
            // … and Lora's float32 result is within the reference's error bound of it.
            double tol = reference[i].E + 1e-12 * (1 + Math.Abs(torch[i]));
            Assert.True(Math.Abs(actual[i] - torch[i]) <= tol, $"{what}[{i}] = {actual[i]:R}, PyTorch {torch[i]:R}, tolerance {tol:E2}");
        }
    }
}
