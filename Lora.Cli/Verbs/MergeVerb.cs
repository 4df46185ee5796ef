using Lora.Cli.Output;
using Lora.Core.Lora;
using Lora.Core.Modules;

namespace Lora.Cli.Verbs;

/// <summary><c>lora merge</c>: W' = W + s·B·A for every adapted layer, written as a plain model in base/'s layout.</summary>
internal static class MergeVerb
{
    public const string Help = """
        usage: lora merge --base DIR --adapter DIR --out DIR [--force]

        Loads a base model (config.json + model.safetensors) and a PEFT-layout adapter, merges the adapter into the
        weights (W' = W + s·B·A) and writes a plain model whose outputs equal base + adapter, in the same layout as
        the base. An existing output directory needs --force.

        """;

    public static int Run(IReadOnlyList<string> args, TextWriter stdout)
    {
        var o = CliOptions.Parse("merge", args, ["base", "adapter", "out"], ["force"]);
        if (o.Positionals.Count > 0) throw new UsageException($"merge: unexpected argument '{o.Positionals[0]}'.");
        string baseDir = o.RequiredString("merge", "base"), adapterDir = o.RequiredString("merge", "adapter"), outDir = o.RequiredString("merge", "out");
        using var output = AtomicDirectory.Create(outDir, o.Flag("force"));
        var model = ModelFiles.Load(baseDir);
        LoraAdapterFiles.Load(model, adapterDir);
        int layers = model.LoraLayers().Count();
        var merged = model.MergeAndUnload();
        ModelFiles.Save(merged, output.Staging);
        output.Commit();
        stdout.WriteLine($"merged {layers} adapted layer(s) of {adapterDir} into {baseDir}: wrote {Path.GetFullPath(outDir)}");
        return CliApp.Ok;
    }
}
