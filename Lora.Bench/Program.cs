using BenchmarkDotNet.Running;

namespace Lora.Bench;

internal static class Program
{
    static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "quick")
            return QuickMode.Run(args[1..]);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
