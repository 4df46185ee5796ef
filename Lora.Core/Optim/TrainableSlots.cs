using Lora.Core.Lora;
using Lora.Core.Modules;

namespace Lora.Core.Optim;

/// <summary>Builds optimizer slots from a model's trainable (not frozen) parameters, with LoRA+ learning rates.</summary>
/// <remarks>
/// LoRA+ (Hayou, Ghosh, Yu 2024) trains B with a learning rate <c>ratio</c> times A's; ratio = 1 is plain LoRA.
/// The ratio applies to what PEFT's <c>create_loraplus_optimizer</c> puts in B's group: every parameter whose name holds
/// <c>lora_B</c> (Linear and convolution layers) and every one-dimensional trainable parameter — DoRA magnitudes of
/// Linear and embedding layers, and trained biases (<c>bias</c> = all or lora_only, modules_to_save copies). PEFT's
/// test is the tensor's rank, so a convolution's DoRA magnitude, stored (1, out, 1, 1), keeps the base rate as there.
/// An embedding's factors (<c>lora_embedding_A</c>/<c>_B</c>) keep the base rate too, as in PEFT: there A starts at
/// zero and B random, the reverse of the setting LoRA+'s analysis covers.
/// Frozen parameters get no slot, so no gradient storage and no optimizer state exist for them.
/// </remarks>
public static class TrainableSlots
{
    /// <summary>One slot per trainable parameter of <paramref name="model"/>, in model order.</summary>
    /// <param name="loraPlusRatio">Learning-rate factor for LoRA B matrices (<c>….lora_B.*</c>) and one-dimensional
    /// parameters (PEFT's LoRA+ groups, see the remarks), finite and positive.</param>
    /// <param name="decayBiases">Whether weight decay applies to biases (PyTorch applies it to all parameters by default).</param>
    /// <exception cref="ArgumentException">A bad ratio, or no trainable parameter.</exception>
    public static IReadOnlyList<OptimizerSlot> From(Module model, double loraPlusRatio = 1, bool decayBiases = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!(double.IsFinite(loraPlusRatio) && loraPlusRatio > 0))
            throw new ArgumentException($"LoRA+ ratio {loraPlusRatio} must be finite and positive.", nameof(loraPlusRatio));
        var slots = new List<OptimizerSlot>();
        foreach (var (name, p) in model.TrainableParameters())
        {
            // PEFT's LoRA+ rule: "lora_B" in the name, or a one-dimensional tensor (a magnitude, a bias).
            bool isB = name.Contains("lora_B", StringComparison.Ordinal) || p.Shape.Rank == 1;
            bool isBias = name == "bias" || name.EndsWith(".bias", StringComparison.Ordinal);
            slots.Add(new OptimizerSlot(p, isB ? (float)loraPlusRatio : 1f, decayBiases || !isBias));
        }
        if (slots.Count == 0) throw new ArgumentException("The model has no trainable parameter: everything is frozen (disabled adapters are frozen too; EnableAdapters turns them back on).", nameof(model));
        return slots;
    }

    /// <summary>AdamW over the trainable parameters of <paramref name="model"/> (LoRA+ when ratio ≠ 1).</summary>
    public static AdamW AdamW(Module model, LearningRateSchedule schedule, double weightDecay = 0.01, double loraPlusRatio = 1,
        double? maxGradNorm = null, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8) =>
        new(From(model, loraPlusRatio), schedule, beta1, beta2, eps, weightDecay, maxGradNorm);

    /// <summary>SGD over the trainable parameters of <paramref name="model"/> (LoRA+ when ratio ≠ 1).</summary>
    public static Sgd Sgd(Module model, LearningRateSchedule schedule, double momentum = 0, double weightDecay = 0,
        bool nesterov = false, double loraPlusRatio = 1, double? maxGradNorm = null) =>
        new(From(model, loraPlusRatio), schedule, momentum, weightDecay, nesterov, maxGradNorm);

    /// <summary>True for a LoRA factor (A or B) name.</summary>
    public static bool IsLoraFactor(string name) => LoraModel.IsLoraParameter(name);
}
