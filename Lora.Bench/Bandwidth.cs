using System.Runtime.Intrinsics;
using Lora.Kernels;

namespace Lora.Bench;

/// <summary>
/// The machine's sustainable read bandwidth, measured the way a bandwidth-bound kernel reads: a streaming sum
/// over a 256 MB buffer (8× the 32 MB L3, so every pass comes from DRAM) as four concurrent streams per thread,
/// 8 independent AVX accumulators so the adds never limit, on 1 thread or split in contiguous halves over the worker pool. Reported as the best pass
/// (GB/s = 10⁹ bytes/s) on the clock quick mode uses; the figure n = 1 LoRA forwards are compared with.
/// </summary>
internal static unsafe class Bandwidth
{
    const long Bytes = 256L << 20;
    static float[]? s_buffer;
    static float s_sink;

    struct Job { public float* Data; public long Count; public fixed float Sums[64]; }

    /// <summary>Best-of-<paramref name="passes"/> read bandwidth in GB/s on <see cref="KernelThreads.Count"/> threads.</summary>
    public static double Measure(Func<double> clockMs, int passes = 7)
    {
        s_buffer ??= GC.AllocateUninitializedArray<float>((int)(Bytes / sizeof(float)), pinned: true);
        s_buffer.AsSpan().Fill(1f); // touch every page
        double best = 0;
        fixed (float* p = s_buffer)
        {
            var job = new Job { Data = p, Count = s_buffer.Length };
            int parts = Math.Min(64, KernelThreads.Count);
            for (int i = 0; i < passes; i++)
            {
                double t0 = clockMs();
                WorkerPool.Run(&Part, &job, parts);
                double seconds = (clockMs() - t0) / 1e3;
                best = Math.Max(best, Bytes / seconds / 1e9);
                for (int j = 0; j < parts; j++) s_sink += job.Sums[j];
            }
        }
        return best;
    }

    static void Part(void* state, int part, int parts)
    {
        // Each thread reads its contiguous share as four concurrent streams (quarters), as the n = 1 LoRA kernel
        // reads four packed panels at once: one stream alone leaves DRAM bandwidth unused on this machine.
        var job = (Job*)state;
        long blocks = job->Count / 64;
        long b0 = blocks * part / parts, b1 = blocks * (part + 1) / parts, quarter = (b1 - b0) / 4;
        float* p0 = job->Data + b0 * 64, end = p0 + quarter * 64;
        nint q = (nint)(quarter * 64);
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
        for (float* p = p0; p < end; p += 16)
        {
            s0 += Vector256.Load(p); s1 += Vector256.Load(p + 8);
            s2 += Vector256.Load(p + q); s3 += Vector256.Load(p + q + 8);
            s4 += Vector256.Load(p + 2 * q); s5 += Vector256.Load(p + 2 * q + 8);
            s6 += Vector256.Load(p + 3 * q); s7 += Vector256.Load(p + 3 * q + 8);
        }
        job->Sums[part] = Vector256.Sum(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)));
    }
}
