using System.Diagnostics;

namespace Lora.Tests.Cli;

/// <summary>A run stopped by a signal (Ctrl-C, SIGTERM) ends without running finally blocks; its staging directory
/// must not be left behind.</summary>
public class CliSignalTests
{
    [Fact]
    public void ATerminatedTrainingRunLeavesNothingBehind()
    {
        if (OperatingSystem.IsWindows()) return; // POSIX signals
        string root = CliHarness.TempDir();
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet)
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "lora.dll"), "train", "--base-epochs", "1000000", "--hidden", "16", "--quiet", "--out", Path.Combine(root, "run") },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        try
        {
            // Wait until the run has created its staging directory (it trains for hours after that).
            var clock = Stopwatch.StartNew();
            while (!Directory.EnumerateDirectories(root).Any() && !process.HasExited && clock.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(50);
            Assert.False(process.HasExited, process.HasExited ? process.StandardError.ReadToEnd() : "");
            Assert.NotEmpty(Directory.EnumerateDirectories(root));
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "the run did not stop on SIGTERM");
            // Before, a hidden .run.tmp-<pid>-<guid> directory stayed in the parent.
            Assert.Empty(Directory.EnumerateFileSystemEntries(root));
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            Directory.Delete(root, true);
        }
    }
}
