using Lora.Autograd;
using Lora.Core.Modules;

namespace Lora.Tests.Core.Lora;

internal static class LoraTestUtil
{
    public const double Eps = 1.0 / (1 << 24);

    public static float[] Random(int n, ulong seed, double std = 1)
    {
        var a = new float[n];
        new SeededRandom(seed).FillGaussian(a, std);
        return a;
    }

    /// <summary>Forward without recording, returning a copy of the output.</summary>
    public static float[] Run(Module m, float[] x, int rows)
    {
        Tape.Current.Reset();
        using (Tape.NoGrad())
        {
            var y = m.Forward(new Tensor(x, new Shape(rows, x.Length / rows)));
            var result = y.ToArray();
            Tape.Current.Reset();
            return result;
        }
    }

    public static Dictionary<string, float[]> Snapshot(Module m) =>
        m.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.ToArray());

    /// <summary>Asserts that <paramref name="loaded"/> holds <paramref name="original"/>'s parameters (names in order,
    /// bits, frozen flags) and computes the same output on a random batch of 5 rows of <paramref name="inFeatures"/>.</summary>
    public static void AssertSameModel(Module original, Module loaded, int inFeatures)
    {
        Assert.Equal(original.NamedParameters().Select(p => p.Name), loaded.NamedParameters().Select(p => p.Name));
        var expected = Snapshot(original);
        foreach (var (name, p) in loaded.NamedParameters())
        {
            Assert.Equal(expected[name], p.ToArray());
            Assert.Equal(original.NamedParameters().First(q => q.Name == name).Parameter.Frozen, p.Frozen);
        }
        var x = Random(5 * inFeatures, 3);
        Assert.Equal(Run(original.Eval(), x, 5), Run(loaded.Eval(), x, 5));
    }
}
