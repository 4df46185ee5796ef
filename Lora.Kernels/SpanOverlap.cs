using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Lora.Kernels;

/// <summary>
/// O(1) aliasing checks for kernels whose outputs must not share memory with what they read: a kernel that writes
/// one row (or one GEMM tile) before it has read everything it needs would otherwise return a silently wrong result.
/// </summary>
/// <remarks>Two spans overlap when their address ranges intersect; empty spans overlap nothing. Only addresses are
/// compared, so each check costs a subtraction and two comparisons and allocates nothing (the message is formatted
/// only when it throws).</remarks>
internal static class SpanOverlap
{
    /// <summary>Whether <paramref name="a"/> and <paramref name="b"/> share at least one element.</summary>
    public static bool Overlaps(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.IsEmpty || b.IsEmpty) return false;
        long bytes = Unsafe.ByteOffset(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b)); // b0 − a0
        return bytes < (long)a.Length * sizeof(float) && -bytes < (long)b.Length * sizeof(float);
    }

    /// <summary>Throws unless <paramref name="output"/> and <paramref name="input"/> are disjoint.</summary>
    public static void Disjoint(string kernel, string outName, ReadOnlySpan<float> output, string inName, ReadOnlySpan<float> input)
    {
        if (Overlaps(output, input))
            throw new ArgumentException($"{kernel}: {outName} ({output.Length} elements) overlaps {inName} ({input.Length} elements); " +
                "an output must not share memory with another operand.", outName);
    }

    /// <summary>Throws unless <paramref name="output"/> is disjoint from every one of up to seven other spans, named in
    /// order by <paramref name="names"/> ("x|w|a", split only to word the error).</summary>
    public static void DisjointFromAll(string kernel, string name, ReadOnlySpan<float> output, string names,
        ReadOnlySpan<float> s0, ReadOnlySpan<float> s1 = default, ReadOnlySpan<float> s2 = default, ReadOnlySpan<float> s3 = default,
        ReadOnlySpan<float> s4 = default, ReadOnlySpan<float> s5 = default, ReadOnlySpan<float> s6 = default)
    {
        if (output.IsEmpty) return;
        int hit = Overlaps(output, s0) ? 0 : Overlaps(output, s1) ? 1 : Overlaps(output, s2) ? 2 : Overlaps(output, s3) ? 3
            : Overlaps(output, s4) ? 4 : Overlaps(output, s5) ? 5 : Overlaps(output, s6) ? 6 : -1;
        if (hit < 0) return;
        string[] split = names.Split('|');
        string other = hit < split.Length ? split[hit] : $"operand {hit}";
        int length = hit switch { 0 => s0.Length, 1 => s1.Length, 2 => s2.Length, 3 => s3.Length, 4 => s4.Length, 5 => s5.Length, _ => s6.Length };
        throw new ArgumentException($"{kernel}: {name} ({output.Length} elements) overlaps {other} ({length} elements); an output must not share memory with another operand.", name);
    }

    /// <summary>Throws unless <paramref name="output"/> is <paramref name="input"/> itself (the kernel works in place)
    /// or disjoint from it.</summary>
    public static void SameOrDisjoint(string kernel, string outName, ReadOnlySpan<float> output, string inName, ReadOnlySpan<float> input)
    {
        if (Overlaps(output, input) && !(output.Length == input.Length
            && Unsafe.AreSame(ref MemoryMarshal.GetReference(output), ref MemoryMarshal.GetReference(input))))
            throw new ArgumentException($"{kernel}: {outName} ({output.Length} elements) partly overlaps {inName} ({input.Length} elements); " +
                "it must be the very same span (in place) or not overlap it.", outName);
    }
}
