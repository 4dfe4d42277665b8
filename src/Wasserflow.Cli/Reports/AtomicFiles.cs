using System.Text;

namespace Wasserflow.Reports;

/// <summary>
/// Writes a set of result files so that an interrupted run never leaves a half-written one: everything is written into
/// a staging folder beside the destination, then each file is moved into place with an atomic rename.
/// </summary>
public static class AtomicFiles
{
    /// <summary>Writes <paramref name="files"/> (relative path → UTF-8 text) into <paramref name="directory"/>.</summary>
    /// <exception cref="IOException">The folder cannot be created or written; the message names it.</exception>
    public static void WriteAll(string directory, IReadOnlyDictionary<string, string> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        string full = Path.GetFullPath(directory);
        Directory.CreateDirectory(full);
        string staging = Path.Combine(full, ".staging-" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Directory.CreateDirectory(staging);
        try
        {
            foreach (var (name, text) in files)
            {
                string path = Path.Combine(staging, name);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllText(path, text, new UTF8Encoding(false));
            }
            foreach (var name in files.Keys)
            {
                string destination = Path.Combine(full, name);
                Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
                File.Move(Path.Combine(staging, name), destination, overwrite: true);
            }
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>Checks that <paramref name="directory"/> can be created and written, without leaving anything behind but the folder.</summary>
    /// <exception cref="IOException">It cannot; the message names the folder and the reason.</exception>
    public static void EnsureWritable(string directory)
    {
        string full = Path.GetFullPath(directory);
        try
        {
            if (File.Exists(full)) throw new IOException("it is a file");
            Directory.CreateDirectory(full);
            string probe = Path.Combine(full, ".write-probe-" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"output folder '{directory}' is not writable: {ex.Message}", ex);
        }
    }
}
