namespace Lora.Autograd;

/// <summary>
/// Arrays by power-of-two size class, rented and returned by one thread's tape. After the first training step every
/// rent of a later step finds an array returned by the previous step's reset, so the steady state allocates nothing.
/// </summary>
internal sealed class BufferPool
{
    const int MinBucket = 4; // 16 elements
    readonly Stack<float[]>?[] _floats = new Stack<float[]>?[32];
    readonly Stack<int[]>?[] _ints = new Stack<int[]>?[32];

    /// <summary>Bytes currently held by the pool (rented or idle) – for diagnostics.</summary>
    public long AllocatedBytes { get; private set; }

    static int Bucket(int length)
    {
        int b = length <= 1 ? 0 : 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)(length - 1));
        return Math.Max(b, MinBucket);
    }

    /// <summary>An array of at least <paramref name="length"/> elements with unspecified contents.</summary>
    public float[] RentFloats(int length)
    {
        int b = Bucket(length);
        var stack = _floats[b];
        if (stack is { Count: > 0 }) return stack.Pop();
        AllocatedBytes += (1L << b) * sizeof(float);
        return new float[1 << b];
    }

    public void Return(float[] array)
    {
        int b = Bucket(array.Length);
        (_floats[b] ??= new Stack<float[]>()).Push(array);
    }

    /// <summary>Drops every idle array so the garbage collector can reclaim it.</summary>
    public void Clear()
    {
        for (int b = 0; b < _floats.Length; b++)
        {
            if (_floats[b] is { } f) { AllocatedBytes -= f.Count * (1L << b) * sizeof(float); f.Clear(); f.TrimExcess(); }
            if (_ints[b] is { } i) { AllocatedBytes -= i.Count * (1L << b) * sizeof(int); i.Clear(); i.TrimExcess(); }
        }
    }

    public int[] RentInts(int length)
    {
        int b = Bucket(length);
        var stack = _ints[b];
        if (stack is { Count: > 0 }) return stack.Pop();
        AllocatedBytes += (1L << b) * sizeof(int);
        return new int[1 << b];
    }

    public void Return(int[] array)
    {
        int b = Bucket(array.Length);
        (_ints[b] ??= new Stack<int[]>()).Push(array);
    }
}
