using System.Text.Json;
using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;

namespace Lora.Tests.Core.Lora;

/// <summary>DoRA on a convolution and an embedding against PyTorch: <c>tools/make_dora_layers_fixture.py</c> evaluates
/// PEFT's formulas in float64 (output, gradients of A, B and the magnitude with the norm detached, merged weight)
/// and writes the adapters as PEFT files (module "0", <c>use_dora</c>, the conv magnitude (1, out, 1, 1)). Lora loads
/// those files through its reader and computes everything in float32; each element must agree within 1e-5 relative
/// to the larger of its own magnitude and the tensor's largest (<see cref="TorchAgreement"/>), as for the other torch
/// fixtures.</summary>
public class DoraLayersTorchTests
{
    static readonly string Dir = Path.Combine(AppContext.BaseDirectory, "Fixtures", "dora");

    static JsonElement Case(string name) => JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "dora_layers.json")))
        .RootElement.GetProperty("cases").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

    static float[] Floats(JsonElement e) => e.GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray();

    static double[] Doubles(JsonElement e) => e.GetProperty("data").EnumerateArray().Select(v => v.GetDouble()).ToArray();

    static int[] Dims(JsonElement e) => e.GetProperty("shape").EnumerateArray().Select(v => v.GetInt32()).ToArray();

    // loss = mean(tanh(y)²), as the script; checks y and the gradients of A, B and m, then the merged weight.
    static void CheckAgainstTorch(JsonElement c, LoraLayer layer, Func<Tensor> forward)
    {
        var ad = layer.GetAdapter("default");
        Assert.True(ad.UseDora);
        Assert.Equal(Dims(c.GetProperty("inputs").GetProperty("m")), ad.Magnitude!.Shape.ToArray());
        Assert.Equal(Floats(c.GetProperty("inputs").GetProperty("m")), ad.Magnitude.ToArray());
        var tape = Tape.Current;
        tape.Reset();
        var y = forward();
        var th = Ops.Tanh(y);
        Ops.Mean(Ops.Mul(th, th)).Backward();
        TorchAgreement.Agree("y", y.Data, Doubles(c.GetProperty("y")));
        var grads = c.GetProperty("grads");
        TorchAgreement.Agree("dA", ad.A.Grad, Doubles(grads.GetProperty("A")));
        TorchAgreement.Agree("dB", ad.B.Grad, Doubles(grads.GetProperty("B")));
        TorchAgreement.Agree("dm", ad.Magnitude.Grad, Doubles(grads.GetProperty("m")));
        tape.Reset();
        layer.Merge();
        TorchAgreement.Agree("merged", layer.BaseWeight.Data, Doubles(c.GetProperty("merged")));
    }

    [Fact]
    public void ConvolutionMatchesPyTorchFromPeftFiles()
    {
        var c = Case("conv");
        var inputs = c.GetProperty("inputs");
        int[] w = Dims(inputs.GetProperty("W")), x = Dims(inputs.GetProperty("x"));
        var conv = new Conv2d(w[1], w[0], w[2], c.GetProperty("stride").GetInt32(), c.GetProperty("padding").GetInt32());
        Floats(inputs.GetProperty("W")).CopyTo(conv.Weight.Data);
        Floats(inputs.GetProperty("b")).CopyTo(conv.Bias!.Data);
        var model = new Sequential(conv);
        LoraAdapterFiles.Load(model, Path.Combine(Dir, "adapter_conv"), trainable: true);
        var layer = Assert.IsType<LoraConv2d>(model[0]);
        var xt = new Tensor(Floats(inputs.GetProperty("x")), new Shape(x));
        CheckAgainstTorch(c, layer, () => model.Forward(xt));
    }

    [Fact]
    public void EmbeddingMatchesPyTorchFromPeftFilesForIdsAndFloatIds()
    {
        var c = Case("embedding");
        var inputs = c.GetProperty("inputs");
        int[] t = Dims(inputs.GetProperty("T"));
        var ids = c.GetProperty("ids").EnumerateArray().SelectMany(row => row.EnumerateArray().Select(v => v.GetInt32())).ToArray();
        int rows = c.GetProperty("ids").GetArrayLength();
        foreach (bool asInts in new[] { true, false })
        {
            var emb = new Embedding(t[0], t[1]);
            Floats(inputs.GetProperty("T")).CopyTo(emb.Weight.Data);
            var model = new Sequential(emb);
            LoraAdapterFiles.Load(model, Path.Combine(Dir, "adapter_embedding"), trainable: true);
            var layer = Assert.IsType<LoraEmbedding>(model[0]);
            var floats = new Tensor(ids.Select(i => (float)i).ToArray(), new Shape(rows, ids.Length / rows));
            CheckAgainstTorch(c, layer, () => asInts ? layer.Forward(ids.AsMemory()) : model.Forward(floats));
        }
    }

    /// <summary>The reverse direction: writes <c>lora-dora-layers-check-conv</c> and <c>-embedding</c> in the temp folder
    /// (a trained-looking DoRA adapter saved by Lora, the base weights, an input and Lora's output) for
    /// <c>/usr/bin/python3 tools/make_dora_layers_fixture.py --check DIR</c>; here, the files must load back to the
    /// same output.</summary>
    [Theory]
    [InlineData("conv")]
    [InlineData("embedding")]
    public void WritesDirectoriesPyTorchCanCheck(string kind)
    {
        string dir = Path.Combine(Path.GetTempPath(), "lora-dora-layers-check-" + kind);
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        Directory.CreateDirectory(dir);
        bool conv = kind == "conv";
        Func<Sequential> build = conv
            ? () => new Sequential(new Conv2d(3, 4, 3, new SeededRandom(8), stride: 2, padding: 1))
            : () => new Sequential(new Embedding(19, 5, new SeededRandom(8)));
        var model = build();
        var baseWeights = model.NamedParameters().Select(p => new TensorData(p.Name, p.Parameter.Shape.ToArray(), p.Parameter.ToArray())).ToList();
        model.ApplyLora(new LoraConfig { R = 2, Alpha = 3, UseDora = true, TargetModules = ["0"] });
        var ad = ((LoraLayer)model[0]).GetAdapter("default");
        LoraTestUtil.Random(ad.A.Length, 21, 0.4).CopyTo(ad.A.Data); // an embedding's A starts at 0
        LoraTestUtil.Random(ad.B.Length, 22, 0.4).CopyTo(ad.B.Data);
        var mag = ad.Magnitude!.Data;
        var noise = LoraTestUtil.Random(mag.Length, 23, 0.2);
        for (int i = 0; i < mag.Length; i++) mag[i] *= 1 + noise[i];
        var (x, shape) = conv
            ? (LoraTestUtil.Random(2 * 3 * 7 * 6, 24), new Shape(2, 3, 7, 6))
            : (Enumerable.Range(0, 8).Select(i => (float)(i * 5 % 19)).ToArray(), new Shape(2, 4));
        model.Eval();
        var y = LoraTestUtil.Run(model, x, shape);
        File.WriteAllText(Path.Combine(dir, "case.json"), $"{{\"kind\": \"{kind}\", \"stride\": 2, \"padding\": 1}}\n");
        SafeTensors.Write(Path.Combine(dir, "weights.safetensors"), baseWeights);
        LoraAdapterFiles.Save(model, Path.Combine(dir, "adapter"));
        int[] yShape = conv ? [2, 4, 4, 3] : [2, 4, 5];
        SafeTensors.Write(Path.Combine(dir, "io.safetensors"), [new TensorData("x", shape.ToArray(), x), new TensorData("y", yShape, y)]);

        var back = build();
        foreach (var t in baseWeights) t.Data.CopyTo(back.NamedParameters().Single(p => p.Name == t.Name).Parameter.Data);
        LoraAdapterFiles.Load(back, Path.Combine(dir, "adapter"));
        back.Eval();
        Assert.Equal(y, LoraTestUtil.Run(back, x, shape));
    }
}
