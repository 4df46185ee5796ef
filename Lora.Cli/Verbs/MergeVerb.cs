using System.Security.Cryptography;
using Lora.Cli.Output;
using Lora.Core.IO;
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
        the base. An existing output directory needs --force; the output may not be (or hold) --base or --adapter.
        The written model.safetensors records the SHA-256 of each adapter_model.safetensors merged into it (metadata
        key lora_merged_adapters), and merging an adapter into a model that already records it is refused: it would
        add the adapter's delta a second time.

        """;

    /// <summary>The metadata key listing the SHA-256 (hex) of every adapter weights file merged into a model.</summary>
    public const string MergedKey = "lora_merged_adapters";

    public static int Run(IReadOnlyList<string> args, TextWriter stdout)
    {
        var o = CliOptions.Parse("merge", args, ["base", "adapter", "out"], ["force"]);
        if (o.Positionals.Count > 0) throw new UsageException($"merge: unexpected argument '{o.Positionals[0]}'.");
        string baseDir = o.RequiredString("merge", "base"), adapterDir = o.RequiredString("merge", "adapter"), outDir = o.RequiredString("merge", "out");
        var model = ModelFiles.Load(baseDir);
        LoraAdapterFiles.Load(model, adapterDir);
        // Identify the adapter by its weights file's bytes, so a copy under another directory is still recognised.
        string hash;
        using (var weights = File.OpenRead(Path.Combine(adapterDir, PeftAdapter.WeightsFileName))) hash = Convert.ToHexStringLower(SHA256.HashData(weights));
        var baseMetadata = SafeTensors.ReadHeader(Path.Combine(baseDir, ModelCheckpoint.WeightsFileName)).Metadata;
        var recorded = baseMetadata.GetValueOrDefault(MergedKey, "").Split(',', StringSplitOptions.RemoveEmptyEntries);
        if (recorded.Contains(hash))
            throw new UsageException($"merge: {adapterDir} is already merged into {baseDir} (its {ModelCheckpoint.WeightsFileName} records adapter sha256 {hash[..12]}…); merging it again would add its delta twice.");
        using var output = AtomicDirectory.Create(outDir, o.Flag("force"), baseDir, adapterDir);
        int layers = model.LoraLayers().Count();
        var merged = model.MergeAndUnload();
        var metadata = new Dictionary<string, string> { [MergedKey] = string.Join(",", recorded.Append(hash)) };
        if (baseMetadata.TryGetValue(TrainVerb.SeedKey, out var seed)) metadata[TrainVerb.SeedKey] = seed; // eval's held-out split
        ModelFiles.Save(merged, output.Staging, metadata);
        output.Commit();
        stdout.WriteLine($"merged {layers} adapted layer(s) of {adapterDir} into {baseDir}: wrote {Path.GetFullPath(outDir)}");
        return CliApp.Ok;
    }
}
