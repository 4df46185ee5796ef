using System.Text;
using Lora.Core.IO;
using Lora.Core.Models;

namespace Lora.Tests.Core.IO;

/// <summary>config.json mistakes a user makes by hand that used to load without a word.</summary>
public class ConfigJsonMisuseTests
{
    [Theory]
    [InlineData("activaton", "\"gelu\"")]   // a typo: the model silently used relu
    [InlineData("hidden_act", "\"gelu\"")]  // transformers' name for the same setting
    [InlineData("drop_out", "0.5")]
    [InlineData("bias", "false")]           // a setting this format does not have: the weights file still needs biases
    public void AnUnknownKeyIsRefusedInsteadOfLeavingTheDefault(string key, string value)
    {
        string json = $"{{\"model_type\": \"mlp\", \"sizes\": [4, 3], \"{key}\": {value}}}";
        var e = Assert.Throws<InvalidDataException>(() => ModelConfig.FromJson(Encoding.UTF8.GetBytes(json), "run/config.json"));
        Assert.StartsWith($"run/config.json: '{key}': unknown key", e.Message);
        Assert.Contains("activation", e.Message);
    }

    [Fact]
    public void ACheckpointWithAMisspeltActivationDoesNotLoad()
    {
        using var dir = new TempDir();
        var config = new ModelConfig([4, 3], ActivationKind.Gelu);
        ModelCheckpoint.Create(config, config.ExpectedTensors().Select(t => new TensorData(t.Name, t.Shape, new float[t.Shape.Aggregate(1, (a, b) => a * b)])))
            .Save(dir.PathName);
        string path = dir.File(ModelCheckpoint.ConfigFileName);
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"activation\"", "\"activaton\""));
        var e = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.Load(dir.PathName));
        Assert.Contains("'activaton': unknown key", e.Message);
    }

    [Theory]
    [InlineData("{\"model_type\": \"cnn\", \"in_channels\": 1, \"height\": 8, \"width\": 8, \"channels\": [4], \"kernel_size\": 3, \"classes\": 10, \"pool\": \"max\"}", "pool")]
    [InlineData("{\"model_type\": \"char_rnn\", \"vocab_size\": 39, \"embedding_dim\": 4, \"hidden_size\": 8, \"cell\": \"gru\", \"dropout\": 0.5}", "dropout")]
    [InlineData("{\"model_type\": \"ngram_embedding\", \"vocab_size\": 39, \"orders\": 3, \"rows\": 2000, \"dim\": 4, \"tied\": true}", "tied")]
    public void TheDemoModelConfigsRefuseASettingTheyDoNotHave(string json, string key)
    {
        // The model would have been built without the setting (no pooling, no dropout) and said nothing.
        var e = Assert.Throws<InvalidDataException>(() => ModelTypes.ReadConfig(Encoding.UTF8.GetBytes(json), "m/config.json"));
        Assert.StartsWith($"m/config.json: '{key}': unknown key", e.Message);
    }

    [Fact]
    public void EveryKeyTheWriterEmitsIsRead()
    {
        var config = new ModelConfig([5, 7, 2], ActivationKind.Tanh, 0.25);
        Assert.Equal(config, ModelConfig.FromJson(Encoding.UTF8.GetBytes(config.ToJson()), "config.json"));
        foreach (IModelConfig other in new IModelConfig[]
                 { new CnnConfig(1, 8, 8, [4, 6], 3, 10), new CharRnnConfig(39, 4, 8, RecurrentCell.Gru), new NgramConfig(39, 3, 2000, 4) })
            Assert.Equal(other, ModelTypes.ReadConfig(Encoding.UTF8.GetBytes(other.ToJson()), "config.json"));
    }
}
