using System.Reflection;

namespace Lora.Cli;

/// <summary>
/// The <c>lora</c> command: dispatches a verb and maps failures to exit codes — 2 with one line on stderr for
/// anything the user can fix (bad options, missing or corrupt files), 1 for unexpected failures.
/// </summary>
internal static class CliApp
{
    public const int Ok = 0, Unexpected = 1, BadInput = 2;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        try
        {
            if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
            {
                stdout.Write(HelpText.Main);
                return args.Length == 0 ? BadInput : Ok;
            }
            if (args[0] is "--version" or "-V")
            {
                stdout.WriteLine($"lora {Version}");
                return Ok;
            }
            string verb = args[0];
            var rest = args[1..];
            if (rest.Contains("--help") || rest.Contains("-h"))
            {
                stdout.Write(HelpText.ForVerb(verb) ?? throw new UsageException($"unknown command '{verb}' (see 'lora --help')."));
                return Ok;
            }
            return verb switch
            {
                "inspect" => Verbs.InspectVerb.Run(rest, stdout),
                "train" => Verbs.TrainVerb.Run(rest, stdout, stderr),
                "merge" => Verbs.MergeVerb.Run(rest, stdout),
                "eval" => Verbs.EvalVerb.Run(rest, stdout),
                _ => throw new UsageException($"unknown command '{verb}' (see 'lora --help')."),
            };
        }
        catch (Exception e) when (IsUserError(e))
        {
            stderr.WriteLine($"lora: {OneLine(UserMessage(e))}");
            return BadInput;
        }
        catch (Exception e)
        {
            stderr.WriteLine($"lora: unexpected failure: {e.GetType().Name}: {OneLine(e.Message)}");
            return Unexpected;
        }
    }

    /// <summary>Failures caused by the user's options or files, as opposed to bugs.</summary>
    static bool IsUserError(Exception e) => e is UsageException or InvalidDataException or FileNotFoundException
        or DirectoryNotFoundException or UnauthorizedAccessException or ArgumentException;

    /// <summary>The message without the " (Parameter 'config')" that ArgumentException appends: a library parameter
    /// name means nothing to someone typing options.</summary>
    static string UserMessage(Exception e) =>
        e is ArgumentException { ParamName: { } name } a ? a.Message.Replace($" (Parameter '{name}')", "") : e.Message;

    static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();

    public static string Version =>
        typeof(CliApp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";
}
