using Lora.Core.IO;
using Lora.Core.Lora;
using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.Modules;

/// <summary>Saving and loading an <see cref="Mlp"/> as a checkpoint directory (<c>model.safetensors</c> with PyTorch's
/// names + <c>config.json</c>, see <see cref="ModelCheckpoint"/>).</summary>
/// <remarks>
/// A LoRA-wrapped model saves and loads its <em>base</em> weights under the plain names (<c>layers.0.weight</c>, not
/// <c>layers.0.base_layer.weight</c>); adapters go to their own files (<see cref="LoraAdapterFiles"/>). To save base +
/// adapter as one plain model, <see cref="LoraModel.MergeAndUnload"/> first. Loading reads and checks both files
/// completely before assigning anything, so a failed load leaves the model as it was.
/// </remarks>
public static class ModelFiles
{
    /// <summary>Writes the base weights of <paramref name="model"/> into <paramref name="directory"/> (each file atomically).</summary>
    /// <exception cref="InvalidOperationException">A LoRA layer is merged: its W is not the base weight.</exception>
    public static void Save(Mlp model, string directory, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ToCheckpoint(model).Save(directory, metadata);
    }

    /// <summary>The base weights as an in-memory checkpoint (copies).</summary>
    public static ModelCheckpoint ToCheckpoint(Mlp model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var tensors = new List<TensorData>();
        foreach (var (path, linear) in BaseLinears(model))
        {
            tensors.Add(new TensorData(path + ".weight", [linear.OutFeatures, linear.InFeatures], linear.Weight.ToArray()));
            if (linear.Bias is { } b) tensors.Add(new TensorData(path + ".bias", [linear.OutFeatures], b.ToArray()));
        }
        return ModelCheckpoint.Create(model.Config, tensors);
    }

    /// <summary>Reads a checkpoint directory into a new model (evaluation mode off: modules start in training mode).</summary>
    /// <exception cref="InvalidDataException">A corrupt or inconsistent file, naming the file and key.</exception>
    /// <exception cref="FileNotFoundException">A missing file.</exception>
    public static Mlp Load(string directory)
    {
        var checkpoint = ModelCheckpoint.Load(directory);
        var model = Mlp.CreateEmpty(checkpoint.Config);
        Assign(model, checkpoint);
        return model;
    }

    /// <summary>Loads a checkpoint's weights into an existing model of the same architecture (base weights of LoRA
    /// layers included; adapters untouched).</summary>
    /// <exception cref="InvalidDataException">The files are corrupt or describe another architecture; the model is unchanged.</exception>
    /// <exception cref="InvalidOperationException">A LoRA layer is merged; the model is unchanged.</exception>
    public static void LoadInto(Mlp model, string directory)
    {
        ArgumentNullException.ThrowIfNull(model);
        var checkpoint = ModelCheckpoint.Load(directory);
        if (!checkpoint.Config.Equals(model.Config))
            throw Corrupt(Path.Combine(directory, ModelCheckpoint.ConfigFileName), "sizes",
                $"describes sizes [{string.Join(", ", checkpoint.Config.Sizes)}] ({ModelConfig.ActivationName(checkpoint.Config.Activation)}), but the model has [{string.Join(", ", model.Config.Sizes)}] ({ModelConfig.ActivationName(model.Config.Activation)})");
        _ = BaseLinears(model).ToList(); // throws for a merged layer before anything is written
        Assign(model, checkpoint);
    }

    static void Assign(Mlp model, ModelCheckpoint checkpoint)
    {
        foreach (var (path, linear) in BaseLinears(model).ToList())
        {
            checkpoint.Tensors[path + ".weight"].Data.CopyTo(linear.Weight.Data);
            if (linear.Bias is { } b) checkpoint.Tensors[path + ".bias"].Data.CopyTo(b.Data);
        }
        foreach (var (_, l) in model.LoraLayers()) l.RefreshBaseWeight();
    }

    /// <summary>(path, base Linear) for every layer of the model, looking through LoRA wrappers.</summary>
    static IEnumerable<(string Path, Linear Linear)> BaseLinears(Mlp model)
    {
        for (int i = 0; i < model.Layers.Count; i++)
        {
            string path = $"layers.{i}";
            switch (model.Layers[i])
            {
                case Linear l: yield return (path, l); break;
                case LoraLinear ll when ll.IsMerged:
                    throw new InvalidOperationException($"Layer '{path}' is merged, so its weight is not the base weight; Unmerge() first, or MergeAndUnload() to save base + adapter as a plain model.");
                case LoraLinear ll: yield return (path, ll.BaseLayer); break;
                default: throw new InvalidOperationException($"Layer '{path}' is a {model.Layers[i].GetType().Name}, which a checkpoint cannot hold.");
            }
        }
    }
}
