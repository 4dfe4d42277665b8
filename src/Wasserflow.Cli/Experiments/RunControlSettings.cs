using Wasserflow.Parameters;

namespace Wasserflow.Experiments;

/// <summary>How a command treats its output folder and checkpoints (none of it changes the results).</summary>
public sealed record RunControlSettings
{
    /// <summary>Replace an existing output folder.</summary>
    [Parameter("replace an existing output folder (and discard the checkpoints of an interrupted run)", Recorded = false)]
    public bool Overwrite { get; init; }

    /// <summary>Continue an interrupted or cancelled run from its checkpoints.</summary>
    [Parameter("continue an interrupted or cancelled run of the same settings from its checkpoints (bit for bit the numbers of an uninterrupted run)", Recorded = false)]
    public bool Resume { get; init; }

    /// <summary>Checkpoint every this many iterations (0: by time only).</summary>
    [Parameter("write a checkpoint every k iterations (0: by time only)", Minimum = 0, Recorded = false)]
    public long CheckpointEvery { get; init; }

    /// <summary>Checkpoint every this many seconds (0: by count only).</summary>
    [Parameter("write a checkpoint every this many seconds of running (0: by count only)", Minimum = 0, Maximum = 86400, Recorded = false)]
    public double CheckpointSeconds { get; init; } = 10;
}
