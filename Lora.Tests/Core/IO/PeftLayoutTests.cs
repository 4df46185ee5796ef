using Lora.Core.IO;

namespace Lora.Tests.Core.IO;

/// <summary>PEFT's factor layouts beyond Linear: convolution factors (r, in, kh, kw) / (out, r, 1, 1) and embedding
/// factors under <c>lora_embedding_A</c> / <c>lora_embedding_B</c>, read, written and checked against a model.</summary>
public class PeftLayoutTests
{
    static readonly PeftAdapterConfig Config = new() { R = 2, LoraAlpha = 4, TargetModules = ["conv", "emb", "head"] };

    static PeftLoraWeights Conv() => new("conv", TestExtensions.Tensor("A", [2, 3, 3, 3], 1), TestExtensions.Tensor("B", [5, 2, 1, 1], 2));
    static PeftLoraWeights Emb() => new("emb", TestExtensions.Tensor("A", [2, 11], 3), TestExtensions.Tensor("B", [6, 2], 4), embedding: true);
    static PeftLoraWeights Head() => new("head", TestExtensions.Tensor("A", [2, 6], 5), TestExtensions.Tensor("B", [4, 2], 6));

    static Dictionary<string, PeftFactorLayout> Model() => new()
    {
        ["conv"] = PeftFactorLayout.Conv2d(3, 3, 3, 5),
        ["emb"] = PeftFactorLayout.EmbeddingTable(11, 6),
        ["head"] = PeftFactorLayout.Linear(6, 4),
    };

    [Fact]
    public void ConvAndEmbeddingFactorsRoundTripUnderPeftsKeys()
    {
        var adapter = PeftAdapter.Create(Config, [Conv(), Emb(), Head()]);
        using var dir = new TempDir();
        adapter.Save(dir.PathName);
        var keys = SafeTensors.Read(Path.Combine(dir.PathName, PeftAdapter.WeightsFileName)).Tensors.ToDictionary(t => t.Name, t => t.Shape);
        Assert.Equal([2, 3, 3, 3], keys["base_model.model.conv.lora_A.weight"]);
        Assert.Equal([5, 2, 1, 1], keys["base_model.model.conv.lora_B.weight"]);
        Assert.Equal([2, 11], keys["base_model.model.emb.lora_embedding_A"]);
        Assert.Equal([6, 2], keys["base_model.model.emb.lora_embedding_B"]);
        Assert.Equal(6, keys.Count);
        var back = PeftAdapter.Load(dir.PathName);
        back.CheckCompatible(Model());
        foreach (var (a, b) in adapter.Modules.Zip(back.Modules))
        {
            Assert.Equal(a.ModulePath, b.ModulePath);
            Assert.Equal(a.IsEmbedding, b.IsEmbedding);
            Assert.Equal(a.A.Shape, b.A.Shape);
            Assert.Equal(a.B.Shape, b.B.Shape);
            Assert.Equal(a.A.Data.Bits(), b.A.Data.Bits());
            Assert.Equal(a.B.Data.Bits(), b.B.Data.Bits());
        }
        Assert.Equal(27, back.Modules.Single(m => m.ModulePath == "conv").In);
    }

    [Fact]
    public void LayerKindOrSizeMismatchesAreRefusedNamingTheKey()
    {
        var adapter = PeftAdapter.Create(Config, [Conv(), Emb(), Head()]);
        var model = Model();
        model["conv"] = PeftFactorLayout.Linear(27, 5);           // same flat sizes, but not a convolution
        Assert.Contains("conv.lora_A.weight", Assert.Throws<InvalidDataException>(() => adapter.CheckCompatible(model)).Message);
        model = Model();
        model["conv"] = PeftFactorLayout.Conv2d(3, 5, 5, 5);      // another kernel size
        Assert.Contains("conv.lora_A.weight", Assert.Throws<InvalidDataException>(() => adapter.CheckCompatible(model)).Message);
        model = Model();
        model["emb"] = PeftFactorLayout.Linear(11, 6);            // a Linear where the file has an embedding
        Assert.Contains("emb.lora_embedding_A", Assert.Throws<InvalidDataException>(() => adapter.CheckCompatible(model)).Message);
        model = Model();
        model["emb"] = PeftFactorLayout.EmbeddingTable(12, 6);    // one more row
        Assert.Contains("emb.lora_embedding_A", Assert.Throws<InvalidDataException>(() => adapter.CheckCompatible(model)).Message);
    }

    [Theory]
    [InlineData(new[] { 2, 3, 3, 3 }, new[] { 5, 2, 3, 1 }, false)]  // B must be a 1×1 convolution
    [InlineData(new[] { 2, 3, 3 }, new[] { 5, 2, 1 }, false)]        // 3-D factors fit no layer
    [InlineData(new[] { 2, 3, 3, 3 }, new[] { 5, 2 }, false)]        // mixed ranks
    [InlineData(new[] { 2, 11, 1, 1 }, new[] { 6, 2, 1, 1 }, true)]  // embedding factors are 2-D
    [InlineData(new[] { 2, 0 }, new[] { 6, 2 }, true)]               // an empty dimension
    public void FactorShapesThatFitNoLayerAreRefused(int[] a, int[] b, bool embedding)
    {
        Assert.Throws<ArgumentException>(() => new PeftLoraWeights("x", new TensorData("a", a, new float[a.Aggregate(1, (p, d) => p * d)]),
            new TensorData("b", b, new float[b.Aggregate(1, (p, d) => p * d)]), embedding));
        using var dir = new TempDir();
        string akey = embedding ? "base_model.model.x.lora_embedding_A" : "base_model.model.x.lora_A.weight";
        string bkey = embedding ? "base_model.model.x.lora_embedding_B" : "base_model.model.x.lora_B.weight";
        (Config with { TargetModules = ["x"] }).Write(Path.Combine(dir.PathName, PeftAdapter.ConfigFileName));
        SafeTensors.Write(Path.Combine(dir.PathName, PeftAdapter.WeightsFileName),
            [new TensorData(akey, a, new float[a.Aggregate(1, (p, d) => p * d)]), new TensorData(bkey, b, new float[b.Aggregate(1, (p, d) => p * d)])]);
        var e = Assert.Throws<InvalidDataException>(() => PeftAdapter.Load(dir.PathName));
        Assert.Contains(PeftAdapter.WeightsFileName, e.Message);
        Assert.Contains("base_model.model.x.lora_", e.Message);
    }

    [Fact]
    public void AFactorUnderBothLinearAndEmbeddingKeysOrWithoutItsPartnerIsRefused()
    {
        using var dir = new TempDir();
        (Config with { TargetModules = ["x"] }).Write(Path.Combine(dir.PathName, PeftAdapter.ConfigFileName));
        string weights = Path.Combine(dir.PathName, PeftAdapter.WeightsFileName);
        SafeTensors.Write(weights, [
            new TensorData("base_model.model.x.lora_A.weight", [2, 4], new float[8]),
            new TensorData("base_model.model.x.lora_embedding_A", [2, 4], new float[8]),
            new TensorData("base_model.model.x.lora_B.weight", [3, 2], new float[6])]);
        Assert.Contains("duplicate key", Assert.Throws<InvalidDataException>(() => PeftAdapter.Load(dir.PathName)).Message);
        SafeTensors.Write(weights, [
            new TensorData("base_model.model.x.lora_embedding_A", [2, 4], new float[8]),
            new TensorData("base_model.model.x.lora_B.weight", [3, 2], new float[6])]);
        Assert.Contains("lora_embedding_B", Assert.Throws<InvalidDataException>(() => PeftAdapter.Load(dir.PathName)).Message);
    }
}
