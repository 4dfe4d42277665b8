using System.Globalization;
using System.Text.Json;
using Wasserflow.Flows;
using Wasserflow.Targets;

namespace Wasserflow.Experiments;

/// <summary>A configuration error in user input; the message names the setting (and file) at fault.</summary>
public sealed class ConfigException(string message) : Exception(message);

/// <summary>
/// Everything that defines an isotropic-mixture run: target, family size, algorithm, step size, iterations, Monte
/// Carlo sizes, initialisation, seed. Defaults are the paper's Figure 1 settings (paper 000, Table 1). The same
/// config and seed give the same numbers.
/// </summary>
public sealed record FitConfig
{
    /// <summary>The Bures–Wasserstein algorithms (paper 002): RK4 flow, Euler flow, RK4 with WFR weights, BW-SGD.</summary>
    public static readonly IReadOnlyList<string> BuresWassersteinAlgorithms = ["bw", "bw-euler", "bw-wfr", "bw-sgd"];

    /// <summary>All target names.</summary>
    public static readonly IReadOnlyList<string> TargetNames = ["gmm", "funnel", "sinh-arcsinh", "bimodal", "four-modes", "logistic"];

    /// <summary>Whether the algorithm runs full-covariance Gaussian particles (paper 002) rather than isotropic mixtures.</summary>
    public bool IsBuresWasserstein => BuresWassersteinAlgorithms.Contains(Algorithm);

    /// <summary>Target name: gmm (random mixture of Appendix E.2), funnel, sinh-arcsinh, bimodal, four-modes or logistic.</summary>
    public string Target { get; init; } = "gmm";
    /// <summary>Dimension d.</summary>
    public int Dimension { get; init; } = 2;
    /// <summary>gmm: number of target components N_tg.</summary>
    public int TargetComponents { get; init; } = 5;
    /// <summary>gmm: means uniform in [−s_tg, s_tg]^d.</summary>
    public double TargetSpread { get; init; } = 8;
    /// <summary>gmm: covariance scale r_tg.</summary>
    public double TargetScale { get; init; } = 5;
    /// <summary>gmm: covariance kind (isotropic, diagonal, full).</summary>
    public string TargetCovariance { get; init; } = "full";
    /// <summary>gmm: seed of the random target (separate from the run's seed so one target serves many runs).</summary>
    public ulong TargetSeed { get; init; } = 1;
    /// <summary>funnel: variance of the first coordinate.</summary>
    public double FunnelVariance { get; init; } = 1.2;
    /// <summary>sinh-arcsinh: the two skews.</summary>
    public double[] Skew { get; init; } = [-0.2, -0.2];
    /// <summary>logistic: number of data points n.</summary>
    public int Points { get; init; } = 10;
    /// <summary>logistic: separation s = ‖2m*‖ of the class means.</summary>
    public double Separation { get; init; } = 1.5;
    /// <summary>logistic: precision λ of the N(0, I/λ) prior; 0 is the paper's flat prior.</summary>
    public double PriorPrecision { get; init; }
    /// <summary>Bures–Wasserstein flows: expectations by "cubature" (2d points) or "mc" (Monte Carlo with B = samples draws).</summary>
    public string Expectation { get; init; } = "cubature";
    /// <summary>N, components of the variational mixture.</summary>
    public int Components { get; init; } = 5;
    /// <summary>ibw, md, gd or ngd.</summary>
    public string Algorithm { get; init; } = "ibw";
    /// <summary>γ.</summary>
    public double StepSize { get; init; } = 0.1;
    /// <summary>Iterations.</summary>
    public long Iterations { get; init; } = 10_000;
    /// <summary>B, gradient draws per component.</summary>
    public int Samples { get; init; } = 10;
    /// <summary>B_KL, draws per KL estimate.</summary>
    public int KlSamples { get; init; } = 1000;
    /// <summary>Estimate the KL every this many iterations.</summary>
    public int KlEvery { get; init; } = 100;
    /// <summary>Initial means uniform in [−s, s]^d.</summary>
    public double InitSpread { get; init; } = 15;
    /// <summary>Initial variance r of every component.</summary>
    public double InitVariance { get; init; } = 2;
    /// <summary>The run's seed (initialisation, gradient draws, KL trace).</summary>
    public ulong Seed { get; init; } = 0;
    /// <summary>Isotropic algorithms: per-component step halving on extreme draws (<see cref="IsotropicMixtureFlowOptions.StepControl"/>).</summary>
    public bool StepControl { get; init; } = true;
    /// <summary>Threads (the numbers do not depend on it).</summary>
    public int Threads { get; init; } = 1;
    /// <summary>Output folder.</summary>
    public string Output { get; init; } = "runs/fit";

    /// <summary>Config keys as written in JSON files and as CLI flags (kebab-case there).</summary>
    public static readonly IReadOnlyList<string> Keys =
    [
        "target", "dimension", "targetComponents", "targetSpread", "targetScale", "targetCovariance", "targetSeed",
        "funnelVariance", "skew", "points", "separation", "priorPrecision", "expectation", "components", "algorithm", "stepSize", "iterations", "samples", "klSamples", "klEvery",
        "initSpread", "initVariance", "stepControl", "seed", "threads", "output",
    ];

    /// <summary>Checks every setting; throws <see cref="ConfigException"/> naming the first bad one.</summary>
    public void Validate()
    {
        if (!TargetNames.Contains(Target)) Fail("target", $"unknown target '{Target}'; expected one of: {string.Join(", ", TargetNames)}");
        if (!IsotropicMixtureAlgorithms.Names.Contains(Algorithm, StringComparer.OrdinalIgnoreCase) && !IsBuresWasserstein)
            Fail("algorithm", $"unknown algorithm '{Algorithm}'; expected one of: {string.Join(", ", IsotropicMixtureAlgorithms.Names.Concat(BuresWassersteinAlgorithms))}");
        if (Target is "bimodal" or "four-modes" && Dimension != 2) Fail("dimension", $"dimension mismatch: the {Target} target is 2-D, but dimension is {Dimension}");
        if (Points < 1) Fail("points", $"must be ≥ 1, got {Points}");
        NonNegative("separation", Separation);
        NonNegative("priorPrecision", PriorPrecision);
        if (Expectation is not ("cubature" or "mc")) Fail("expectation", $"unknown expectation '{Expectation}'; expected cubature or mc");
        if (Algorithm == "bw-sgd" && Components != 1) Fail("components", $"bw-sgd fits one Gaussian; components must be 1, got {Components}");
        if (Algorithm == "bw-sgd" && Target is "funnel" or "sinh-arcsinh")
            Fail("algorithm", $"bw-sgd needs the Hessian of log pi, and the {Target} target does not provide one");
        if (Dimension < 1) Fail("dimension", $"dimension must be ≥ 1, got {Dimension}");
        if (Target == "funnel" && Dimension < 2) Fail("dimension", $"the funnel needs dimension ≥ 2, got {Dimension}");
        if (Target == "sinh-arcsinh" && Dimension != 2) Fail("dimension", $"dimension mismatch: the sinh-arcsinh target is 2-D, but dimension is {Dimension}");
        if (Target == "sinh-arcsinh" && Skew.Length != 2) Fail("skew", $"sinh-arcsinh needs 2 skews, got {Skew.Length}");
        if (TargetComponents < 1) Fail("targetComponents", $"must be ≥ 1, got {TargetComponents}");
        Positive("targetScale", TargetScale);
        NonNegative("targetSpread", TargetSpread);
        if (!Enum.TryParse<CovarianceKind>(TargetCovariance, ignoreCase: true, out _))
            Fail("targetCovariance", $"unknown covariance kind '{TargetCovariance}'; expected isotropic, diagonal or full");
        Positive("funnelVariance", FunnelVariance);
        if (Components < 1) Fail("components", $"the number of components N must be ≥ 1, got {Components}");
        Positive("stepSize", StepSize);
        if (Iterations < 0) Fail("iterations", $"must be ≥ 0, got {Iterations}");
        if (Samples < 1) Fail("samples", $"must be ≥ 1, got {Samples}");
        if (KlSamples < 1) Fail("klSamples", $"must be ≥ 1, got {KlSamples}");
        if (KlEvery < 1) Fail("klEvery", $"must be ≥ 1, got {KlEvery}");
        NonNegative("initSpread", InitSpread);
        Positive("initVariance", InitVariance);
        if (Threads < 1) Fail("threads", $"must be ≥ 1, got {Threads}");
        if (string.IsNullOrWhiteSpace(Output)) Fail("output", "the output folder is empty");
    }

    private static void Positive(string key, double v)
    {
        if (!(v > 0) || !double.IsFinite(v)) Fail(key, $"must be > 0 and finite, got {v.ToString(CultureInfo.InvariantCulture)}");
    }

    private static void NonNegative(string key, double v)
    {
        if (!(v >= 0) || !double.IsFinite(v)) Fail(key, $"must be ≥ 0 and finite, got {v.ToString(CultureInfo.InvariantCulture)}");
    }

    private static void Fail(string key, string message) => throw new ConfigException($"{key}: {message}");

    /// <summary>Builds the target this config names.</summary>
    public ITarget BuildTarget() => Target switch
    {
        "funnel" => new FunnelTarget(Dimension, FunnelVariance),
        "sinh-arcsinh" => SinhArcsinhTarget.Paper(Skew[0], Skew[1]),
        "bimodal" => GaussianMixtureTarget.Bimodal(),
        "four-modes" => GaussianMixtureTarget.FourModes(),
        "logistic" => LogisticRegressionTarget.Synthetic(new Randomness.Xoshiro256StarStar(TargetSeed), Dimension, Points, Separation,
            Dimension == 2 ? [1.0, 0.5, 0.5, 1.0] : null, PriorPrecision),
        _ => GaussianMixtureTarget.Random(new Randomness.Xoshiro256StarStar(TargetSeed), Dimension, TargetComponents,
            TargetSpread, TargetScale, Enum.Parse<CovarianceKind>(TargetCovariance, ignoreCase: true)),
    };

    /// <summary>
    /// Reads a JSON config file over <paramref name="defaults"/>. Unknown keys, wrong types and malformed JSON give a
    /// <see cref="ConfigException"/> naming the file, the key and (for syntax errors) the line.
    /// </summary>
    public static FitConfig Load(string path, FitConfig defaults)
    {
        ArgumentNullException.ThrowIfNull(defaults);
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"cannot read config '{path}': {ex.Message}");
        }
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException ex)
        {
            throw new ConfigException($"{path}: malformed JSON at line {ex.LineNumber + 1}, position {ex.BytePositionInLine + 1}");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new ConfigException($"{path}: the config must be a JSON object");
            FitConfig c = defaults;
            foreach (JsonProperty p in doc.RootElement.EnumerateObject())
            {
                try { c = c.With(p.Name, p.Value); }
                catch (Exception ex) when (ex is InvalidOperationException or FormatException)
                {
                    throw new ConfigException($"{path}: key '{p.Name}' has a value of the wrong type ({p.Value.ValueKind})");
                }
                catch (ConfigException ex)
                {
                    throw new ConfigException($"{path}: {ex.Message}");
                }
            }
            return c;
        }
    }

    private FitConfig With(string key, JsonElement v) => key switch
    {
        "target" => this with { Target = v.GetString()! },
        "dimension" => this with { Dimension = v.GetInt32() },
        "targetComponents" => this with { TargetComponents = v.GetInt32() },
        "targetSpread" => this with { TargetSpread = v.GetDouble() },
        "targetScale" => this with { TargetScale = v.GetDouble() },
        "targetCovariance" => this with { TargetCovariance = v.GetString()! },
        "targetSeed" => this with { TargetSeed = v.GetUInt64() },
        "funnelVariance" => this with { FunnelVariance = v.GetDouble() },
        "skew" => this with { Skew = v.EnumerateArray().Select(e => e.GetDouble()).ToArray() },
        "points" => this with { Points = v.GetInt32() },
        "separation" => this with { Separation = v.GetDouble() },
        "priorPrecision" => this with { PriorPrecision = v.GetDouble() },
        "expectation" => this with { Expectation = v.GetString()! },
        "components" => this with { Components = v.GetInt32() },
        "algorithm" => this with { Algorithm = v.GetString()! },
        "stepSize" => this with { StepSize = v.GetDouble() },
        "iterations" => this with { Iterations = v.GetInt64() },
        "samples" => this with { Samples = v.GetInt32() },
        "klSamples" => this with { KlSamples = v.GetInt32() },
        "klEvery" => this with { KlEvery = v.GetInt32() },
        "initSpread" => this with { InitSpread = v.GetDouble() },
        "initVariance" => this with { InitVariance = v.GetDouble() },
        "stepControl" => this with { StepControl = v.GetBoolean() },
        "seed" => this with { Seed = v.GetUInt64() },
        "threads" => this with { Threads = v.GetInt32() },
        "output" => this with { Output = v.GetString()! },
        _ => throw new ConfigException($"unknown config key '{key}'; known keys: {string.Join(", ", Keys)}"),
    };

    /// <summary>The config as a JSON object (for result files).</summary>
    public void WriteJson(Utf8JsonWriter w)
    {
        ArgumentNullException.ThrowIfNull(w);
        w.WriteStartObject();
        w.WriteString("target", Target);
        w.WriteNumber("dimension", Dimension);
        if (Target == "gmm")
        {
            w.WriteNumber("targetComponents", TargetComponents);
            w.WriteNumber("targetSpread", TargetSpread);
            w.WriteNumber("targetScale", TargetScale);
            w.WriteString("targetCovariance", TargetCovariance);
            w.WriteNumber("targetSeed", TargetSeed);
        }
        if (Target == "funnel") w.WriteNumber("funnelVariance", FunnelVariance);
        if (Target == "logistic")
        {
            w.WriteNumber("points", Points);
            w.WriteNumber("separation", Separation);
            w.WriteNumber("priorPrecision", PriorPrecision);
            w.WriteNumber("targetSeed", TargetSeed);
        }
        if (IsBuresWasserstein) w.WriteString("expectation", Expectation);
        if (Target == "sinh-arcsinh")
        {
            w.WriteStartArray("skew");
            foreach (double s in Skew) w.WriteNumberValue(s);
            w.WriteEndArray();
        }
        w.WriteNumber("components", Components);
        w.WriteString("algorithm", Algorithm);
        w.WriteNumber("stepSize", StepSize);
        w.WriteNumber("iterations", Iterations);
        w.WriteNumber("samples", Samples);
        w.WriteNumber("klSamples", KlSamples);
        w.WriteNumber("klEvery", KlEvery);
        w.WriteNumber("initSpread", InitSpread);
        w.WriteNumber("initVariance", InitVariance);
        if (!IsBuresWasserstein) w.WriteBoolean("stepControl", StepControl);
        w.WriteNumber("seed", Seed);
        w.WriteEndObject();
    }
}
