using Lora.Core.Data;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;

namespace Lora.Tests.Core;

/// <summary>The library example of README.md, kept compiling and meaningful (fewer epochs than the README).</summary>
public class ReadmeExampleTests
{
    [Fact]
    public void ReadmeExampleRunsAndTheMergedModelMatchesTheAdapter()
    {
        string dir = Path.Combine(Path.GetTempPath(), "lora-readme-" + Guid.NewGuid().ToString("N"));
        try
        {
            // --- as in README.md ---
            var (train, test) = DatasetSplit.Split(Digits.Load(), testFraction: 0.2, seed: 1);
            var model = new Mlp([64, 256, 256, 10], seed: 1);
            var pretrain = TrainableSlots.AdamW(model, LearningRateSchedule.Constant(1e-3), weightDecay: 0);
            new Trainer(model, pretrain, new TrainerOptions { Epochs = 3 }).Fit(train, test);

            var (rotatedTrain, rotatedTest) = (ImageTransforms.Rotate90(train), ImageTransforms.Rotate90(test));
            LoraReport report = model.ApplyLora(new LoraConfig { R = 8, Alpha = 16, TargetModules = ["layers.0"] });
            var adapt = TrainableSlots.AdamW(model, LearningRateSchedule.Constant(1e-2), weightDecay: 0);
            new Trainer(model, adapt, new TrainerOptions { Epochs = 3 }).Fit(rotatedTrain, rotatedTest);

            LoraAdapterFiles.Save(model, Path.Combine(dir, "adapter"));
            double adapted = Trainer.Evaluate(model, rotatedTest).Accuracy;
            Mlp merged = model.MergeAndUnload();
            ModelFiles.Save(merged, Path.Combine(dir, "merged"));
            // --- end of the README example ---

            Assert.Equal(8 * 64 + 256 * 8, report.TrainableParameters);
            Assert.True(File.Exists(Path.Combine(dir, "adapter", "adapter_model.safetensors")));
            Assert.Empty(ModelFiles.Load(Path.Combine(dir, "merged")).LoraLayers());
            Assert.Equal(adapted, Trainer.Evaluate(merged, rotatedTest).Accuracy, 2);
            Assert.True(adapted > 0.5, $"three LoRA epochs should lift rotated accuracy well above chance, got {adapted}");
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
