using System.Text.Json;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Tests.Core.IO;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Lora;

/// <summary>DoRA interoperability with PyTorch: tools/make_peft_fixture.py writes a PEFT-layout DoRA adapter
/// (use_dora, lora_magnitude_vector) and its outputs under PEFT's formula; Lora loads it and reproduces them. The
/// reverse direction writes a directory the script's --check recomputes.</summary>
/// <remarks>Tolerance, as for the plain fixture: float32 rounding of dot products of at most 16 terms through three
/// layers, plus the norm's relative (k/2 + 4)·2⁻²⁴, stays near 1e-6 of each row's largest |output|; 1e-5 leaves room
/// for that and nothing else.</remarks>
public class DoraPeftFixtureTests
{
    static void AssertRowsClose(float[] ours, double[][] theirs, string what)
    {
        int m = theirs[0].Length;
        for (int i = 0; i < theirs.Length; i++)
        {
            double scale = theirs[i].Max(Math.Abs);
            for (int j = 0; j < m; j++)
                Assert.True(Math.Abs(ours[i * m + j] - theirs[i][j]) <= 1e-5 * scale, $"{what} row {i} col {j}: ours {ours[i * m + j]:R}, torch {theirs[i][j]:R}");
        }
    }

    [Fact]
    public void LoadsPyTorchsDoraAdapterAndReproducesItsOutputs()
    {
        var model = ModelFiles.Load<Mlp>(PeftFixture.Dir);
        LoraAdapterFiles.Load(model, PeftFixture.PathOf("adapter_dora"));
        var file = SafeTensors.Read(PeftFixture.PathOf("adapter_dora/adapter_model.safetensors"));
        foreach (var (path, layer) in model.LoraLayers())
        {
            var ad = layer.Adapters[0];
            Assert.True(ad.UseDora);
            Assert.Equal(file.Tensors.Single(t => t.Name == $"base_model.model.{path}.lora_magnitude_vector").Data, ad.Magnitude!.ToArray());
        }
        var io = SafeTensors.Read(PeftFixture.PathOf("dora_io.safetensors"));
        var x = io.Tensors.Single(t => t.Name == "x");
        var yTorch = io.Tensors.Single(t => t.Name == "y_dora");
        int n = x.Shape[0], m = yTorch.Shape[1];
        var y = Run(model.Eval(), x.Data, n);
        AssertRowsClose(y, Enumerable.Range(0, n).Select(i => yTorch.Data.Skip(i * m).Take(m).Select(v => (double)v).ToArray()).ToArray(), "y_dora");
        using var json = JsonDocument.Parse(File.ReadAllBytes(PeftFixture.PathOf("dora.json")));
        var f64 = json.RootElement.GetProperty("y_dora_f64").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        AssertRowsClose(y, f64, "y_dora_f64");
        // Merged, the same model computes the same outputs with plain Linear layers.
        AssertRowsClose(Run(model.MergeAndUnload(), x.Data, n), f64, "merged");
    }

    /// <summary>Writes <c>lora-peft-check-dora</c> in the temp folder for
    /// <c>/usr/bin/python3 tools/make_peft_fixture.py --check DIR</c>: the fixture's base model and a DoRA adapter
    /// trained away from its start (random B, magnitude moved), with outputs computed by Lora.</summary>
    [Fact]
    public void WritesADoraDirectoryPyTorchCanCheck()
    {
        string dir = Path.Combine(Path.GetTempPath(), "lora-peft-check-dora");
        var model = ModelFiles.Load<Mlp>(PeftFixture.Dir);
        model.ApplyLora(new LoraConfig { R = 3, Alpha = 5, UseDora = true, TargetModules = ["layers.0", "layers.2"] });
        foreach (var (_, l) in model.LoraLayers())
        {
            var ad = l.Adapters[0];
            Random(ad.B.Length, 17, 0.3).CopyTo(ad.B.Data);
            var mag = ad.Magnitude!.Data;
            var noise = Random(mag.Length, 18, 0.2);
            for (int i = 0; i < mag.Length; i++) mag[i] *= 1 + noise[i];
        }
        var x = Random(3 * 8, 99);
        var yLora = Run(model.Eval(), x, 3);
        model.DisableAdapters();
        var yBase = Run(model, x, 3);
        model.EnableAdapters();
        ModelCheckpoint.Load(PeftFixture.Dir).Save(dir);
        LoraAdapterFiles.Save(model, Path.Combine(dir, "adapter"));
        SafeTensors.Write(Path.Combine(dir, "io.safetensors"),
            [new TensorData("x", [3, 8], x), new TensorData("y_base", [3, 4], yBase), new TensorData("y_lora", [3, 4], yLora)]);
        var back = new Mlp([8, 16, 12, 4]);
        ModelFiles.LoadInto(back, dir);
        LoraAdapterFiles.Load(back, Path.Combine(dir, "adapter"));
        Assert.Equal(yLora, Run(back.Eval(), x, 3));
    }
}
