namespace Lora.Autograd;

/// <summary>
/// Arrays by power-of-two size class, rented and returned by one thread's tape. After the first training step every
/// rent of a later step finds an array returned by the previous step's reset, so the steady state allocates nothing.
/// </summary>
/// <remarks>Arrays above 2^<see cref="MaxPooledBucket"/> elements are not pooled: their power-of-two class would
/// not fit an int (2^31), so they are allocated at their exact length and dropped on return; such a tensor (over
/// 4 GB) costs an allocation per step. A length .NET cannot allocate (over <see cref="Array.MaxLength"/>) is an
/// <see cref="ArgumentException"/> naming it, where it was an <see cref="OverflowException"/> from <c>1 &lt;&lt; 31</c>.</remarks>
internal sealed class BufferPool
{
    const int MinBucket = 4; // 16 elements

    /// <summary>The largest pooled size class, 2^30 elements (lowered by a test to reach the unpooled path cheaply).</summary>
    internal static int MaxPooledBucket = 30;
    readonly Stack<float[]>?[] _floats = new Stack<float[]>?[32];
    readonly Stack<int[]>?[] _ints = new Stack<int[]>?[32];

    /// <summary>Bytes currently held by the pool (rented or idle) – for diagnostics.</summary>
    public long AllocatedBytes { get; private set; }

    static int Unpooled(int length) => length <= Array.MaxLength ? length
        : throw new ArgumentException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"A tensor of {length:N0} elements exceeds the largest array .NET allocates ({Array.MaxLength:N0} elements)."), nameof(length));

    static int Bucket(int length)
    {
        int b = length <= 1 ? 0 : 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)(length - 1));
        return Math.Max(b, MinBucket);
    }

    /// <summary>An array of at least <paramref name="length"/> elements with unspecified contents.</summary>
    public float[] RentFloats(int length)
    {
        int b = Bucket(length);
        if (b > MaxPooledBucket) return new float[Unpooled(length)];
        var stack = _floats[b];
        if (stack is { Count: > 0 }) return stack.Pop();
        AllocatedBytes += (1L << b) * sizeof(float);
        return new float[1 << b];
    }

    public void Return(float[] array)
    {
        int b = Bucket(array.Length);
        if (b > MaxPooledBucket) return; // unpooled: left to the garbage collector
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
        if (b > MaxPooledBucket) return new int[Unpooled(length)];
        var stack = _ints[b];
        if (stack is { Count: > 0 }) return stack.Pop();
        AllocatedBytes += (1L << b) * sizeof(int);
        return new int[1 << b];
    }

    public void Return(int[] array)
    {
        int b = Bucket(array.Length);
        if (b > MaxPooledBucket) return;
        (_ints[b] ??= new Stack<int[]>()).Push(array);
    }
}
