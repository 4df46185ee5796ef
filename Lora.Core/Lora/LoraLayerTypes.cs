using Lora.Core.IO;
using Lora.Core.Modules;

namespace Lora.Core.Lora;

/// <summary>Which layer types LoRA can adapt: the one place that maps a base layer to its LoRA wrapper and to the
/// factor layout PEFT stores for it. Adding a layer type means adding one line to each switch.</summary>
public static class LoraLayerTypes
{
    /// <summary>A new LoRA wrapper around <paramref name="baseLayer"/> (which becomes its <c>base_layer</c>), or null
    /// when LoRA cannot adapt that type.</summary>
    public static LoraLayer? Wrap(Module baseLayer) => baseLayer switch
    {
        Linear l => new LoraLinear(l),
        Embedding e => new LoraEmbedding(e),
        Conv2d c => new LoraConv2d(c),
        _ => null,
    };

    /// <summary>The factor shapes and keys for <paramref name="baseLayer"/>, or null when LoRA cannot adapt that type.
    /// Computed without wrapping, so a caller can validate before touching the model.</summary>
    public static PeftFactorLayout? LayoutOf(Module baseLayer) => baseLayer switch
    {
        Linear l => PeftFactorLayout.Linear(l.InFeatures, l.OutFeatures),
        Embedding e => PeftFactorLayout.EmbeddingTable(e.NumEmbeddings, e.EmbeddingDim),
        Conv2d c => PeftFactorLayout.Conv2d(c.InChannels, c.KernelSize, c.KernelSize, c.OutChannels),
        _ => null,
    };

    /// <summary>True when LoRA can adapt <paramref name="layer"/>'s type.</summary>
    public static bool CanWrap(Module layer) => LayoutOf(layer) is not null;
}
