using Lora.Core.Data;
using Lora.Core.Modules;

namespace Lora.Tests.Core.Training;

/// <summary>Small seeded classification sets for the training tests.</summary>
internal static class TrainingTestData
{
    /// <summary><paramref name="count"/> samples of standard Gaussian features, sample i of class i mod
    /// <paramref name="classes"/>; feature f of a class-c sample is moved by <paramref name="shift"/> when
    /// f mod classes = c (0: pure noise, nothing to learn).</summary>
    public static Dataset Gaussian(int count, int features, int classes, ulong seed, double shift = 0)
    {
        var rng = new SeededRandom(seed);
        var x = new float[count * features];
        var y = new int[count];
        for (int i = 0; i < count; i++)
        {
            y[i] = i % classes;
            for (int f = 0; f < features; f++) x[i * features + f] = (float)(rng.NextGaussian() + (f % classes == y[i] ? shift : 0));
        }
        return new Dataset("gauss", x, y, features, classes);
    }
}
