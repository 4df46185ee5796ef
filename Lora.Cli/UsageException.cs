namespace Lora.Cli;

/// <summary>Bad command-line usage or bad input the user can fix: reported as one line on stderr, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
