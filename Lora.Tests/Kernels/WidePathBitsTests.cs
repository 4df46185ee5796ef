using Lora.Kernels;
using static Lora.Tests.Kernels.LoraOracle;

namespace Lora.Tests.Kernels;

/// <summary>
/// Session 13's paths that must not change a bit: the small-batch path's AVX-512 tiles against its AVX2 tiles, and
/// the prefetch of the next panels of a pre-packed W (on both the 12×32 and the 6×16 path) against none. Each runs a
/// fused LoRA layer forward and backward both ways, compares bit for bit, and checks the result against the double
/// oracle. Without AVX-512 the AVX-512 runs take the AVX2 path, and the comparisons still hold.
/// </summary>
[Collection(nameof(MacroKernelSwitches))]
public class WidePathBitsTests
{
    [Theory]
    [InlineData(40, 600, 8, false)]
    [InlineData(33, 257, 4, true)]
    public void SmallBatchesGiveTheSameBitsWithAndWithoutTheAvx512Tiles(int d, int k, int r, bool prefetch)
    {
        // Every batch size of the small-batch path: groups of six, two full groups at once, the 1–3 rows left over
        // with their even/odd chains, stretches of 256 with a short last one, a partial last panel, and (prefetch)
        // the W prefetch, which must not change a bit either.
        Assert.Equal(MicroKernel.UseAvx512, LoraSmallBatch.Wide);
        foreach (int n in new[] { 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 15, 16 })
        {
            var lc = new LoraCase(n, d, k, r, 0.75f, bias: true, seed: 20 + n);
            (float[] H, float[] Y, LoraCase.Grads G) Run(bool useWide)
            {
                (float[] H, float[] Y, LoraCase.Grads G) result = default;
                long saved = LoraSmallBatch.PrefetchMinBytes;
                MacroKernelSwitches.WithSmallBatchWide(useWide, () =>
                {
                    if (prefetch) LoraSmallBatch.PrefetchMinBytes = 0;
                    try
                    {
                        var (h, y) = lc.Forward();
                        result = (h, y, lc.Backward(h, accumulate: true));
                    }
                    finally { LoraSmallBatch.PrefetchMinBytes = saved; }
                });
                return result;
            }
            var narrow = Run(false);
            var wide = Run(true);
            BitwiseEqual(narrow.Y, wide.Y, $"n = {n}: y");
            BitwiseEqual(narrow.G.Dx, wide.G.Dx, $"n = {n}: dx");
            BitwiseEqual(narrow.G.DA, wide.G.DA, $"n = {n}: dA");
            BitwiseEqual(narrow.G.DB, wide.G.DB, $"n = {n}: dB");
            lc.CheckForward(wide.H, wide.Y);
            lc.CheckBackward(wide.G, wide.H, accumulate: true);
        }
    }

    [Theory]
    [InlineData(130, 100, 1200, 8, true)] // k-blocks of the pre-packed W (LongKc): the next panels' stretch is not contiguous
    [InlineData(200, 64, 300, 4, true)]   // more than eight tile calls per pair of panels
    [InlineData(96, 70, 64, 16, true)]    // a single panel after the pairs: nothing to prefetch for the last pair
    [InlineData(30, 100, 1200, 8, true)]  // under 96 rows: two calls per pair, each prefetching a whole panel
    [InlineData(20, 70, 300, 4, true)]    // one call per pair: only the next pair's first panel
    [InlineData(130, 100, 1200, 8, false)] // the 6×16 path (every CPU with AVX2)
    [InlineData(50, 40, 300, 4, false)]
    public void PrefetchingTheNextPanelsChangesNoBits(int n, int d, int k, int r, bool wide)
    {
        Assert.True(GemmMacroKernel.NextPanels);
        var lc = new LoraCase(n, d, k, r, 0.75f, bias: true, seed: 12);
        (float[] H, float[] Y, LoraCase.Grads G) Run(bool next)
        {
            (float[] H, float[] Y, LoraCase.Grads G) result = default;
            MacroKernelSwitches.WithWide(wide, () =>
            {
                GemmMacroKernel.NextPanels = next;
                try
                {
                    var (h, y) = lc.Forward();
                    result = (h, y, lc.Backward(h, accumulate: false));
                }
                finally { GemmMacroKernel.NextPanels = true; }
            });
            return result;
        }
        var off = Run(false);
        var on = Run(true);
        BitwiseEqual(off.Y, on.Y, "y");
        BitwiseEqual(off.G.Dx, on.G.Dx, "dx");
        lc.CheckForward(on.H, on.Y);
        lc.CheckBackward(on.G, on.H, accumulate: false);
    }
}
