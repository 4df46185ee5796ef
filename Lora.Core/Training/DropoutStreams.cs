using Lora.Core.Lora;
using Lora.Core.Modules;

namespace Lora.Core.Training;

/// <summary>Positions every dropout mask sequence of a model (its <see cref="Dropout"/> modules and its LoRA adapters'
/// input dropout) at the start of each epoch, so that the masks of epoch e depend on (seed, e) and not on how many
/// forward passes ran before: a run resumed at <see cref="TrainerOptions.FirstEpoch"/> in a fresh model then draws the
/// masks the uninterrupted run drew (the sequences used to restart at 0 in the fresh model).</summary>
/// <remarks>Epoch e's masks are those at call numbers e·2³² and on, so epochs never share a mask while fewer than 2³²
/// forward passes run per epoch. Collected once per <see cref="Trainer.Fit"/>, so a step allocates nothing.</remarks>
internal sealed class DropoutStreams(Module model)
{
    readonly Dropout[] _dropouts = [.. model.NamedModules().Select(m => m.Module).OfType<Dropout>(),
        .. model.NamedModules().Select(m => m.Module).OfType<Mlp>().SelectMany(m => m.Dropouts)];
    readonly LoraAdapter[] _adapters = [.. model.LoraLayers().SelectMany(l => l.Layer.Adapters)];

    /// <summary>Moves every sequence to the start of epoch <paramref name="epoch"/>'s range.</summary>
    public void StartEpoch(int epoch)
    {
        ulong start = (ulong)epoch << 32;
        foreach (var d in _dropouts) d.Position = start;
        foreach (var a in _adapters) a.Calls = start;
    }
}
