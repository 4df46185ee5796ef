using Lora.Core.Lora;
using Lora.Core.IO;
using Lora.Core.Modules;

namespace Lora.Tests.Core.Lora;

/// <summary>ApplyLora with a PiSSA init refuses a target whose weight is not finite before it touches the model: the
/// SVD would fail (NaN) or give NaN factors (∞) inside the wrapping loop, after earlier layers were rewritten.</summary>
public class ApplyLoraProbeTests
{
    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void PissaOnANonFiniteWeightIsRefusedAndTheModelIsUnchanged(float bad)
    {
        var m = new Mlp([6, 8, 5, 3], ActivationKind.Relu, 0, seed: 1);
        ((Linear)m.Layers[2]).Weight.Data[7] = bad; // the last target: the first two would be rewritten before it
        var names = m.NamedParameters().Select(p => p.Name).ToList();
        var before = m.Parameters().Select(p => p.Data.ToArray()).ToList();

        var e = Assert.Throws<ArgumentException>(() => m.ApplyLora(new LoraConfig { R = 2, Init = LoraInit.Pissa }));
        Assert.Contains("layers.2", e.Message);
        Assert.Contains("[7]", e.Message);

        Assert.Empty(m.LoraLayers());
        Assert.Equal(names, m.NamedParameters().Select(p => p.Name));
        var after = m.Parameters().ToList();
        for (int i = 0; i < before.Count; i++) Assert.True(before[i].AsSpan().SequenceEqual(after[i].Data), names[i]);
        Assert.All(after, p => Assert.False(p.Frozen));
    }

    [Fact]
    public void PissaSkipsTheCheckForLayersItDoesNotTargetAndOtherInitsAcceptAnyWeight()
    {
        var m = new Mlp([6, 8, 3], ActivationKind.Relu, 0, seed: 1);
        ((Linear)m.Layers[1]).Weight.Data[0] = float.NaN;
        m.ApplyLora(new LoraConfig { R = 2, Init = LoraInit.Pissa, TargetModules = ["layers.0"] });
        Assert.All(m.TrainableParameters(), p => Assert.All(p.Parameter.Data.ToArray(), v => Assert.True(float.IsFinite(v))));
        var k = new Mlp([6, 8, 3], ActivationKind.Relu, 0, seed: 1);
        ((Linear)k.Layers[1]).Weight.Data[0] = float.NaN;
        k.ApplyLora(new LoraConfig { R = 2 }); // Kaiming init never reads W
        Assert.Equal(2, k.LoraLayers().Count());
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.NegativeInfinity)]
    public void TruncatedSvdRefusesANonFiniteMatrixNamingTheElement(float bad)
    {
        var w = new float[4 * 5];
        for (int i = 0; i < w.Length; i++) w[i] = i % 7 - 3;
        w[13] = bad; // row 2, column 3
        var e = Assert.Throws<ArgumentException>(() => TruncatedSvd.Compute(w, 4, 5, 2, seed: 1));
        Assert.Contains("[2, 3]", e.Message);
    }
}
