using System.Text;
using Lora.Core.IO;

namespace Lora.Tests.Core.IO;

/// <summary>model.safetensors + config.json: round trips, and every way the pair can disagree is refused.</summary>
public class ModelCheckpointTests
{
    [Fact]
    public void LoadsTheFixtureAndRoundTripsBitwise()
    {
        var model = ModelCheckpoint.Load(PeftFixture.Dir);
        Assert.Equal(new ModelConfig([8, 16, 12, 4], ActivationKind.Relu, 0.0), model.Config);
        Assert.Equal(6, model.Tensors.Count);
        Assert.Equal("pt", model.Metadata["format"]);
        using var dir = new TempDir();
        model.Save(dir.PathName);
        var back = ModelCheckpoint.Load(dir.PathName);
        Assert.Equal(model.Config, back.Config);
        foreach (var (name, t) in model.Tensors) Assert.Equal(t.Data.Bits(), back.Tensors[name].Data.Bits());
        // The fixture's weights file was written by the Python writer: ours gives the same bytes.
        Assert.Equal(File.ReadAllBytes(PeftFixture.PathOf("model.safetensors")), File.ReadAllBytes(dir.File("model.safetensors")));
    }

    [Fact]
    public void ConfigJsonRoundTrips()
    {
        var config = new ModelConfig([784, 1024, 1024, 10], ActivationKind.Gelu, 0.125);
        var json = config.ToJson();
        Assert.Equal(config, ModelConfig.FromJson(Encoding.UTF8.GetBytes(json), "config.json"));
        Assert.Contains("\"activation\": \"gelu\"", json);
        var (name, shape) = config.ExpectedTensors().ElementAt(4);
        Assert.Equal("layers.2.weight", name);
        Assert.Equal([10, 1024], shape);
    }

    [Theory]
    [InlineData("{\"model_type\":\"mlp\",\"sizes\":[8]}", "sizes")]
    [InlineData("{\"model_type\":\"mlp\",\"sizes\":[8,0,4]}", "sizes[1]")]
    [InlineData("{\"model_type\":\"mlp\",\"sizes\":[8,1.5,4]}", "sizes[1]")]
    [InlineData("{\"model_type\":\"mlp\",\"sizes\":[8,-3,4]}", "sizes[1]")]
    [InlineData("{\"model_type\":\"mlp\",\"sizes\":\"8,4\"}", "sizes")]
    [InlineData("{\"model_type\":\"mlp\",\"sizes\":[8,4],\"dropout\":1.0}", "dropout")]
    [InlineData("{\"model_type\":\"mlp\",\"sizes\":[8,4],\"dropout\":\"0\"}", "dropout")]
    [InlineData("{\"model_type\":\"mlp\",\"sizes\":[8,4],\"activation\":\"swish\"}", "activation")]
    [InlineData("{\"model_type\":\"cnn\",\"sizes\":[8,4]}", "model_type")]
    [InlineData("{\"sizes\":[8,4]}", "model_type")]
    [InlineData("{\"model_type\":\"mlp\"}", "sizes")]
    [InlineData("{\"model_type\":\"mlp\",\"sizes\":[8,4],\"sizes\":[8,5]}", "sizes")]
    [InlineData("{\"model_type\":\"mlp\",\"sizes\":[8,4]", "JSON")]
    [InlineData("[8,4]", "JSON")]
    [InlineData("{\"model_type\":\"mlp\",\"sizes\":[100000,100000]}", "sizes[1]")]
    public void RejectsInvalidConfigJson(string json, string key)
    {
        var e = Assert.Throws<InvalidDataException>(() => ModelConfig.FromJson(Encoding.UTF8.GetBytes(json), "dir/config.json"));
        Assert.StartsWith("dir/config.json: " + key + ":", e.Message);
    }

    public static TheoryData<string, string> TensorDefects => new()
    {
        { "missing", "'layers.1.bias'" },
        { "extra", "'layers.3.weight'" },
        { "transposed", "'layers.0.weight'" },
        { "bias 2-D", "'layers.2.bias'" },
    };

    [Theory]
    [MemberData(nameof(TensorDefects))]
    public void RejectsWeightsThatDisagreeWithTheConfig(string defect, string key)
    {
        var model = ModelCheckpoint.Load(PeftFixture.Dir);
        var tensors = model.Tensors.Values.ToList();
        switch (defect)
        {
            case "missing": tensors.RemoveAll(t => t.Name == "layers.1.bias"); break;
            case "extra": tensors.Add(new TensorData("layers.3.weight", [1, 4], [0, 0, 0, 0])); break;
            case "transposed":
                var w = model.Tensors["layers.0.weight"];
                tensors[tensors.FindIndex(t => t.Name == w.Name)] = new TensorData(w.Name, [8, 16], w.Data);
                break;
            case "bias 2-D":
                var b = model.Tensors["layers.2.bias"];
                tensors[tensors.FindIndex(t => t.Name == b.Name)] = new TensorData(b.Name, [1, 4], b.Data);
                break;
        }
        using var dir = new TempDir();
        model.Config.Write(dir.File("config.json"));
        SafeTensors.Write(dir.File("model.safetensors"), tensors);
        var e = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.Load(dir.PathName));
        Assert.StartsWith(dir.File("model.safetensors") + ": " + key, e.Message);
        Assert.Throws<ArgumentException>(() => ModelCheckpoint.Create(model.Config, tensors));
    }

    [Fact]
    public void MissingFilesAreReportedAsMissing()
    {
        using var dir = new TempDir();
        Assert.Throws<FileNotFoundException>(() => ModelCheckpoint.Load(dir.PathName));
        new ModelConfig([2, 2]).Write(dir.File("config.json"));
        Assert.Throws<FileNotFoundException>(() => ModelCheckpoint.Load(dir.PathName));
    }

    [Fact]
    public void ConstructorValidates()
    {
        Assert.Throws<ArgumentException>(() => new ModelConfig([3]));
        Assert.Throws<ArgumentException>(() => new ModelConfig([3, 0]));
        Assert.Throws<ArgumentException>(() => new ModelConfig([3, 2], dropout: -0.1));
        Assert.Throws<ArgumentException>(() => new ModelConfig([3, 2], dropout: double.NaN));
    }
}
