using System.Text;
using Lora.Autograd;
using Lora.Core.Data;
using Lora.Core.Experiments;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Models;
using Lora.Core.Modules;

namespace Lora.Tests.Core.Experiments;

/// <summary>The CNN demo's model: config.json, parameter layout, the forward against a double-precision direct
/// computation, checkpoint round trips through <see cref="ModelFiles"/>, and the model_type dispatch.</summary>
public class CnnModelTests
{
    const double Eps = 1.0 / (1 << 24);

    [Fact]
    public void ConfigJsonRoundTripsAndListsPyTorchNames()
    {
        var config = new CnnConfig(1, 8, 8, [32, 64], 3, 10);
        Assert.Equal(config, CnnConfig.FromJson(Encoding.UTF8.GetBytes(config.ToJson()), "config.json"));
        Assert.Equal(config, ModelTypes.ReadConfig(Encoding.UTF8.GetBytes(config.ToJson()), "config.json"));
        Assert.StartsWith("{\n  \"model_type\": \"cnn\",", config.ToJson());
        // 8×8 → 4×4 → 2×2 after two poolings: the head reads 64·2·2 = 256 features.
        Assert.Equal(
            [("convs.0.weight", [32, 1, 3, 3]), ("convs.0.bias", [32]), ("convs.1.weight", [64, 32, 3, 3]), ("convs.1.bias", [64]),
             ("head.weight", [10, 256]), ("head.bias", [10])],
            config.ExpectedTensors().Select(t => (t.Name, t.Shape)).ToArray());
        var model = new Cnn(config, seed: 1);
        Assert.Equal(config.ExpectedTensors().Select(t => t.Name), model.NamedParameters().Select(p => p.Name));
        // Odd sizes round down at each pooling, as PyTorch's MaxPool2d(2) does: 28 → 14 → 7 → 3.
        Assert.Equal(16 * 3 * 3, new CnnConfig(1, 28, 28, [4, 8, 16], 5, 10).HeadFeatures);
    }

    [Theory]
    [InlineData("{\"model_type\":\"cnn\",\"in_channels\":1,\"height\":8,\"width\":8,\"channels\":[],\"kernel_size\":3,\"classes\":10}", "channels")]
    [InlineData("{\"model_type\":\"cnn\",\"in_channels\":1,\"height\":8,\"width\":8,\"channels\":[4,0],\"kernel_size\":3,\"classes\":10}", "channels[1]")]
    [InlineData("{\"model_type\":\"cnn\",\"in_channels\":1,\"height\":8,\"width\":8,\"channels\":[4,4,4,4],\"kernel_size\":3,\"classes\":10}", "channels")]
    [InlineData("{\"model_type\":\"cnn\",\"in_channels\":1,\"height\":8,\"width\":8,\"channels\":[4],\"kernel_size\":4,\"classes\":10}", "kernel_size")]
    [InlineData("{\"model_type\":\"cnn\",\"in_channels\":1,\"height\":8,\"width\":8,\"channels\":[4],\"kernel_size\":3}", "classes")]
    [InlineData("{\"model_type\":\"cnn\",\"in_channels\":1,\"height\":-8,\"width\":8,\"channels\":[4],\"kernel_size\":3,\"classes\":10}", "height")]
    [InlineData("{\"model_type\":\"cnn\",\"in_channels\":1,\"height\":8,\"width\":8,\"channels\":\"4\",\"kernel_size\":3,\"classes\":10}", "channels")]
    [InlineData("{\"model_type\":\"mlp\",\"in_channels\":1,\"height\":8,\"width\":8,\"channels\":[4],\"kernel_size\":3,\"classes\":10}", "model_type")]
    public void RejectsInvalidConfigJsonNamingFileAndKey(string json, string key)
    {
        var e = Assert.Throws<InvalidDataException>(() => CnnConfig.FromJson(Encoding.UTF8.GetBytes(json), "dir/config.json"));
        Assert.StartsWith("dir/config.json: " + key + ":", e.Message);
    }

    [Fact]
    public void UnknownModelTypeIsRefusedNamingFileAndKey()
    {
        var e = Assert.Throws<InvalidDataException>(() => ModelTypes.ReadConfig("{\"model_type\": \"resnet\"}"u8, "m/config.json"));
        Assert.StartsWith("m/config.json: model_type:", e.Message);
        Assert.Contains("resnet", e.Message);
        Assert.IsType<ModelConfig>(ModelTypes.ReadConfig(Encoding.UTF8.GetBytes(new ModelConfig([4, 3]).ToJson()), "c.json"));
    }

    [Fact]
    public void ForwardMatchesADirectDoubleComputation()
    {
        // 2 input channels of 5×6 (odd sides exercise the rounding down), conv 3×3 with padding 1 to 3 channels,
        // ReLU, 2×2 max pooling to 2×3, head to 4 classes.
        var config = new CnnConfig(2, 5, 6, [3], 3, 4);
        var model = new Cnn(config, seed: 7);
        var rng = new SeededRandom(3);
        const int n = 3;
        var x = new float[n * config.InputFeatures];
        rng.FillUniform(x, -1, 1);
        float[] y;
        using (Tape.NoGrad()) y = model.Eval().Forward(new Tensor(x, new Shape(n, config.InputFeatures))).ToArray();
        Tape.Current.Reset();

        var w = model.Convs[0] is Conv2d c ? c.Weight.ToArray() : throw new InvalidOperationException();
        var b = ((Conv2d)model.Convs[0]).Bias!.ToArray();
        var hw = ((Linear)model.Head).Weight.ToArray();
        var hb = ((Linear)model.Head).Bias!.ToArray();
        for (int s = 0; s < n; s++)
        {
            // conv + ReLU in double, with Σ|terms| for the rounding bound
            var conv = new double[3, 5, 6];
            double convAbs = 0;
            for (int o = 0; o < 3; o++)
                for (int i = 0; i < 5; i++)
                    for (int j = 0; j < 6; j++)
                    {
                        double sum = b[o], abs = Math.Abs(b[o]);
                        for (int ci = 0; ci < 2; ci++)
                            for (int di = -1; di <= 1; di++)
                                for (int dj = -1; dj <= 1; dj++)
                                {
                                    int ii = i + di, jj = j + dj;
                                    if (ii < 0 || ii >= 5 || jj < 0 || jj >= 6) continue;
                                    double t = (double)w[((o * 2 + ci) * 3 + di + 1) * 3 + dj + 1] * x[s * 60 + ci * 30 + ii * 6 + jj];
                                    sum += t; abs += Math.Abs(t);
                                }
                        conv[o, i, j] = Math.Max(0, sum);
                        convAbs = Math.Max(convAbs, abs);
                    }
            var pooled = new double[3 * 2 * 3];
            for (int o = 0; o < 3; o++)
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 3; j++)
                        pooled[(o * 2 + i) * 3 + j] = Math.Max(Math.Max(conv[o, 2 * i, 2 * j], conv[o, 2 * i, 2 * j + 1]), Math.Max(conv[o, 2 * i + 1, 2 * j], conv[o, 2 * i + 1, 2 * j + 1]));
            for (int k = 0; k < 4; k++)
            {
                double sum = hb[k], abs = Math.Abs(hb[k]), weightAbs = 0;
                for (int f = 0; f < 18; f++) { double t = hw[k * 18 + f] * pooled[f]; sum += t; abs += Math.Abs(t); weightAbs += Math.Abs(hw[k * 18 + f]); }
                // conv outputs carry at most (19 + 2)·ε·Σ|terms| each (ReLU and max are 1-Lipschitz); the head adds its
                // own (19 + 2)·ε·Σ|terms| and the propagated conv error times Σ|head weights|.
                double bound = 21 * Eps * (abs + weightAbs * convAbs) + 1e-30;
                Assert.True(Math.Abs(y[s * 4 + k] - sum) <= bound, $"sample {s} class {k}: {y[s * 4 + k]} vs {sum} (bound {bound})");
            }
        }
    }

    [Fact]
    public void CheckpointRoundTripsBitwiseThroughLoraWrappersAndDispatchesOnModelType()
    {
        using var dir = new global::Lora.Tests.Core.IO.TempDir();
        var config = new CnnConfig(1, 8, 8, [4, 8], 3, 10);
        var model = new Cnn(config, seed: 5);
        model.ApplyLora(new LoraConfig { R = 2, Alpha = 4, TargetModules = ["head"] }, seed: 9);
        foreach (var (_, l) in model.LoraLayers()) new SeededRandom(11).FillUniform(l.Adapters[0].B.Data, -1, 1);
        ModelFiles.Save(model, dir.File("base"));
        var loaded = ModelFiles.Load(dir.File("base"));
        var cnn = Assert.IsType<Cnn>(loaded);
        Assert.Equal(config, cnn.Config);
        var original = model.NamedParameters().Where(p => !LoraModel.IsLoraParameter(p.Name))
            .ToDictionary(p => p.Name.Replace(".base_layer", ""), p => p.Parameter.ToArray());
        foreach (var (name, p) in cnn.NamedParameters()) Assert.Equal(original[name], p.ToArray());
        Assert.Throws<InvalidDataException>(() => ModelFiles.Load<Mlp>(dir.File("base")));

        // Loading into a model of another architecture is refused naming config.json, and changes nothing.
        var other = new Cnn(new CnnConfig(1, 8, 8, [4, 6], 3, 10), seed: 2);
        var before = other.Parameters().Select(p => p.ToArray()).ToList();
        var e = Assert.Throws<InvalidDataException>(() => ModelFiles.LoadInto(other, dir.File("base")));
        Assert.Contains("config.json: channels:", e.Message);
        Assert.Equal(before, other.Parameters().Select(p => p.ToArray()).ToList());

        model.MergeAdapters();
        Assert.Throws<InvalidOperationException>(() => ModelFiles.Save(model, dir.File("merged")));
    }

    [Fact]
    public void CnnTaskNeedsImageDataAndChecksSavedModelsAgainstIt()
    {
        var task = DemoTasks.Find("cnn")!;
        var flat = new Dataset("flat", new float[6], [0, 1], 3, 2);
        var data = new DemoData(flat, flat, flat, flat, "flat", "none");
        Assert.Throws<ArgumentException>(() => task.CreateBase(data, task.Defaults));
        var digits = Digits.Load();
        task.CheckCompatible(new CnnConfig(1, 8, 8, [4], 3, 10), digits);
        Assert.Throws<ArgumentException>(() => task.CheckCompatible(new CnnConfig(1, 4, 4, [4], 3, 10), digits));
        Assert.Throws<ArgumentException>(() => task.CheckCompatible(new CnnConfig(1, 8, 8, [4], 3, 10), new Dataset("eleven", new float[3 * 64], [0, 1, 10], 64, 11)));
        Assert.Throws<ArgumentException>(() => task.CheckCompatible(new ModelConfig([64, 10]), digits));
    }
}
