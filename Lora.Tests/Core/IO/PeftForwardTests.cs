using Lora.Core.IO;

namespace Lora.Tests.Core.IO;

/// <summary>A plain double-precision forward of the fixture MLP from the files Lora reads reproduces PyTorch's outputs.</summary>
/// <remarks>Test-only loops, independent of the library's kernels; the module-level twin of this test lives with the
/// modules. Tolerance: PyTorch's float32 outputs carry rounding of order k·2^-24 relative to the row's magnitude
/// (k ≤ 16 terms per dot product, three layers), about 1e-6; 1e-5 of the row's largest |output| leaves room for that
/// and nothing else. Against PyTorch's float64 outputs only summation order differs: 1e-12.</remarks>
public class PeftForwardTests
{
    /// <param name="scales">Per-layer scales to use instead of the config's single one (the pattern fixture's,
    /// computed by PyTorch's script), so this oracle does not depend on Lora's pattern matching.</param>
    internal static double[] Forward(ModelCheckpoint model, PeftAdapter? adapter, float[] x, int n, double[]? scales = null)
    {
        var sizes = model.Config.Sizes;
        var h = x.Select(v => (double)v).ToArray();
        for (int layer = 0; layer < sizes.Count - 1; layer++)
        {
            int k = sizes[layer], m = sizes[layer + 1];
            string path = $"layers.{layer}";
            var w = model.Tensors[path + ".weight"].Data;
            var b = model.Tensors[path + ".bias"].Data;
            if (adapter is not null && adapter.Biases.TryGetValue(path, out var trainedBias)) b = trainedBias.Data;
            if (adapter?.SavedModules.FirstOrDefault(sm => sm.ModulePath == path) is { } saved)
            {
                // modules_to_save: the trained copy replaces the whole layer
                w = saved.Parameters["weight"].Data;
                b = saved.Parameters["bias"].Data;
            }
            var lora = adapter?.Modules.FirstOrDefault(mw => mw.ModulePath == path);
            double s = scales?[layer] ?? adapter?.Config.Scaling ?? 0;
            var y = new double[n * m];
            for (int i = 0; i < n; i++)
            {
                var low = new double[lora?.Rank ?? 0];
                for (int r = 0; r < low.Length; r++)
                    for (int j = 0; j < k; j++) low[r] += h[i * k + j] * lora!.A.Data[r * k + j];
                for (int o = 0; o < m; o++)
                {
                    double acc = b[o];
                    for (int j = 0; j < k; j++) acc += h[i * k + j] * w[o * k + j];
                    for (int r = 0; r < low.Length; r++) acc += s * low[r] * lora!.B.Data[o * low.Length + r];
                    y[i * m + o] = layer + 1 < sizes.Count - 1 ? Math.Max(0, acc) : acc;
                }
            }
            h = y;
        }
        return h;
    }

    static void AssertRowsClose(double[] ours, double[][] theirs, double relative)
    {
        int m = theirs[0].Length;
        for (int i = 0; i < theirs.Length; i++)
        {
            double scale = theirs[i].Max(Math.Abs);
            for (int j = 0; j < m; j++)
                Assert.True(Math.Abs(ours[i * m + j] - theirs[i][j]) <= relative * scale,
                    $"row {i} col {j}: ours {ours[i * m + j]:R}, torch {theirs[i][j]:R}, allowed {relative * scale:E2}");
        }
    }

    static double[][] Rows(TensorData t) =>
        Enumerable.Range(0, t.Shape[0]).Select(i => t.Data.Skip(i * t.Shape[1]).Take(t.Shape[1]).Select(v => (double)v).ToArray()).ToArray();

    /// <summary>Runs the fixture's input through the model (and adapter) and checks the output against PyTorch's
    /// float32 output <paramref name="name"/> and its float64 twin <c>{name}_f64</c>; returns our output.</summary>
    static double[] AssertMatchesPyTorch(ModelCheckpoint model, PeftAdapter? adapter, string name, double[]? scales = null)
    {
        var io = SafeTensors.Read(PeftFixture.PathOf("io.safetensors"));
        var y = Forward(model, adapter, io.Require("x", 5, 8).Data, 5, scales);
        AssertRowsClose(y, Rows(io.Require(name, 5, 4)), 1e-5);
        AssertRowsClose(y, PeftFixture.ExpectedRows(name + "_f64"), 1e-12);
        return y;
    }

    [Fact]
    public void BaseAndAdaptedOutputsMatchPyTorch()
    {
        var model = ModelCheckpoint.Load(PeftFixture.Dir);
        var adapter = PeftAdapter.Load(PeftFixture.PathOf("adapter"));
        var yBase = AssertMatchesPyTorch(model, null, "y_base");
        var yLora = AssertMatchesPyTorch(model, adapter, "y_lora");
        Assert.Equal(PeftFixture.Expected.GetProperty("scaling").GetDouble(), adapter.Config.Scaling);
        // The adapter must matter, or the comparison above would not test it.
        Assert.True(yBase.Zip(yLora).Max(p => Math.Abs(p.First - p.Second)) > 0.05);
    }

    [Fact]
    public void BiasAllRsLoraRegexAdapterMatchesPyTorch()
    {
        // PyTorch's second adapter: r = 2, rsLoRA, target_modules "layers\\.[02]", bias "all" (all three biases saved).
        var model = ModelCheckpoint.Load(PeftFixture.Dir);
        var adapter = PeftAdapter.Load(PeftFixture.PathOf("adapter_bias"));
        Assert.Equal(["layers.0", "layers.2"], adapter.Modules.Select(m => m.ModulePath));
        Assert.Equal(["layers.0", "layers.1", "layers.2"], adapter.Biases.Keys);
        Assert.Equal(PeftBias.All, adapter.Config.Bias);
        Assert.Equal(PeftFixture.Expected.GetProperty("scaling_bias").GetDouble(), adapter.Config.Scaling, 15);
        adapter.CheckCompatible(model.Config.Linears().ToDictionary(l => l.Path, l => (l.Out, l.In)));
        AssertMatchesPyTorch(model, adapter, "y_lora_bias");
    }

    [Fact]
    public void ModulesToSaveAdapterMatchesPyTorch()
    {
        // PyTorch's fourth adapter: LoRA (r = 2, alpha = 4) on layers.0 and layers.1, modules_to_save ["layers.2"] with a
        // trained head that differs from the base one, saved as base_model.model.layers.2.weight / .bias.
        var model = ModelCheckpoint.Load(PeftFixture.Dir);
        var adapter = PeftAdapter.Load(PeftFixture.PathOf("adapter_save"));
        Assert.Equal(["layers.0", "layers.1"], adapter.Modules.Select(m => m.ModulePath));
        Assert.Equal(["layers.2"], adapter.Config.ModulesToSave);
        Assert.Equal("SEQ_CLS", adapter.Config.TaskType);
        var head = Assert.Single(adapter.SavedModules);
        Assert.Equal("layers.2", head.ModulePath);
        Assert.Equal(["bias", "weight"], head.Parameters.Keys);
        var expected = PeftFixture.ExpectedTensors("adapter_save/adapter_model.safetensors");
        foreach (var (name, t) in head.Parameters)
        {
            Assert.Equal(expected[head.KeyOf(name)].Shape, t.Shape);
            Assert.Equal(expected[head.KeyOf(name)].Bits, t.Data.Bits());
        }
        Assert.NotEqual(model.Tensors["layers.2.weight"].Data, head.Parameters["weight"].Data);
        Assert.Equal(PeftFixture.Expected.GetProperty("scaling_save").GetDouble(), adapter.Config.Scaling);
        AssertMatchesPyTorch(model, adapter, "y_lora_save");
    }

    [Fact]
    public void RankAndAlphaPatternAdapterMatchesPyTorch()
    {
        // PyTorch's third adapter: r = 4, lora_alpha = 8, rank_pattern {"0": 3, "layers\\.[01]": 2} (in that order in
        // the file: layers.0 matches both keys and takes the first), alpha_pattern {"layers.2": 16}.
        var model = ModelCheckpoint.Load(PeftFixture.Dir);
        var adapter = PeftAdapter.Load(PeftFixture.PathOf("adapter_pattern"));
        Assert.Equal([3, 2, 4], adapter.Modules.Select(m => m.Rank));
        Assert.Equal([3, 2, 4], adapter.Modules.Select(m => adapter.Config.RankFor(m.ModulePath)));
        Assert.Equal([8.0, 8.0, 16.0], adapter.Modules.Select(m => adapter.Config.AlphaFor(m.ModulePath)));
        Assert.Equal(["0", "layers\\.[01]"], adapter.Config.RankPattern.Select(p => p.Key));
        var scales = PeftFixture.Expected.GetProperty("scalings_pattern").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        AssertMatchesPyTorch(model, adapter, "y_lora_pattern", scales);
    }

    /// <summary>Writes a directory for the reverse check: <c>/usr/bin/python3 tools/make_peft_fixture.py --check DIR</c>.</summary>
    /// <remarks>A different adapter than the fixture's (r = 2, rsLoRA, two targets, trained lora_only biases, layers.1 in
    /// modules_to_save with its own weight and bias), with
    /// outputs computed here; the script recomputes them with torch from Lora's files. DIR is printed in the test
    /// output's location: the system temp folder's <c>lora-peft-check</c>.</remarks>
    [Fact]
    public void WritesADirectoryPyTorchCanCheck()
    {
        string dir = Path.Combine(Path.GetTempPath(), "lora-peft-check");
        var model = ModelCheckpoint.Load(PeftFixture.Dir);
        var config = new PeftAdapterConfig { R = 2, LoraAlpha = 3, UseRsLora = true, TargetModules = ["layers.0", "layers.2"], Bias = PeftBias.LoraOnly, ModulesToSave = ["layers.1"] };
        var modules = model.Config.Linears().Where(l => l.Path != "layers.1").Select((l, i) => new PeftLoraWeights(l.Path,
            TestExtensions.Tensor("A", [2, l.In], 10 + i), TestExtensions.Tensor("B", [l.Out, 2], 20 + i))).ToList();
        var biases = modules.ToDictionary(m => m.ModulePath, m => TestExtensions.Tensor("bias", [m.Out], 30 + m.Out));
        var head = new PeftSavedModule("layers.1", new Dictionary<string, TensorData>
        {
            ["weight"] = TestExtensions.Tensor("weight", [12, 16], 40),
            ["bias"] = TestExtensions.Tensor("bias", [12], 41),
        });
        var adapter = PeftAdapter.Create(config, modules, biases, [head]);
        var x = TestExtensions.Tensor("x", [3, 8], 99);

        model.Save(dir);
        adapter.Save(Path.Combine(dir, "adapter"));
        var yBase = Forward(model, null, x.Data, 3).Select(v => (float)v).ToArray();
        var yLora = Forward(model, adapter, x.Data, 3).Select(v => (float)v).ToArray();
        SafeTensors.Write(Path.Combine(dir, "io.safetensors"),
            [new TensorData("x", [3, 8], x.Data), new TensorData("y_base", [3, 4], yBase), new TensorData("y_lora", [3, 4], yLora)]);

        // What was written reads back identically through Lora's own readers.
        var back = PeftAdapter.Load(Path.Combine(dir, "adapter"));
        Assert.Equal(Forward(model, adapter, x.Data, 3), Forward(ModelCheckpoint.Load(dir), back, x.Data, 3));
        Assert.Equal(3 / Math.Sqrt(2), back.Config.Scaling);
    }
}
