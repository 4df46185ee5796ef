namespace Lora.Cli;

/// <summary>The text of <c>lora --help</c> and of each verb's <c>--help</c>.</summary>
internal static class HelpText
{
    public const string Main = """
        lora — train low-rank adapters on the CPU

        usage: lora <command> [options]

        commands:
          train     pretrain a base model (--model mlp|cnn|…), adapt it with LoRA and with full fine-tuning, report
          merge     merge an adapter into its base model
          eval      evaluate a model (optionally with an adapter) on a dataset
          inspect   list the tensors of a safetensors file, or summarise an adapter directory

        options:
          --help     this text (or 'lora <command> --help')
          --version  the version

        """;

    public static string? ForVerb(string verb) => verb switch
    {
        "inspect" => Verbs.InspectVerb.Help,
        "train" => Verbs.TrainVerb.Help,
        "merge" => Verbs.MergeVerb.Help,
        "eval" => Verbs.EvalVerb.Help,
        _ => null,
    };
}
