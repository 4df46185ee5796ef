using System.Globalization;
using Lora.Core.IO;
using Lora.Core.Models;

namespace Lora.Cli.Verbs;

/// <summary>
/// <c>lora inspect PATH</c>: the tensors, dtypes, shapes and metadata of a safetensors file (read from its
/// header only, so large files cost nothing), or a summary of an adapter or model directory.
/// </summary>
internal static class InspectVerb
{
    public const string Help = """
        usage: lora inspect PATH

        PATH is a .safetensors file (lists its tensors, dtypes, shapes and metadata), an adapter directory
        (adapter_config.json + adapter_model.safetensors: rank, alpha, targets and per-module shapes), or a
        model directory (config.json + model.safetensors).

        """;

    public static int Run(IReadOnlyList<string> args, TextWriter stdout)
    {
        var o = CliOptions.Parse("inspect", args, [], []);
        if (o.Positionals.Count != 1) throw new UsageException("inspect: expected exactly one PATH (see 'lora inspect --help').");
        string path = o.Positionals[0];
        if (path.Length == 0) throw new UsageException("inspect: PATH is empty.");
        if (Directory.Exists(path))
        {
            if (File.Exists(Path.Combine(path, PeftAdapter.ConfigFileName))) AdapterSummary(path, stdout);
            else if (File.Exists(Path.Combine(path, "config.json"))) ModelSummary(path, stdout);
            else throw new UsageException($"inspect: {path} holds neither {PeftAdapter.ConfigFileName} nor config.json.");
        }
        else if (File.Exists(path)) FileListing(path, stdout);
        else throw new FileNotFoundException($"{path}: no such file or directory.");
        return CliApp.Ok;
    }

    static void FileListing(string path, TextWriter stdout)
    {
        var header = SafeTensors.ReadHeader(path);
        long elements = header.Entries.Sum(e => e.ElementCount);
        stdout.WriteLine(Invariant($"{path}: {header.Entries.Count} tensors, {elements:N0} elements, {header.DataLength:N0} data bytes, header {header.HeaderLength:N0} bytes"));
        int width = Math.Max(4, header.Entries.Select(e => e.Name.Length).DefaultIfEmpty(0).Max());
        stdout.WriteLine($"  {"name".PadRight(width)}  dtype  shape");
        foreach (var e in header.Entries.OrderBy(e => e.Name, StringComparer.Ordinal))
            stdout.WriteLine($"  {e.Name.PadRight(width)}  {e.DType.ToName(),-5}  {Shape(e.Shape)}");
        if (header.Metadata.Count > 0)
        {
            stdout.WriteLine("  metadata:");
            foreach (var (k, v) in header.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
                stdout.WriteLine($"    {k} = {v}");
        }
    }

    static void AdapterSummary(string dir, TextWriter stdout)
    {
        var adapter = PeftAdapter.Load(dir);
        var c = adapter.Config;
        long parameters = adapter.Modules.Sum(m => (long)m.A.Count + m.B.Count + (m.Magnitude?.Count ?? 0)) + adapter.Biases.Values.Sum(b => (long)b.Count)
            + adapter.SavedModules.Sum(m => m.Parameters.Values.Sum(t => (long)t.Count));
        stdout.WriteLine(Invariant($"{dir}: LoRA adapter, r = {c.R}, alpha = {c.LoraAlpha}, scaling = {c.Scaling:0.####}{(c.UseRsLora ? " (rsLoRA)" : "")}{(c.UseDora ? ", DoRA" : "")}, dropout = {c.LoraDropout}, bias = {PeftAdapterConfig.BiasName(c.Bias)}"));
        stdout.WriteLine($"  target_modules: {(c.TargetModulesRegex ?? string.Join(", ", c.TargetModules))}");
        if (c.LayersToTransform.Count > 0)
            stdout.WriteLine($"  layers_to_transform: {string.Join(", ", c.LayersToTransform)}{(c.LayersPattern.Count > 0 ? $" (layers_pattern: {string.Join(", ", c.LayersPattern)})" : "")}");
        stdout.WriteLine(Invariant($"  {adapter.Modules.Count} adapted modules, {parameters:N0} parameters"));
        if (c.RankPattern.Count > 0) stdout.WriteLine($"  rank_pattern: {Show(c.RankPattern)}");
        if (c.AlphaPattern.Count > 0) stdout.WriteLine($"  alpha_pattern: {Show(c.AlphaPattern)}");
        if (c.ModulesToSave.Count > 0) stdout.WriteLine($"  modules_to_save: {string.Join(", ", c.ModulesToSave)}");
        bool perModule = c.RankPattern.Count > 0 || c.AlphaPattern.Count > 0;
        foreach (var m in adapter.Modules.OrderBy(m => m.ModulePath, StringComparer.Ordinal))
            stdout.WriteLine(perModule
                ? Invariant($"  {m.ModulePath}: A {Shape(m.A.Shape)}, B {Shape(m.B.Shape)}, r = {m.Rank}, alpha = {c.AlphaFor(m.ModulePath)}")
                : $"  {m.ModulePath}: A {Shape(m.A.Shape)}, B {Shape(m.B.Shape)}{(m.Magnitude is { } mag ? $", magnitude {Shape(mag.Shape)}" : "")}");
        foreach (var m in adapter.SavedModules)
            stdout.WriteLine($"  {m.ModulePath}: trained in full, {string.Join(", ", m.Parameters.Select(p => $"{p.Key} {Shape(p.Value.Shape)}"))}");
    }

    static void ModelSummary(string dir, TextWriter stdout)
    {
        var model = ModelCheckpoint<IModelConfig>.Load(dir, ModelTypes.ReadConfig);
        if (model.Config is ModelConfig cfg)
        {
            stdout.WriteLine($"{dir}: MLP {string.Join("-", cfg.Sizes)}, activation {ModelConfig.ActivationName(cfg.Activation)}, dropout {cfg.Dropout.ToString(CultureInfo.InvariantCulture)}");
            foreach (var (p, i, o) in cfg.Linears())
                stdout.WriteLine($"  {p}: Linear({i} → {o})");
            return;
        }
        long elements = model.Tensors.Values.Sum(t => (long)t.Count);
        stdout.WriteLine(Invariant($"{dir}: {model.Config.Summary} (model_type {model.Config.ModelType}), {model.Tensors.Count} tensors, {elements:N0} parameters"));
        foreach (var (name, shape) in model.Config.ExpectedTensors())
            stdout.WriteLine($"  {name}: {Shape(shape)}");
    }

    static string Show<T>(IEnumerable<KeyValuePair<string, T>> pattern) where T : IFormattable =>
        "{" + string.Join(", ", pattern.Select(p => $"\"{p.Key}\": {p.Value.ToString(null, CultureInfo.InvariantCulture)}")) + "}";

    static string Shape(int[] shape) => "(" + string.Join(", ", shape) + ")";

    static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
