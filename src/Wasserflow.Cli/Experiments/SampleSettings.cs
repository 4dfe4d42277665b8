using Wasserflow.Parameters;
using Wasserflow.Sampling;

namespace Wasserflow.Experiments;

/// <summary>The metrics NUTS adapts.</summary>
public sealed class MetricKinds : INamedChoices
{
    /// <inheritdoc/>
    public static string Noun => "metric";

    /// <inheritdoc/>
    public static IReadOnlyList<NamedChoice> Choices { get; } =
    [
        new("diag", "diagonal inverse metric: the posterior variances (Stan's default)"),
        new("dense", "dense inverse metric: the posterior covariance (strong correlations; O(d²) per leapfrog step)"),
    ];
}

/// <summary>The settings of <c>wasserflow sample</c> besides the target: Stan's NUTS defaults.</summary>
public sealed record SampleSettings
{
    /// <summary>Chains.</summary>
    [Parameter("chains (each on its own random stream)", Minimum = 1, Maximum = 1000)]
    public int Chains { get; init; } = 4;

    /// <summary>Warmup iterations per chain.</summary>
    [Parameter("warmup iterations per chain (adaptation; not kept)", Minimum = 0, Maximum = 10_000_000)]
    public int Warmup { get; init; } = 1000;

    /// <summary>Kept iterations per chain.</summary>
    [Parameter("kept draws per chain", Minimum = 4, Maximum = 10_000_000)]
    public int Draws { get; init; } = 1000;

    /// <summary>Maximum tree depth.</summary>
    [Parameter("maximum tree depth (at most 2^depth leapfrog steps per iteration)", Minimum = 1, Maximum = 30)]
    public int MaxDepth { get; init; } = 10;

    /// <summary>Target acceptance of dual averaging.</summary>
    [Parameter("target mean acceptance δ of the step-size adaptation", Minimum = 0.01, Maximum = 0.999)]
    public double AdaptDelta { get; init; } = 0.8;

    /// <summary>Diagonal or dense metric.</summary>
    [Parameter("the metric adapted in warmup", Choices = typeof(MetricKinds))]
    public string Metric { get; init; } = "diag";

    /// <summary>Random starts uniform in [−r, r]^d (unconstrained).</summary>
    [Parameter("chains start uniform in [-r, r]^d on the unconstrained scale", Minimum = 0)]
    public double InitRadius { get; init; } = 2;

    /// <summary>Seed.</summary>
    [Parameter("seed of the run (chain c uses stream c)")]
    public ulong Seed { get; init; }

    /// <summary>Chains run at once.</summary>
    [Parameter("chains run at once (results do not depend on it)", Minimum = 1, Recorded = false)]
    public int Threads { get; init; } = Math.Max(1, Math.Min(4, Environment.ProcessorCount));

    /// <summary>Output folder.</summary>
    [Parameter("output folder", Alias = "-o", Recorded = false)]
    public string Output { get; init; } = "runs/sample";

    /// <summary>Replace an existing output folder.</summary>
    [Parameter("replace an existing output folder", Recorded = false)]
    public bool Overwrite { get; init; }

    /// <summary>The sampler's options.</summary>
    public NutsOptions ToOptions() => new()
    {
        Chains = Chains,
        Warmup = Warmup,
        Draws = Draws,
        MaxTreeDepth = MaxDepth,
        TargetAcceptance = AdaptDelta,
        DenseMetric = Metric == "dense",
        InitRadius = InitRadius,
        Seed = Seed,
        Threads = Threads,
    };

    /// <summary>Checks every range and the output folder.</summary>
    /// <exception cref="InvalidParameterException">The first bad setting.</exception>
    public void Validate()
    {
        ParameterRecords.Validate(this);
        if (string.IsNullOrWhiteSpace(Output)) throw new InvalidParameterException(nameof(Output), "the output folder is empty");
    }
}
