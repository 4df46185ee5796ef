using System.Text.Json;
using Lora.Autograd;
using Lora.Kernels;

namespace Lora.Tests.Autograd;

/// <summary>
/// Cross-check against PyTorch: fixtures written by <c>tools/make_autograd_fixtures.py</c> (PyTorch 1.13, float64
/// from the same float32 inputs) hold the logits, the loss and the gradients of small networks. Lora computes them
/// in float32; every element must agree within 1e-5 relative to the larger of its own magnitude and the tensor's
/// largest (so that near-zero entries of a gradient are judged on the tensor's scale).
/// </summary>
public class TorchFixtureTests
{
    sealed record Case(JsonElement Root)
    {
        public float[] Data(string name) => Root.GetProperty("inputs").GetProperty(name).GetProperty("data").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        public Shape ShapeOf(string name) => new(Root.GetProperty("inputs").GetProperty(name).GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        public Parameter Param(string name) => new(name, Data(name), ShapeOf(name));
        public int[] Labels => Root.GetProperty("labels").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        public double[] Expected(string section, string? name = null)
        {
            var el = Root.GetProperty(section);
            if (name != null) el = el.GetProperty(name);
            return el.GetProperty("data").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        }
    }

    static Case Load(string name)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "autograd", name + ".json");
        return new Case(JsonDocument.Parse(File.ReadAllText(path)).RootElement);
    }

    [Fact]
    public void LoraMlpWithGeluMatchesPyTorch()
    {
        var c = Load("lora_mlp_gelu");
        float scale = c.Root.GetProperty("scale").GetSingle();
        var x = c.Param("x");
        var packed1 = new PackedWeight(c.ShapeOf("W1")[0], c.ShapeOf("W1")[1]); packed1.Pack(c.Data("W1"));
        var packed2 = new PackedWeight(c.ShapeOf("W2")[0], c.ShapeOf("W2")[1]); packed2.Pack(c.Data("W2"));
        Parameter b1 = c.Param("b1"), a1 = c.Param("A1"), bb1 = c.Param("B1"), b2 = c.Param("b2"), a2 = c.Param("A2"), bb2 = c.Param("B2");
        var tape = Tape.Current;
        tape.Reset();
        var h = Ops.Gelu(Ops.LoraLinear(x, packed1, a1, bb1, b1, scale));
        var logits = Ops.LoraLinear(h, packed2, a2, bb2, b2, scale);
        var loss = Ops.SoftmaxCrossEntropy(logits, c.Labels);
        loss.Backward();
        TorchAgreement.Agree("logits", logits.Data, c.Expected("logits"));
        TorchAgreement.Agree("loss", [loss.Item], [c.Root.GetProperty("loss").GetDouble()]);
        foreach (var p in new[] { x, b1, a1, bb1, b2, a2, bb2 }) TorchAgreement.Agree("d" + p.Name, p.Grad, c.Expected("grads", p.Name));
        tape.Reset();
    }

    [Fact]
    public void MlpWithLayerNormAndReluMatchesPyTorch()
    {
        var c = Load("mlp_layernorm_relu");
        Parameter x = c.Param("x"), w1 = c.Param("W1"), b1 = c.Param("b1"), g = c.Param("gamma"), be = c.Param("beta"), w2 = c.Param("W2"), b2 = c.Param("b2");
        var tape = Tape.Current;
        tape.Reset();
        var h = Ops.Relu(Ops.LayerNorm(Ops.Linear(x, w1, b1), g, be, 1e-5f));
        var logits = Ops.Linear(h, w2, b2);
        var loss = Ops.SoftmaxCrossEntropy(logits, c.Labels);
        loss.Backward();
        TorchAgreement.Agree("logits", logits.Data, c.Expected("logits"));
        TorchAgreement.Agree("loss", [loss.Item], [c.Root.GetProperty("loss").GetDouble()]);
        foreach (var p in new[] { x, w1, b1, g, be, w2, b2 }) TorchAgreement.Agree("d" + p.Name, p.Grad, c.Expected("grads", p.Name));
        tape.Reset();
    }

    [Fact]
    public void ConvNetWithPoolingMatchesPyTorch()
    {
        var c = Load("conv_pool_net");
        Parameter x = c.Param("x"), wc = c.Param("Wc"), bc = c.Param("bc"), wf = c.Param("Wf"), bf = c.Param("bf");
        var tape = Tape.Current;
        tape.Reset();
        var h = Ops.MaxPool2d(Ops.Relu(Ops.Conv2d(x, wc, bc, stride: 1, padding: 1)), 3, 2, 1);
        var logits = Ops.Linear(Ops.Reshape(h, new Shape(h.Shape[0], h.Length / h.Shape[0])), wf, bf);
        var loss = Ops.SoftmaxCrossEntropy(logits, c.Labels);
        loss.Backward();
        TorchAgreement.Agree("logits", logits.Data, c.Expected("logits"));
        TorchAgreement.Agree("loss", [loss.Item], [c.Root.GetProperty("loss").GetDouble()]);
        foreach (var p in new[] { x, wc, bc, wf, bf }) TorchAgreement.Agree("d" + p.Name, p.Grad, c.Expected("grads", p.Name));
        tape.Reset();
    }

    [Fact]
    public void EmbeddingTanhSigmoidMseMatchesPyTorch()
    {
        var c = Load("embedding_tanh_mse");
        Parameter table = c.Param("table"), w = c.Param("W"), b = c.Param("b");
        var target = new Tensor(c.Data("target"), c.ShapeOf("target"));
        var tape = Tape.Current;
        tape.Reset();
        var pred = Ops.Sigmoid(Ops.Linear(Ops.Tanh(Ops.Embedding(c.Labels, table)), w, b));
        var loss = Ops.Mse(pred, target);
        loss.Backward();
        TorchAgreement.Agree("pred", pred.Data, c.Expected("logits"));
        TorchAgreement.Agree("loss", [loss.Item], [c.Root.GetProperty("loss").GetDouble()]);
        foreach (var p in new[] { table, w, b }) TorchAgreement.Agree("d" + p.Name, p.Grad, c.Expected("grads", p.Name));
        tape.Reset();
    }
}
