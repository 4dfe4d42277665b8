using Wasserflow.Families;
using Wasserflow.Flows;
using Wasserflow.Parameters;
using Wasserflow.Targets;

namespace Wasserflow.Experiments;

/// <summary>The polyhedral dictionaries of <c>rovi</c>, by name.</summary>
public sealed class DictionaryKinds : INamedChoices
{
    /// <inheritdoc/>
    public static string Noun => "dictionary";

    /// <inheritdoc/>
    public static IReadOnlyList<NamedChoice> Choices { get; } =
    [
        new("q40s", "40 Gaussian-quantile ramps + midpoint steps"), new("q40", "ramps only"),
        new("u29", "[18]'s uniform ramps"), new("u29s", "uniform ramps + steps"),
    ];

    /// <summary>The dictionary called <paramref name="name"/> (one of <see cref="Choices"/>).</summary>
    public static PolyhedralDictionary Create(string name) => name switch
    {
        "q40" => PolyhedralDictionary.GaussianQuantile(steps: false),
        "u29" => PolyhedralDictionary.Uniform(),
        "u29s" => PolyhedralDictionary.Uniform(steps: true),
        _ => PolyhedralDictionary.GaussianQuantile(),
    };
}

/// <summary>
/// The settings of <c>wasserflow rovi</c> besides the target: polyhedral MFVI or rotational VI (paper 003). Defaults are
/// the library's (<see cref="RotationalViOptions"/>, spec §6).
/// </summary>
public sealed record RoviSettings
{
    private static readonly RotationalViOptions Library = new();

    /// <summary>Polyhedral MFVI: keep the rotation at O = I.</summary>
    [Parameter("polyhedral MFVI: keep the rotation at O = I")]
    public bool MeanField { get; init; }

    /// <summary>Independent restarts; the lowest F̂ is reported.</summary>
    [Parameter("independent restarts; the lowest F̂ is reported", Alias = "-r", Minimum = 1, Maximum = 10_000)]
    public int Restarts { get; init; } = Library.Restarts;

    /// <summary>Iteration cap T.</summary>
    [Parameter("iteration cap T (the window rule may stop earlier)", Minimum = 1)]
    public int Iterations { get; init; } = Library.MaxIterations;

    /// <summary>Stop each restart by the window rule.</summary>
    [Parameter("stop a restart when the window rule says it has converged")]
    public bool EarlyStop { get; init; } = Library.StopEarly;

    /// <summary>Monte Carlo draws N per iteration.</summary>
    [Parameter("Monte Carlo draws N per iteration", Minimum = 2, Maximum = 10_000_000)]
    public int Batch { get; init; } = Library.BatchSize;

    /// <summary>τ of the forward–backward step and of v.</summary>
    [Parameter("τ of the forward–backward step and of v", Minimum = 0, ExclusiveMinimum = true)]
    public double StepSize { get; init; } = Library.StepSize;

    /// <summary>η_O, the rotation's step.</summary>
    [Parameter("η_O, the rotation's step", Minimum = 0, ExclusiveMinimum = true)]
    public double RotationStep { get; init; } = Library.RotationStepSize;

    /// <summary>The dictionary of every coordinate's map.</summary>
    [Parameter("the dictionary of every coordinate's map", Choices = typeof(DictionaryKinds))]
    public string Dictionary { get; init; } = "q40s";

    /// <summary>Initial offsets v₀ ~ N(0, s²I).</summary>
    [Parameter("initial offsets v₀ ~ N(0, s²I)", Minimum = 0)]
    public double InitSpread { get; init; } = Library.InitialSpread;

    /// <summary>Centre of rotation c (d numbers), z = c + O·T(x).</summary>
    [Parameter("centre of rotation c, d numbers: z = c + O·T(x), restarts start around it; a rough guess of the target's mean helps", DefaultText = "the origin")]
    public double[]? InitCenter { get; init; }

    /// <summary>Slope s₀ of the initial maps.</summary>
    [Parameter("slope s₀ of the initial maps, μ₀ = N(O v₀, s₀²I) (5 makes multimodal fits far more reliable, docs/experiments.md)", Minimum = 0, ExclusiveMinimum = true)]
    public double InitScale { get; init; } = Library.InitialScale;

    /// <summary>Start from short Langevin chains.</summary>
    [Parameter("start from short Langevin chains: their mean as the centre, their principal directions as the first rotation, with --init-spread 0 and --init-scale 5 unless given (ours; docs/experiments.md)")]
    public bool LangevinStart { get; init; }

    /// <summary>Seed of the run.</summary>
    [Parameter("seed of the run")]
    public ulong Seed { get; init; } = Library.Seed;

    /// <summary>Restarts run at once.</summary>
    [Parameter("restarts run at once (results do not depend on it)", Minimum = 1, Recorded = false)]
    public int Threads { get; init; } = Library.Threads;

    /// <summary>Output folder.</summary>
    [Parameter("output folder", Alias = "-o", Recorded = false)]
    public string Output { get; init; } = "runs/rovi";

    /// <summary>
    /// The library's options for <paramref name="target"/>; with <see cref="LangevinStart"/> the centre and first rotation
    /// come from short Langevin chains, and the spread and scale become 0 and 5 unless <paramref name="given"/> says the
    /// user set them.
    /// </summary>
    /// <exception cref="InvalidParameterException">A setting does not fit the target, or two settings contradict.</exception>
    public RotationalViOptions ToOptions(ITarget target, Func<string, bool> given)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(given);
        ParameterRecords.Validate(this);
        if (InitCenter is { } center && center.Length != target.Dimension)
            throw new InvalidParameterException(nameof(InitCenter), $"needs {target.Dimension} finite numbers (the target's dimension), got {center.Length}");
        var options = new RotationalViOptions
        {
            Dictionary = DictionaryKinds.Create(Dictionary),
            Rotate = !MeanField,
            Restarts = Restarts,
            MaxIterations = Iterations,
            StopEarly = EarlyStop,
            BatchSize = Batch,
            StepSize = StepSize,
            RotationStepSize = RotationStep,
            InitialSpread = InitSpread,
            InitialScale = InitScale,
            InitialCenter = InitCenter,
            Seed = Seed,
            Threads = Threads,
        };
        if (!LangevinStart) return options;
        if (given(nameof(InitCenter))) throw new InvalidParameterException(nameof(LangevinStart), "sets the centre itself; drop the centre of rotation");
        var (startCenter, startRotation) = RotationalVi.LangevinStart(target, Randomness.Xoshiro256StarStar.Mix(Seed, 99), threads: Threads);
        return options with
        {
            InitialCenter = startCenter,
            InitialRotation = options.Rotate ? startRotation : null,
            InitialSpread = given(nameof(InitSpread)) ? InitSpread : 0,
            InitialScale = given(nameof(InitScale)) ? InitScale : 5,
        };
    }
}
