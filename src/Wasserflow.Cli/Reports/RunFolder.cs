using System.Text;
using Wasserflow.Parameters;
using Wasserflow.Running;

namespace Wasserflow.Reports;

/// <summary>
/// Where a command's results go, published as a whole: the run works in a hidden sibling folder
/// (<c>.&lt;name&gt;.partial</c>: its checkpoints, the settings they belong to, and the files being written), and one rename
/// moves the finished files into the output folder. A kill at any moment leaves either no output folder or a complete
/// one (never half-written or mixed files), plus the checkpoints to resume from. An existing output folder is refused
/// unless the user asks to overwrite it or to resume the run it belongs to.
/// </summary>
public sealed class RunFolder
{
    private const string SettingsFile = "settings.json";
    private bool _created;

    private RunFolder(string output, string work)
    {
        Output = output;
        Work = work;
    }

    /// <summary>The output folder, as the user gave it.</summary>
    public string Output { get; }

    /// <summary>The working folder beside it (checkpoints, staging).</summary>
    public string Work { get; }

    /// <summary>The checkpoint folder inside <see cref="Work"/>.</summary>
    public string CheckpointFolder => Path.Combine(Work, "checkpoints");

    /// <summary>Whether the run was found complete (resumed after it had published its results): nothing to do.</summary>
    public bool AlreadyComplete { get; private set; }

    /// <summary>Whether this run continues from checkpoints of an earlier one.</summary>
    public bool Resuming { get; private set; }

    /// <summary>
    /// Opens the folders for a run whose recorded settings are <paramref name="settings"/> (a resumed run must have the
    /// same ones). Checks everything before creating anything.
    /// </summary>
    /// <param name="output">The output folder.</param>
    /// <param name="settings">The recorded settings (JSON text), compared on --resume.</param>
    /// <param name="overwrite">Replace an existing output folder and discard old checkpoints.</param>
    /// <param name="resume">Continue from the checkpoints of an interrupted run of the same settings.</param>
    /// <param name="checkSettings">Whether resuming requires the same settings (false where the checkpoints check their own, as the training runs do, so that a finished run can be extended).</param>
    /// <param name="outputParameter">The property that names the output folder (for messages).</param>
    /// <exception cref="InvalidParameterException">The folder exists (or holds an interrupted run) and neither flag was given, or the checkpoints belong to other settings.</exception>
    /// <exception cref="IOException">The folder cannot be written.</exception>
    public static RunFolder Open(string output, string settings, bool overwrite, bool resume, bool checkSettings = true, string outputParameter = "Output")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(output);
        ArgumentNullException.ThrowIfNull(settings);
        if (overwrite && resume) throw new InvalidParameterException("Resume", "cannot be combined with --overwrite (one continues the old run, the other discards it)");
        string full = Path.GetFullPath(output).TrimEnd(Path.DirectorySeparatorChar);
        string parent = Path.GetDirectoryName(full) ?? throw new InvalidParameterException(outputParameter, $"'{output}' has no parent folder");
        var folder = new RunFolder(output, Path.Combine(parent, "." + Path.GetFileName(full) + ".partial"));
        if (File.Exists(full)) throw new IOException($"output folder '{output}' is a file");
        bool outputExists = Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any();
        bool interrupted = Directory.Exists(folder.Work) && Directory.Exists(folder.CheckpointFolder) && Directory.EnumerateFiles(folder.CheckpointFolder).Any();
        if (resume)
        {
            if (interrupted)
            {
                string old = File.Exists(Path.Combine(folder.Work, SettingsFile)) ? File.ReadAllText(Path.Combine(folder.Work, SettingsFile)) : "";
                if (checkSettings && old != settings)
                    throw new InvalidParameterException("Resume", $"the checkpoints in '{folder.Work}' were made with other settings ({Difference(old, settings)}); run with those settings, or with --overwrite to start over");
                folder.Resuming = true;
                return folder;
            }
            if (outputExists)
            {
                folder.AlreadyComplete = true;
                return folder;
            }
        }
        else if (!overwrite && outputExists)
            throw new InvalidParameterException(outputParameter, $"'{output}' already exists; pass --overwrite to replace it{(interrupted ? " or --resume to continue the run it belongs to" : "")}");
        else if (!overwrite && interrupted)
            throw new InvalidParameterException(outputParameter, $"'{folder.Work}' holds the checkpoints of an interrupted run into '{output}': pass --resume to continue it or --overwrite to start over");
        folder.Start(settings);
        return folder;
    }

    // A fresh working folder with the settings file; nothing else is created until the run writes a checkpoint.
    private void Start(string settings)
    {
        try
        {
            if (Directory.Exists(Work)) Directory.Delete(Work, recursive: true);
            Directory.CreateDirectory(Work);
            _created = true;
            File.WriteAllText(Path.Combine(Work, SettingsFile), settings, new UTF8Encoding(false));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"output folder '{Output}' is not writable: {ex.Message}", ex);
        }
    }

    /// <summary>A checkpoint store in <see cref="CheckpointFolder"/> with the given schedule.</summary>
    public CheckpointStore Checkpoints(long everyIterations, double everySeconds) => new(CheckpointFolder, everyIterations, everySeconds);

    /// <summary>
    /// Writes <paramref name="files"/> into a staging folder and publishes them as the output folder with one rename
    /// (an existing output folder is moved aside first and removed after). Unless <paramref name="keepCheckpoints"/>,
    /// the working folder is removed afterwards.
    /// </summary>
    /// <exception cref="IOException">The folder cannot be written; the message names it.</exception>
    public void Publish(IReadOnlyDictionary<string, string> files, bool keepCheckpoints = false)
    {
        ArgumentNullException.ThrowIfNull(files);
        string full = Path.GetFullPath(Output).TrimEnd(Path.DirectorySeparatorChar);
        string staging = Path.Combine(Work, "staging"), old = Path.Combine(Work, "old");
        try
        {
            Directory.CreateDirectory(Work);
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            foreach (var (name, text) in files)
            {
                string path = Path.Combine(staging, name);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllText(path, text, new UTF8Encoding(false));
            }
            Directory.CreateDirectory(staging);
            if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
            if (Directory.Exists(full)) Directory.Move(full, old);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            Directory.Move(staging, full);
            if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
            if (!keepCheckpoints) Directory.Delete(Work, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"output folder '{Output}' could not be written: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Removes the working folder this run created when it ends without results: always when <paramref name="discardCheckpoints"/>
    /// (a run that cannot succeed on resume, such as one whose target returned NaN), otherwise only when it holds no checkpoints.
    /// </summary>
    public void Abandon(bool discardCheckpoints = false)
    {
        if (!_created || !Directory.Exists(Work)) return;
        if (!discardCheckpoints && Directory.Exists(CheckpointFolder) && Directory.EnumerateFiles(CheckpointFolder).Any()) return;
        Directory.Delete(Work, recursive: true);
    }

    // The first line where two settings texts differ, in words.
    private static string Difference(string old, string now)
    {
        string[] a = old.Split('\n'), b = now.Split('\n');
        for (int i = 0; i < Math.Max(a.Length, b.Length); i++)
        {
            string x = i < a.Length ? a[i].Trim() : "(nothing)", y = i < b.Length ? b[i].Trim() : "(nothing)";
            if (x != y) return $"checkpoint: {x.TrimEnd(',')}, now: {y.TrimEnd(',')}";
        }
        return "none";
    }
}
