using System.Globalization;
using Wasserflow.Data;
using Wasserflow.Flows;
using Wasserflow.Randomness;

namespace Wasserflow.Running;

/// <summary>
/// Everything a run needs to continue exactly where it stopped: the flow state (parameters, counters, RNG position),
/// the KL trace so far, the iteration the run ends at, the stop rule's record, the spread it started from (for the
/// divergence checks) and the time spent so far. <see cref="VariationalRunner.Run{TState}"/> writes one to its
/// <see cref="CheckpointSlot"/> and resumes from it.
/// </summary>
/// <param name="State">The state after the last finished step.</param>
/// <param name="Trace">The KL estimates so far.</param>
/// <param name="End">The iteration the run ends at.</param>
/// <param name="Finished">How the run ended, when it did (a finished run resumes to its result at once); null while running.</param>
/// <param name="StopRuleRecord">The stop rule's own record (<see cref="IPersistentStopRule"/>); empty without one.</param>
/// <param name="InitialSpread">The state's <see cref="IFlowState{TSelf}.Spread"/> at iteration 0 of the run.</param>
/// <param name="StepSeconds">Seconds of stepping so far.</param>
/// <param name="TraceSeconds">Seconds of KL estimates so far.</param>
public sealed record RunCheckpoint<TState>(TState State, IReadOnlyList<TracePoint> Trace, long End, RunStatus? Finished,
    IReadOnlyList<double> StopRuleRecord, double InitialSpread, double StepSeconds, double TraceSeconds)
    where TState : IFlowState<TState>
{
    /// <summary>The fit's moments at the last trace point (<see cref="IFlowState{TSelf}.Moments"/>), from which the next
    /// point's parameter change is measured; empty when there are none.</summary>
    public IReadOnlyList<double> TracedMoments { get; init; } = [];
}

/// <summary>A stop rule whose record can be saved in a checkpoint and restored, so a resumed run stops where an uninterrupted one would.</summary>
public interface IPersistentStopRule : IStopRule
{
    /// <summary>The rule's record as numbers.</summary>
    IReadOnlyList<double> Save();

    /// <summary>Replaces the rule's record with one returned by <see cref="Save"/>.</summary>
    void Restore(IReadOnlyList<double> record);
}

/// <summary>
/// A folder of run checkpoints and when to write them: every <see cref="EveryIterations"/> iterations (0: not by count)
/// or every <see cref="EverySeconds"/> seconds of running (0: not by time), whichever comes first, and always when a run
/// ends or is cancelled. Each checkpoint is written to a temporary file and renamed into place, so a kill at any moment
/// leaves either the previous checkpoint or the new one, never half of one.
/// </summary>
public sealed class CheckpointStore
{
    private const string Magic = "wasserflow-run-checkpoint";
    private const int Version = 3; // 2: Gaussian particle states carry an optimiser's memory; 3: trace points' parameter change and the traced moments

    /// <summary>A store in <paramref name="folder"/> (created when the first checkpoint is written).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A negative interval.</exception>
    public CheckpointStore(string folder, long everyIterations = 0, double everySeconds = 10)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentOutOfRangeException.ThrowIfNegative(everyIterations);
        if (!(everySeconds >= 0)) throw new ArgumentOutOfRangeException(nameof(everySeconds), everySeconds, "must be ≥ 0");
        Folder = folder;
        EveryIterations = everyIterations;
        EverySeconds = everySeconds;
    }

    /// <summary>The folder.</summary>
    public string Folder { get; }

    /// <summary>Write a checkpoint every this many iterations (0: not by count).</summary>
    public long EveryIterations { get; }

    /// <summary>Write a checkpoint every this many seconds of running (0: not by time).</summary>
    public double EverySeconds { get; }

    /// <summary>The prefix of every slot name of this store ("" for none; see <see cref="WithPrefix"/>).</summary>
    public string Prefix { get; private init; } = "";

    /// <summary>The slot named <paramref name="name"/> (one per run: "run", "restart-3", …), after the store's <see cref="Prefix"/>.</summary>
    public CheckpointSlot Slot(string name) => new(this, Prefix + name);

    /// <summary>
    /// The same folder and schedule with every slot name prefixed, so that several runs that each name their slots
    /// "restart-0", "restart-1", … (one <see cref="Flows.RotationalVi.Fit"/> per setting) share one folder.
    /// </summary>
    public CheckpointStore WithPrefix(string prefix) => new(Folder, EveryIterations, EverySeconds) { Prefix = Prefix + prefix };

    /// <summary>The file of the checkpoint named <paramref name="name"/>.</summary>
    public string PathOf(string name) => Path.Combine(Folder, name + ".ckpt");

    internal bool Due(long iterationsSinceLast, double secondsSinceLast) =>
        (EveryIterations > 0 && iterationsSinceLast >= EveryIterations) || (EverySeconds > 0 && secondsSinceLast >= EverySeconds);

    /// <summary>Writes <paramref name="checkpoint"/> under <paramref name="name"/>, atomically.</summary>
    /// <exception cref="IOException">The folder cannot be written.</exception>
    public void Save<TState>(string name, RunCheckpoint<TState> checkpoint) where TState : IFlowState<TState>
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        Directory.CreateDirectory(Folder);
        string path = PathOf(name), temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write))
        using (var w = new BinaryWriter(stream))
        {
            w.Write(Magic);
            w.Write(Version);
            w.Write(typeof(TState).Name);
            checkpoint.State.Write(w);
            w.Write(checkpoint.Trace.Count);
            foreach (var p in checkpoint.Trace)
            {
                w.Write(p.Iteration);
                w.Write(p.Kl);
                w.Write(p.StandardError);
                w.Write(p.Seconds);
                w.Write(p.ParameterChange);
            }
            w.Write(checkpoint.End);
            w.Write(checkpoint.Finished is { } f ? (int)f : -1);
            WriteDoubles(w, [.. checkpoint.StopRuleRecord]);
            w.Write(checkpoint.InitialSpread);
            w.Write(checkpoint.StepSeconds);
            w.Write(checkpoint.TraceSeconds);
            WriteDoubles(w, [.. checkpoint.TracedMoments]);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The checkpoint named <paramref name="name"/>, or null when there is none.</summary>
    /// <exception cref="DataFormatException">The file is not a checkpoint of this kind of run; the message names it.</exception>
    public RunCheckpoint<TState>? Load<TState>(string name) where TState : IFlowState<TState>
    {
        string path = PathOf(name);
        if (!File.Exists(path)) return null;
        try
        {
            using var r = new BinaryReader(File.OpenRead(path));
            if (r.ReadString() != Magic) throw new DataFormatException($"{path}: not a Wasserflow run checkpoint.");
            int version = r.ReadInt32();
            if (version != Version) throw new DataFormatException($"{path}: checkpoint format {version}, this version reads {Version}.");
            string kind = r.ReadString();
            if (kind != typeof(TState).Name) throw new DataFormatException($"{path}: a checkpoint of a {kind}, not of a {typeof(TState).Name}.");
            TState state = TState.Read(r);
            int count = r.ReadInt32();
            if (count < 0) throw new DataFormatException($"{path}: corrupt trace length {count}.");
            var trace = new List<TracePoint>(count);
            for (int i = 0; i < count; i++) trace.Add(new TracePoint(r.ReadInt64(), r.ReadDouble(), r.ReadDouble(), r.ReadDouble(), r.ReadDouble()));
            long end = r.ReadInt64();
            int finished = r.ReadInt32();
            double[] record = ReadDoubles(r);
            double initialSpread = r.ReadDouble(), stepSeconds = r.ReadDouble(), traceSeconds = r.ReadDouble();
            return new RunCheckpoint<TState>(state, trace, end, finished < 0 ? null : (RunStatus)finished, record, initialSpread, stepSeconds, traceSeconds)
            {
                TracedMoments = ReadDoubles(r),
            };
        }
        catch (EndOfStreamException)
        {
            throw new DataFormatException($"{path}: truncated checkpoint.");
        }
        catch (ArgumentException ex)
        {
            throw new DataFormatException($"{path}: corrupt checkpoint ({ex.Message}).");
        }
    }

    /// <summary>Writes a length-prefixed array of doubles (their exact bits).</summary>
    public static void WriteDoubles(BinaryWriter writer, ReadOnlySpan<double> values)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(values.Length);
        foreach (double v in values) writer.Write(v);
    }

    /// <summary>Reads an array written by <see cref="WriteDoubles"/>.</summary>
    /// <exception cref="DataFormatException">A negative or implausible length.</exception>
    public static double[] ReadDoubles(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        int n = reader.ReadInt32();
        long remaining = reader.BaseStream.Length - reader.BaseStream.Position;
        if (n < 0 || 8L * n > remaining)
            throw new DataFormatException(string.Create(CultureInfo.InvariantCulture, $"checkpoint array of {n} numbers does not fit in the {remaining} bytes left"));
        var values = new double[n];
        for (int i = 0; i < n; i++) values[i] = reader.ReadDouble();
        return values;
    }

    /// <summary>Writes a generator's position.</summary>
    public static void WriteRng(BinaryWriter writer, Xoshiro256StarStar rng)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(rng);
        foreach (ulong s in rng.GetState()) writer.Write(s);
    }

    /// <summary>Reads a generator written by <see cref="WriteRng"/>.</summary>
    public static Xoshiro256StarStar ReadRng(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return Xoshiro256StarStar.FromState([reader.ReadUInt64(), reader.ReadUInt64(), reader.ReadUInt64(), reader.ReadUInt64()]);
    }
}

/// <summary>One run's checkpoint in a <see cref="CheckpointStore"/>.</summary>
/// <param name="Store">The store.</param>
/// <param name="Name">The run's name in it.</param>
public sealed record CheckpointSlot(CheckpointStore Store, string Name)
{
    /// <summary>The checkpoint's file.</summary>
    public string Path => Store.PathOf(Name);
}
