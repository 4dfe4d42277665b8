using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Orleans.Placement;
using Orleans.Runtime;

namespace Wasserflow.Sweeps;

/// <summary>What a silo is asked to run: the command line, the run's folder and where the sweep keeps its status and logs.</summary>
/// <param name="Args">The command line (with -o folder), without --resume / --overwrite (the grain adds the right one).</param>
/// <param name="Folder">The run's output folder.</param>
/// <param name="Root">The sweep's output root (status/ and logs/ live there).</param>
[GenerateSerializer, Immutable, Alias("Wasserflow.RunRequest")]
public sealed record RunRequest([property: Id(0)] string[] Args, [property: Id(1)] string Folder, [property: Id(2)] string Root);

/// <summary>Where a run stands.</summary>
/// <param name="Phase">pending, queued (waiting for one of its silo's slots), running, done or failed.</param>
/// <param name="Silo">The silo running (or that ran) it.</param>
/// <param name="Message">A failure's message (the command's error line).</param>
/// <param name="Attempt">How many times a silo started it (1 when it ran once, more when it moved).</param>
/// <param name="Resumed">Whether the latest attempt continued from checkpoints.</param>
[GenerateSerializer, Immutable, Alias("Wasserflow.RunState")]
public sealed record RunState([property: Id(0)] string Phase, [property: Id(1)] string? Silo, [property: Id(2)] string? Message,
    [property: Id(3)] int Attempt, [property: Id(4)] bool Resumed)
{
    /// <summary>Done or failed.</summary>
    public bool Finished => Phase is "done" or "failed";
}

/// <summary>One run of a sweep as a grain, keyed by the run's id.</summary>
[Alias("Wasserflow.ISweepRunGrain")]
public interface ISweepRunGrain : IGrainWithStringKey
{
    /// <summary>Starts the run unless it is running or finished (idempotent); returns its state.</summary>
    [Alias("Start")]
    Task<RunState> Start(RunRequest request);

    /// <summary>The run's state.</summary>
    [Alias("Status")]
    Task<RunState> Status();
}

/// <summary>How many runs a silo executes at the same time (its cores, or --parallel).</summary>
public sealed class RunSlots(int count)
{
    /// <summary>The slots.</summary>
    public SemaphoreSlim Semaphore { get; } = new(count, count);

    /// <summary>The slot count.</summary>
    public int Count { get; } = count;
}

/// <summary>
/// Executes one run on the silo that activates it: the command runs in process on a worker thread (one of the silo's
/// <see cref="RunSlots"/>), under a lock file so two attempts never share a folder, with --resume when the command keeps
/// checkpoints (so a run that moved continues where it stopped) and --overwrite otherwise. The run's folder is written
/// atomically by the command, so a folder that exists is a finished run: a second Start reports it done without running
/// it again. Status transitions go to root/status/id.json (the store `sweep status` reads), the command's output to
/// root/logs/id.log.
/// </summary>
[ActivationCountBasedPlacement]
public sealed class SweepRunGrain(RunSlots slots, IHostApplicationLifetime lifetime, ILocalSiloDetails silo) : Grain, ISweepRunGrain
{
    private RunState _state = new("pending", null, null, 0, false);
    private Task? _work;
    private CancellationTokenSource? _stop;

    /// <inheritdoc/>
    public Task<RunState> Start(RunRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_work is { IsCompleted: false } || _state.Finished) return Task.FromResult(_state);
        if (SweepStore.IsFinished(request.Root, this.GetPrimaryKeyString(), request.Folder))
        {
            _state = SweepStore.Read(request.Root, this.GetPrimaryKeyString()) is { Finished: true } stored ? stored : new RunState("done", SiloName, null, 0, false);
            return Task.FromResult(_state);
        }
        int attempt = (SweepStore.Read(request.Root, this.GetPrimaryKeyString())?.Attempt ?? 0) + 1;
        _state = new RunState("queued", SiloName, null, attempt, false);
        _stop = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopping);
        CancellationToken token = _stop.Token;
        string id = this.GetPrimaryKeyString();
        _work = Task.Run(() => Execute(id, request, attempt, token));
        return Task.FromResult(_state);
    }

    /// <inheritdoc/>
    public Task<RunState> Status() => Task.FromResult(_state);

    /// <inheritdoc/>
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _stop?.Cancel();
        return Task.CompletedTask;
    }

    private string SiloName => silo.SiloAddress.ToParsableString();

    private void Execute(string id, RunRequest request, int attempt, CancellationToken token)
    {
        RunState state;
        try
        {
            slots.Semaphore.Wait(token);
            try
            {
                state = SweepStore.RunLocked(id, request, attempt, SiloName, token, s => _state = s);
            }
            finally
            {
                slots.Semaphore.Release();
            }
        }
        catch (OperationCanceledException)
        {
            state = _state with { Phase = "pending", Message = "stopped with its silo" };
        }
        _state = state;
    }
}

/// <summary>The sweep's files: run status (root/status/id.json), logs (root/logs/id.log), locks (root/locks/id.lock), and running one attempt.</summary>
public static class SweepStore
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>
    /// The run finished: its output folder exists (the command publishes it atomically) and either no checkpoints wait
    /// beside it or the sweep recorded it done. A cancelled run publishes its result so far and keeps its checkpoints
    /// (--resume continues it); the gm-* experiments keep theirs after finishing too, which the done record tells apart.
    /// </summary>
    public static bool IsFinished(string root, string id, string folder) =>
        Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any()
        && (!HasCheckpoints(folder) || Read(root, id) is { Phase: "done" });

    /// <summary>Checkpoints of an unfinished attempt wait in the folder's .name.partial/checkpoints.</summary>
    public static bool HasCheckpoints(string folder)
    {
        string checkpoints = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(folder))!, "." + Path.GetFileName(Path.GetFullPath(folder)) + ".partial", "checkpoints");
        return Directory.Exists(checkpoints) && Directory.EnumerateFiles(checkpoints).Any();
    }

    /// <summary>The stored state of run <paramref name="id"/>, or null when none was written.</summary>
    public static RunState? Read(string root, string id)
    {
        string path = Path.Combine(root, "status", id + ".json");
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<RunState>(File.ReadAllText(path), Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Writes the state atomically (temp file + rename).</summary>
    public static void Write(string root, string id, RunState state)
    {
        string folder = Path.Combine(root, "status");
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, id + ".json"), temporary = path + "." + Environment.ProcessId + "." + Environment.CurrentManagedThreadId + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(state, Json));
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>
    /// Runs one attempt under the run's lock file: waits for an earlier attempt that still holds it (a silo being
    /// stopped), then runs the command in process with --resume (or --overwrite when the command keeps no checkpoints).
    /// </summary>
    public static RunState RunLocked(string id, RunRequest request, int attempt, string silo, CancellationToken token, Action<RunState> report)
    {
        string locks = Path.Combine(request.Root, "locks"), logs = Path.Combine(request.Root, "logs");
        Directory.CreateDirectory(locks);
        Directory.CreateDirectory(logs);
        using FileStream handle = Lock(Path.Combine(locks, id + ".lock"), token);
        if (IsFinished(request.Root, id, request.Folder))
        {
            var finished = Read(request.Root, id) is { Finished: true } s ? s : new RunState("done", silo, null, attempt, false);
            Write(request.Root, id, finished);
            return finished;
        }
        bool resumable = Resumable(request.Args);
        bool resumed = resumable && HasCheckpoints(request.Folder);
        var running = new RunState("running", silo, null, attempt, resumed);
        Write(request.Root, id, running);
        report(running);
        using var log = new StreamWriter(Path.Combine(logs, id + ".log"), append: true) { AutoFlush = true };
        log.WriteLine($"--- attempt {attempt} on {silo}{(resumed ? ", resuming from its checkpoints" : "")}: wasserflow {string.Join(' ', request.Args)}");
        string[] args = [.. request.Args, resumable ? "--resume" : "--overwrite"];
        int code = Cli.WasserflowCli.Run(args, log, log, interactive: false, token);
        token.ThrowIfCancellationRequested();
        var end = code == 0 && Directory.Exists(request.Folder)
            ? running with { Phase = "done" }
            : running with { Phase = "failed", Message = $"exit code {code}; see logs/{id}.log" };
        Write(request.Root, id, end);
        return end;
    }

    // Whether the command takes --resume (it keeps checkpoints).
    private static bool Resumable(string[] args)
    {
        System.CommandLine.Command command = Cli.WasserflowCli.Root();
        foreach (string word in args.TakeWhile(a => !a.StartsWith('-')))
            command = command.Subcommands.FirstOrDefault(c => c.Name == word) ?? command;
        return command.Options.Any(o => o.Name == "--resume");
    }

    private static FileStream Lock(string path, CancellationToken token)
    {
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                token.WaitHandle.WaitOne(200);
                token.ThrowIfCancellationRequested();
            }
        }
    }
}
