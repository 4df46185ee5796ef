using System.Runtime.InteropServices;

namespace Lora.Cli.Output;

/// <summary>
/// An output directory that appears all at once: everything is written into a hidden sibling staging directory,
/// which is renamed onto the final path only when <see cref="Commit"/> is called. Disposing without committing
/// deletes the staging directory, so a failed run leaves nothing partial on disk — nor does Ctrl-C or a SIGTERM, which
/// end the process without running finally blocks (they left a hidden <c>.run.tmp-…</c> directory behind).
/// </summary>
internal sealed class AtomicDirectory : IDisposable
{
    readonly string _final;
    readonly bool _force;
    readonly object _gate = new(); // a signal handler and Commit must not both act on the staging directory
    readonly PosixSignalRegistration[] _signals;
    bool _committed;

    AtomicDirectory(string final, string staging, bool force)
    {
        _final = final;
        Staging = staging;
        _force = force;
        // The handler runs before the default action (termination), which it does not cancel.
        _signals = OperatingSystem.IsWindows() ? [] : [.. new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM,
            PosixSignal.SIGQUIT, PosixSignal.SIGHUP }
            .Select(s => PosixSignalRegistration.Create(s, _ => DeleteStaging()))];
    }

    /// <summary>Where to write; becomes the final directory on commit.</summary>
    public string Staging { get; }

    /// <summary>Refuses an existing non-empty directory unless <paramref name="force"/>, and a path that is or holds one
    /// of <paramref name="inputs"/> (replacing it would delete what the run reads, even with --force); creates the
    /// staging directory.</summary>
    public static AtomicDirectory Create(string path, bool force, params string?[] inputs)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new UsageException("the output directory path is empty.");
        string final = Path.GetFullPath(path);
        foreach (var input in inputs)
            if (input is not null && Holds(final, Path.GetFullPath(input)))
                throw new UsageException($"{path} {(SamePath(final, Path.GetFullPath(input)) ? "is" : "holds")} the input {input}; writing the output there would replace it (choose another output directory).");
        if (File.Exists(final)) throw new UsageException($"{path} exists and is a file.");
        if (Directory.Exists(final) && Directory.EnumerateFileSystemEntries(final).Any() && !force)
            throw new UsageException($"{path} already exists; use --force to replace it.");
        string parent = Path.GetDirectoryName(final) ?? throw new UsageException($"{path} has no parent directory.");
        string staging = Path.Combine(parent, $".{Path.GetFileName(final)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        var result = new AtomicDirectory(final, staging, force); // signal handlers first: a signal may come at once
        try
        {
            Directory.CreateDirectory(parent);
            Directory.CreateDirectory(staging);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            result.Dispose();
            // e.g. a parent that is a file (an IOException, which would report an unexpected failure) or a read-only place
            throw new UsageException($"{path}: cannot create the output directory in {parent}: {e.Message}");
        }
        return result;
    }

    static bool SamePath(string a, string b) =>
        string.Equals(Path.TrimEndingDirectorySeparator(a), Path.TrimEndingDirectorySeparator(b), StringComparison.Ordinal);

    /// <summary>True when <paramref name="input"/> is <paramref name="directory"/> or lies inside it.</summary>
    static bool Holds(string directory, string input)
    {
        string d = Path.TrimEndingDirectorySeparator(directory), i = Path.TrimEndingDirectorySeparator(input);
        return SamePath(d, i) || i.StartsWith(d + Path.DirectorySeparatorChar, StringComparison.Ordinal) || d == Path.GetPathRoot(d);
    }

    /// <summary>Moves the staging directory onto the final path (replacing an old one when forced).</summary>
    public void Commit()
    {
        lock (_gate) // a Ctrl-C now waits for the rename instead of deleting the staging directory under it
        {
            string? old = null;
            if (Directory.Exists(_final))
            {
                if (!_force && Directory.EnumerateFileSystemEntries(_final).Any())
                    throw new UsageException($"{_final} appeared while writing; use --force to replace it.");
                old = _final + $".old-{Guid.NewGuid():N}";
                Directory.Move(_final, old);
            }
            Directory.Move(Staging, _final);
            _committed = true;
            if (old != null) Directory.Delete(old, recursive: true);
        }
    }

    public void Dispose()
    {
        foreach (var s in _signals) s.Dispose();
        DeleteStaging();
    }

    void DeleteStaging()
    {
        lock (_gate)
        {
            try
            {
                if (!_committed && Directory.Exists(Staging)) Directory.Delete(Staging, recursive: true);
            }
            catch (IOException) { } // best effort: a file being written may still be open
            catch (UnauthorizedAccessException) { }
        }
    }
}
