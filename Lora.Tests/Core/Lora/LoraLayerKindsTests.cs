using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;

namespace Lora.Tests.Core.Lora;

/// <summary>Model-level bookkeeping that must treat every LoRA layer kind alike: which parameters are LoRA factors,
/// what the report counts as base, which factors LoRA+ speeds up.</summary>
public class LoraLayerKindsTests
{
    static Sequential Model() => new(new Embedding(50, 12, new SeededRandom(1)), new Linear(12, 7, new SeededRandom(2)));

    [Fact]
    public void EmbeddingAndLinearFactorsAreLoraParametersAndNotBaseParameters()
    {
        var m = Model();
        long baseCount = m.ParameterCount();
        var report = m.ApplyLora(new LoraConfig { R = 3, Alpha = 6, TargetModules = ["0", "1"] });
        Assert.Equal(baseCount, report.BaseParameters);
        Assert.Equal(3 * 50 + 12 * 3 + 3 * 12 + 7 * 3, report.TrainableParameters);
        Assert.Equal(baseCount + report.TrainableParameters, report.TotalParameters);
        foreach (var (name, p) in m.NamedParameters())
            Assert.Equal(!p.Frozen, LoraModel.IsLoraParameter(name));
        Assert.Contains(m.NamedParameters(), p => p.Name == "0.lora_embedding_A.default");
        Assert.False(LoraModel.IsLoraParameter("0.base_layer.weight"));
        Assert.False(LoraModel.IsLoraParameter("xlora_A.default.weight"));
    }

    [Fact]
    public void LoraPlusRatioSpeedsUpLinearBOnly()
    {
        var m = Model();
        m.ApplyLora(new LoraConfig { R = 3, Alpha = 6, TargetModules = ["0", "1"] });
        var scales = TrainableSlots.From(m, loraPlusRatio: 16).ToDictionary(s => s.Name, s => s.LrScale);
        Assert.Equal(16f, scales["1.lora_B.default.weight"]);
        Assert.Equal(1f, scales["1.lora_A.default.weight"]);
        Assert.Equal(1f, scales["0.lora_embedding_A.default"]);
        Assert.Equal(1f, scales["0.lora_embedding_B.default"]);
    }
}
