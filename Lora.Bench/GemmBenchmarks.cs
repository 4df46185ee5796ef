using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Filters;
using Lora.Kernels;
using MathNet.Numerics;
using MathNet.Numerics.LinearAlgebra;
using System.Numerics.Tensors;

namespace Lora.Bench;

/// <summary>
/// SGEMM C (N×N) = A·B against the baselines: a naive triple loop, MathNet.Numerics' managed provider, one
/// TensorPrimitives.Dot per element, and OpenBLAS cblas_sgemm (1 thread and all cores; the OpenBLAS rows are
/// filtered out with a one-line message when libopenblas.so.0 is absent).
/// Run: <c>dotnet run -c Release --project Lora.Bench -- --filter '*GemmBenchmarks*'</c>.
/// </summary>
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 7)]
[MemoryDiagnoser]
[OpenBlasRequired]
public class GemmBenchmarks
{
    [Params(256, 1024)]
    public int N;

    float[] _a = [], _b = [], _bt = [], _c = [];
    Matrix<float> _ma = null!, _mb = null!, _mc = null!;

    [GlobalSetup]
    public void Setup()
    {
        // The managed provider explicitly: the comparison is against managed code, never MKL.
        Control.UseManaged();
        var rng = new Random(42);
        _a = new float[N * N]; _b = new float[N * N]; _bt = new float[N * N]; _c = new float[N * N];
        for (int i = 0; i < _a.Length; i++) { _a[i] = (float)rng.NextDouble() - 0.5f; _b[i] = (float)rng.NextDouble() - 0.5f; }
        for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) _bt[j * N + i] = _b[i * N + j];
        _ma = Matrix<float>.Build.DenseOfRowMajor(N, N, _a);
        _mb = Matrix<float>.Build.DenseOfRowMajor(N, N, _b);
        _mc = Matrix<float>.Build.Dense(N, N);
    }

    [GlobalCleanup]
    public void Cleanup() => KernelThreads.Reset();

    [Benchmark(Baseline = true, Description = "Sgemm, 1 thread")]
    public void Sgemm1Thread()
    {
        KernelThreads.Count = 1;
        Gemm.Sgemm(Transpose.No, Transpose.No, N, N, N, 1f, _a, N, _b, N, 0f, _c, N);
    }

    [Benchmark(Description = "Sgemm, all cores")]
    public void SgemmAllCores()
    {
        KernelThreads.Count = Environment.ProcessorCount;
        Gemm.Sgemm(Transpose.No, Transpose.No, N, N, N, 1f, _a, N, _b, N, 0f, _c, N);
    }

    [Benchmark(Description = "naive triple loop")]
    public void Naive()
    {
        int n = N;
        float[] a = _a, b = _b, c = _c;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                float acc = 0f;
                for (int p = 0; p < n; p++) acc += a[i * n + p] * b[p * n + j];
                c[i * n + j] = acc;
            }
    }

    [Benchmark(Description = "MathNet managed")]
    public void MathNetManaged() => _ma.Multiply(_mb, _mc);

    [Benchmark(Description = "TensorPrimitives.Dot per element")]
    public void TensorPrimitivesDot()
    {
        int n = N;
        for (int i = 0; i < n; i++)
        {
            ReadOnlySpan<float> row = _a.AsSpan(i * n, n);
            for (int j = 0; j < n; j++) _c[i * n + j] = TensorPrimitives.Dot(row, _bt.AsSpan(j * n, n));
        }
    }

    [Benchmark(Description = "OpenBLAS, 1 thread"), BenchmarkCategory(OpenBlasRequiredAttribute.Category)]
    public void OpenBlas1Thread()
    {
        OpenBlas.SetThreads(1);
        OpenBlas.Sgemm(false, false, N, N, N, 1f, _a, N, _b, N, 0f, _c, N);
    }

    [Benchmark(Description = "OpenBLAS, all cores"), BenchmarkCategory(OpenBlasRequiredAttribute.Category)]
    public void OpenBlasAllCores()
    {
        OpenBlas.SetThreads(Environment.ProcessorCount);
        OpenBlas.Sgemm(false, false, N, N, N, 1f, _a, N, _b, N, 0f, _c, N);
    }
}

/// <summary>
/// Sgemm against OpenBLAS on the shapes the training step needs: NT (y = x·Wᵀ), TN (dW = dyᵀ·x) and small m.
/// </summary>
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 7)]
[OpenBlasRequired]
public class GemmShapeBenchmarks
{
    [Params("NN 1024", "NT 1024", "TN 1024", "NN 16x4096x4096", "NT 1x4096x4096")]
    public string Shape = "";

    [Params(1, 2)]
    public int Threads;

    bool _ta, _tb;
    int _m, _n, _k;
    float[] _a = [], _b = [], _c = [];

    [GlobalSetup]
    public void Setup()
    {
        string[] parts = Shape.Split(' ');
        _ta = parts[0][0] == 'T';
        _tb = parts[0][1] == 'T';
        int[] dims = parts[1].Split('x').Select(int.Parse).ToArray();
        (_m, _n, _k) = dims.Length == 1 ? (dims[0], dims[0], dims[0]) : (dims[0], dims[1], dims[2]);
        var rng = new Random(42);
        _a = new float[_m * _k]; _b = new float[_k * _n]; _c = new float[_m * _n];
        for (int i = 0; i < _a.Length; i++) _a[i] = (float)rng.NextDouble() - 0.5f;
        for (int i = 0; i < _b.Length; i++) _b[i] = (float)rng.NextDouble() - 0.5f;
        KernelThreads.Count = Threads;
        OpenBlas.SetThreads(Threads);
    }

    [GlobalCleanup]
    public void Cleanup() => KernelThreads.Reset();

    [Benchmark(Baseline = true, Description = "Sgemm")]
    public void Sgemm() => Gemm.Sgemm(_ta ? Transpose.Yes : Transpose.No, _tb ? Transpose.Yes : Transpose.No, _m, _n, _k, 1f,
        _a, _ta ? _m : _k, _b, _tb ? _k : _n, 0f, _c, _n);

    [Benchmark(Description = "OpenBLAS"), BenchmarkCategory(OpenBlasRequiredAttribute.Category)]
    public void OpenBlasSgemm() => OpenBlas.Sgemm(_ta, _tb, _m, _n, _k, 1f, _a, _ta ? _m : _k, _b, _tb ? _k : _n, 0f, _c, _n);
}

/// <summary>Drops the benchmarks in category "openblas" (with a one-line message) when libopenblas is absent.</summary>
public sealed class OpenBlasRequiredAttribute : FilterConfigBaseAttribute
{
    /// <summary>The category of benchmarks that call OpenBLAS.</summary>
    public const string Category = "openblas";

    /// <summary>Creates the filter.</summary>
    public OpenBlasRequiredAttribute() : base(new SimpleFilter(b =>
    {
        if (OpenBlas.Available && OpenBlas.GenericKernelsWarning is { } generic && Interlocked.Exchange(ref s_warned, 1) == 0)
            Console.WriteLine(generic);
        if (OpenBlas.Available || !b.Descriptor.Categories.Contains(Category)) return true;
        Warn();
        return false;
    }))
    {
    }

    static int s_warned;

    static void Warn()
    {
        if (Interlocked.Exchange(ref s_warned, 1) == 0) Console.WriteLine(OpenBlas.MissingMessage);
    }
}
