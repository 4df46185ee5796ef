namespace Lora.Bench;

/// <summary>The fast benchmark mode: <c>quick &lt;suite&gt; [--threads N] [--json]</c>.</summary>
internal static class QuickMode
{
    public static int Run(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine("usage: quick <suite> [--threads N] [--json]");
            return 2;
        }
        if (args[0] == "autograd") return AutogradQuick.Run(args[1..]);
        if (args[0] == "mlp") return MlpQuick.Run(args[1..]);
        if (args[0] == "lora") return QuickLora.Run(args[1..]);
        if (args[0] == "gemm") return QuickGemm.Run(args[1..]);
        if (args[0] == "embedding") return QuickEmbedding.Run(args[1..]);
        if (args[0] == "conv") return QuickConv.Run(args[1..]);
        if (args[0] == "dora") return QuickDora.Run(args[1..]);
        if (args[0] == "rnn") return QuickRnn.Run(args[1..]);
        Console.Error.WriteLine($"quick: unknown suite '{args[0]}'.");
        return 2;
    }
}
