namespace Lora.Cli;

internal static class Program
{
    static int Main(string[] args)
    {
        Console.Error.WriteLine("lora: the CLI is not built yet; see README.md.");
        return 2;
    }
}
