using Lora.Core.IO;

namespace Lora.Core.Modules;

/// <summary>A model that a <c>config.json</c> describes completely, so <see cref="ModelFiles"/> can save it and build
/// it again: its base parameters (looking through LoRA wrappers) are exactly <see cref="IModelConfig.ExpectedTensors"/>.</summary>
public interface IConfiguredModel
{
    /// <summary>The architecture.</summary>
    IModelConfig Config { get; }
}
