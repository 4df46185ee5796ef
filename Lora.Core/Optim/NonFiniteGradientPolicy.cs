namespace Lora.Core.Optim;

/// <summary>What <see cref="Optimizer.Step"/> does when the gradients' total norm is NaN or infinite.</summary>
/// <remarks>One NaN or ∞ gradient element applied by the update turns that parameter (and, through AdamW's moments,
/// every later update of it) into NaN: the model is lost although the loss that step was finite, as when the
/// backward pass overflows. <see cref="Throw"/> and <see cref="Skip"/> look before they update.</remarks>
public enum NonFiniteGradientPolicy
{
    /// <summary>Update anyway (PyTorch's <c>clip_grad_norm_</c> with <c>error_if_nonfinite=False</c>); with
    /// clipping on, nothing is scaled. The default.</summary>
    Apply,

    /// <summary>Throw <see cref="InvalidOperationException"/> naming the step and the norm; parameters, optimizer
    /// state, gradients and <see cref="Optimizer.StepCount"/> are left as they were (PyTorch's
    /// <c>error_if_nonfinite=True</c>, which also changes nothing).</summary>
    Throw,

    /// <summary>Leave parameters, state and <see cref="Optimizer.StepCount"/> as they were and count the step in
    /// <see cref="Optimizer.SkippedSteps"/> (what PyTorch's <c>GradScaler</c> does with an overflowed step).</summary>
    Skip,
}
