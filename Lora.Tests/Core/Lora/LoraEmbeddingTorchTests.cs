using System.Text.Json;
using Lora.Autograd;
using Lora.Core.Lora;
using Lora.Core.Modules;

namespace Lora.Tests.Core.Lora;

/// <summary>Cross-check against PyTorch + PEFT's formula: the fixture written by
/// <c>tools/make_lora_embedding_fixture.py</c> (torch.nn.Embedding, float64 from the same float32 inputs) holds the
/// output, the loss, the merged table and the gradients of A and B. Lora computes them in float32; each element must
/// agree within 1e-5 relative to the larger of its own magnitude and the tensor's largest, as in the autograd
/// fixtures (a few float32 roundings of r- or dim-term sums stay far below that).</summary>
public class LoraEmbeddingTorchTests
{
    static JsonElement Load() => JsonDocument.Parse(File.ReadAllText(
        Path.Combine(AppContext.BaseDirectory, "Fixtures", "embedding", "lora_embedding.json"))).RootElement;

    static float[] Floats(JsonElement e) => e.GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray();

    static double[] Doubles(JsonElement e) => e.GetProperty("data").EnumerateArray().Select(v => v.GetDouble()).ToArray();

    static int[] Dims(JsonElement e) => e.GetProperty("shape").EnumerateArray().Select(v => v.GetInt32()).ToArray();

    [Fact]
    public void OutputGradientsAndMergedTableMatchPyTorchWithPeftsFormula()
    {
        var root = Load();
        var inputs = root.GetProperty("inputs");
        int[] t = Dims(inputs.GetProperty("T")), a = Dims(inputs.GetProperty("A"));
        int num = t[0], dim = t[1], r = a[0];
        float scale = root.GetProperty("scale").GetSingle();
        var ids = root.GetProperty("ids").EnumerateArray().SelectMany(row => row.EnumerateArray().Select(v => (float)v.GetInt32())).ToArray();
        int rows = root.GetProperty("ids").GetArrayLength();

        var emb = new Embedding(num, dim);
        Floats(inputs.GetProperty("T")).CopyTo(emb.Weight.Data);
        var model = new Sequential(emb);
        model.ApplyLora(new LoraConfig { R = r, Alpha = scale * r, TargetModules = ["0"] });
        var lora = Assert.IsType<LoraEmbedding>(model[0]);
        var ad = lora.GetAdapter("default");
        Assert.Equal(scale, ad.Scale);
        Floats(inputs.GetProperty("A")).CopyTo(ad.A.Data);
        Floats(inputs.GetProperty("B")).CopyTo(ad.B.Data);

        var tape = Tape.Current;
        tape.Reset();
        var y = model.Forward(new Tensor(ids, new Shape(rows, ids.Length / rows)));
        Assert.Equal(new Shape(rows, ids.Length / rows, dim), y.Shape);
        var th = Ops.Tanh(y);
        var loss = Ops.Mean(Ops.Mul(th, th));
        loss.Backward();
        TorchAgreement.Agree("y", y.Data, Doubles(root.GetProperty("y")));
        TorchAgreement.Agree("loss", [loss.Item], [root.GetProperty("loss").GetDouble()]);
        TorchAgreement.Agree("dA", ad.A.Grad, Doubles(root.GetProperty("grads").GetProperty("A")));
        TorchAgreement.Agree("dB", ad.B.Grad, Doubles(root.GetProperty("grads").GetProperty("B")));
        tape.Reset();

        lora.Merge();
        TorchAgreement.Agree("merged T", lora.BaseWeight.Data, Doubles(root.GetProperty("merged")));
    }
}
