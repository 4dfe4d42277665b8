namespace Wasserflow.Cli.Options;

/// <summary>Bad user input (a flag, a config file, a data file); the message names the setting as the user wrote it. Exit code 2.</summary>
public sealed class ConfigException(string message) : Exception(message);
