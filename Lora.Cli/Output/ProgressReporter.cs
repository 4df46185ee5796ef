using System.Diagnostics;
using System.Globalization;

namespace Lora.Cli.Output;

/// <summary>How progress is shown: a redrawn bar on a terminal, plain lines when redirected, or nothing.</summary>
internal enum ProgressStyle { None, Lines, Bar }

/// <summary>
/// Draws training progress on stderr: on a terminal one line redrawn in place with a bar, the epoch, loss and
/// samples/s; when redirected one plain line per epoch; nothing when quiet.
/// </summary>
internal sealed class ProgressReporter(TextWriter stderr, ProgressStyle style)
{
    const int BarWidth = 24;
    readonly Stopwatch _clock = new();
    string _phase = "";
    int _epochs;
    bool _midLine;

    public static ProgressStyle Detect(bool quiet) =>
        quiet ? ProgressStyle.None : Console.IsErrorRedirected ? ProgressStyle.Lines : ProgressStyle.Bar;

    /// <summary>Ends a bar left mid-line, so that an error written next starts on a line of its own.</summary>
    public void Abort()
    {
        if (_midLine) stderr.WriteLine();
        _midLine = false;
    }

    public void BeginPhase(string phase, int epochs)
    {
        _phase = phase;
        _epochs = epochs;
        _clock.Restart();
    }

    /// <summary>Within an epoch: <paramref name="done"/> of <paramref name="total"/> samples seen so far.</summary>
    public void Batch(int epoch, long done, long total, double loss)
    {
        if (style != ProgressStyle.Bar || total <= 0) return;
        int filled = (int)(BarWidth * Math.Clamp(done / (double)total, 0, 1));
        double rate = done / Math.Max(_clock.Elapsed.TotalSeconds, 1e-9);
        stderr.Write(string.Create(CultureInfo.InvariantCulture,
            $"\r{_phase,-10} epoch {epoch,3}/{_epochs} [{new string('#', filled)}{new string('.', BarWidth - filled)}] loss {loss,8:0.0000}  {rate,9:0} samples/s "));
        _midLine = true;
    }

    public void EpochEnd(int epoch, double loss, double? accuracy, double samplesPerSecond)
    {
        if (style == ProgressStyle.None) return;
        string acc = accuracy is double a ? string.Create(CultureInfo.InvariantCulture, $"  acc {a * 100,6:0.00}%") : "";
        string line = string.Create(CultureInfo.InvariantCulture,
            $"{_phase,-10} epoch {epoch,3}/{_epochs}  loss {loss,8:0.0000}{acc}  {samplesPerSecond,9:0} samples/s");
        stderr.WriteLine(style == ProgressStyle.Bar ? "\r" + line + new string(' ', 8) : line);
        _midLine = false;
        _clock.Restart();
    }
}
