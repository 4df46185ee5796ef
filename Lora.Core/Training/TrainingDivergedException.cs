using System.Globalization;

namespace Lora.Core.Training;

/// <summary>
/// Thrown by <see cref="Trainer"/> at the first training step whose loss is NaN or infinite, when
/// <see cref="TrainerOptions.StopOnNonFiniteLoss"/> is on (the default). That step's backward pass and optimizer
/// update are not run, so the parameters are those the previous step left.
/// </summary>
/// <remarks>A diverged run cannot recover: one NaN in the loss puts NaN into every gradient and, through the
/// optimizer, into every trainable parameter. Stopping at once keeps the last parameters that gave a finite loss
/// (they may still hold infinities if a gradient overflowed while the loss did not) and says where it happened.</remarks>
public sealed class TrainingDivergedException : InvalidOperationException
{
    /// <summary>The divergence at step <paramref name="step"/> of epoch <paramref name="epoch"/> (both 1-based; 0 when
    /// the step was a <see cref="Trainer.Step"/> call outside <see cref="Trainer.Fit"/>), with the loss it computed and,
    /// optionally, the name of the run it belongs to (such as "full fine-tuning").</summary>
    public TrainingDivergedException(int epoch, int step, float loss, string? phase = null, Exception? inner = null)
        : base(Describe(epoch, step, loss, phase), inner)
    {
        Epoch = epoch;
        Step = step;
        Loss = loss;
        Phase = phase;
    }

    /// <summary>The epoch of the step that diverged (1-based; 0 for a <see cref="Trainer.Step"/> call).</summary>
    public int Epoch { get; }

    /// <summary>The step within its epoch (1-based; 0 for a <see cref="Trainer.Step"/> call).</summary>
    public int Step { get; }

    /// <summary>The loss that step computed: NaN or ±∞.</summary>
    public float Loss { get; }

    /// <summary>The name of the run, when a caller added one with <see cref="WithPhase"/>; otherwise null.</summary>
    public string? Phase { get; }

    /// <summary>The same divergence, attributed to <paramref name="phase"/> (this exception becomes the inner one).</summary>
    public TrainingDivergedException WithPhase(string phase) => new(Epoch, Step, Loss, phase, this);

    static string Describe(int epoch, int step, float loss, string? phase)
    {
        string value = float.IsNaN(loss) ? "NaN" : loss > 0 ? "+∞" : "−∞";
        string where = epoch > 0 ? string.Create(CultureInfo.InvariantCulture, $" at epoch {epoch}, step {step}") : "";
        return $"{phase ?? "training"} diverged{where}: the loss is {value}. That step's update was not applied; lower the learning rate or clip the gradients.";
    }
}
