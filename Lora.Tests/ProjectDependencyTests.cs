using System.Xml.Linq;

namespace Lora.Tests;

/// <summary>The library floors stay dependency-free and point down only.</summary>
public class ProjectDependencyTests
{
    static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Lora.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Lora.sln not found above " + AppContext.BaseDirectory);
    }

    static XDocument Project(string name) => XDocument.Load(Path.Combine(RepoRoot(), name, name + ".csproj"));

    [Theory]
    [InlineData("Lora.Kernels")]
    [InlineData("Lora.Autograd")]
    [InlineData("Lora.Core")]
    public void LibraryProjectsReferenceNoPackage(string name)
    {
        var refs = Project(name).Descendants("PackageReference").Select(e => (string?)e.Attribute("Include")).ToList();
        Assert.True(refs.Count == 0, $"{name} references packages: {string.Join(", ", refs)}");
    }

    [Theory]
    [InlineData("Lora.Kernels", new string[0])]
    [InlineData("Lora.Autograd", new[] { "Lora.Kernels" })]
    [InlineData("Lora.Core", new[] { "Lora.Autograd" })]
    public void DependenciesPointDown(string name, string[] allowed)
    {
        var refs = Project(name).Descendants("ProjectReference")
            .Select(e => Path.GetFileNameWithoutExtension(((string?)e.Attribute("Include") ?? "").Replace('\\', '/')))
            .ToList();
        Assert.Equal(allowed.OrderBy(s => s), refs.OrderBy(s => s));
    }
}
