using Wasserflow.Parameters;
using Wasserflow.Randomness;

namespace Wasserflow.Targets;

/// <summary>
/// The parameters of every named target (<see cref="TargetRegistry"/>), each described once: its meaning, default and
/// range. A target uses only the parameters its <see cref="TargetDefinition.Parameters"/> list; the dimension is common
/// to all.
/// </summary>
public sealed record TargetParameters : IApplicability
{
    /// <summary>The target's name.</summary>
    [Parameter("the target", Choices = typeof(TargetRegistry))]
    public string Target { get; init; } = "gmm";

    /// <summary>Dimension d.</summary>
    [Parameter("dimension d", Alias = "-d", Minimum = 1, Maximum = 100_000)]
    public int Dimension { get; init; } = 2;

    /// <summary>gmm: number of target components N_tg.</summary>
    [Parameter("gmm: number of target components N_tg", Minimum = 1, Maximum = 100_000)]
    public int TargetComponents { get; init; } = 5;

    /// <summary>gmm: means uniform in [−s_tg, s_tg]^d.</summary>
    [Parameter("gmm: target means uniform in [-s_tg, s_tg]^d", Minimum = 0)]
    public double TargetSpread { get; init; } = 8;

    /// <summary>gmm, corners: covariance scale r_tg.</summary>
    [Parameter("gmm, corners: covariance scale r_tg", Minimum = 0, ExclusiveMinimum = true)]
    public double TargetScale { get; init; } = 5;

    /// <summary>gmm, corners: covariance kind.</summary>
    [Parameter("gmm, corners: covariance kind", Choices = typeof(CovarianceKinds))]
    public string TargetCovariance { get; init; } = "full";

    /// <summary>gmm and logistic: seed of the random target (separate from a run's seed, so one target serves many runs); regression models: seed of the train/test split.</summary>
    [Parameter("gmm, corners, logistic: seed of the random target; regression models: seed of the train/test split")]
    public ulong TargetSeed { get; init; } = 1;

    /// <summary>funnel: variance of the first coordinate.</summary>
    [Parameter("funnel: variance of x1", Minimum = 0, ExclusiveMinimum = true)]
    public double FunnelVariance { get; init; } = 1.2;

    /// <summary>logistic: number of data points n.</summary>
    [Parameter("logistic: data points n", Minimum = 1, Maximum = 100_000_000)]
    public int Points { get; init; } = 10;

    /// <summary>logistic: separation s = ‖2m*‖ of the class means.</summary>
    [Parameter("logistic: class separation s", Minimum = 0)]
    public double Separation { get; init; } = 1.5;

    /// <summary>logistic: precision λ of the N(0, I/λ) prior; 0 is the paper's flat prior.</summary>
    [Parameter("logistic: precision λ of a N(0, I/λ) prior (0: flat)", Minimum = 0)]
    public double PriorPrecision { get; init; }

    /// <summary>Regression models: the CSV file (header row, one row per observation).</summary>
    [Parameter("regression models: CSV data file with a header row, or sklearn:<table> (breast_cancer, wine_data, iris, boston_house_prices; fetched once)")]
    public string Data { get; init; } = "";

    /// <summary>Regression models: the response column.</summary>
    [Parameter("regression models: the response column")]
    public string Response { get; init; } = "y";

    /// <summary>Regression models: predictor columns, comma-separated; empty for every column but the response.</summary>
    [Parameter("regression models: predictor columns, comma-separated (default: every other column; text columns one-hot)")]
    public string Predictors { get; init; } = "";

    /// <summary>Regression models: an intercept α.</summary>
    [Parameter("regression models: include an intercept")]
    public bool Intercept { get; init; } = true;

    /// <summary>Regression models: prior scale s of the N(0, s²) priors (and of sigma's half-normal).</summary>
    [Parameter("regression models: scale s of the N(0, s²) coefficient priors (and sigma's half-normal)", Minimum = 0, ExclusiveMinimum = true)]
    public double PriorScale { get; init; } = 10;

    /// <summary>Regression models: the share of rows held out for the predictive.</summary>
    [Parameter("regression models: share of rows held out for the posterior predictive", Minimum = 0, Maximum = 0.9)]
    public double TestFraction { get; init; }

    /// <summary>Regression models: standardise predictors by the training rows.</summary>
    [Parameter("regression models: standardise predictors by the training rows' mean and sd")]
    public bool Standardize { get; init; } = true;

    /// <summary>corners: pt, the means at (±pt, ±pt).</summary>
    [Parameter("corners: pt, the four means at (±pt, ±pt)", Minimum = 0, ExclusiveMinimum = true)]
    public double Corner { get; init; } = 3;

    /// <summary>corners: the first component's weight; 0 for equal weights.</summary>
    [Parameter("corners: weight of the component at (pt, pt), the others sharing the rest (0: equal weights; paper's (c-3): 0.1)", Minimum = 0, Maximum = 0.99)]
    public double CornerWeight { get; init; }

    /// <summary>bnn-regression: hidden ReLU units.</summary>
    [Parameter("bnn-regression: hidden ReLU units of its one hidden layer", Minimum = 1, Maximum = 100_000)]
    public int Hidden { get; init; } = 50;

    /// <summary>bnn-regression: the known noise variance σ².</summary>
    [Parameter("bnn-regression: the known noise variance σ² (in the response's units squared)", Minimum = 0, ExclusiveMinimum = true)]
    public double NoiseVariance { get; init; } = 10;

    /// <summary>posteriordb: the posterior's name.</summary>
    [Parameter("posteriordb: the posterior (e.g. eight_schools-eight_schools_noncentered)")]
    public string Posterior { get; init; } = "";

    /// <summary>posteriordb: the folder with its data and reference draws.</summary>
    [Parameter("posteriordb: folder holding <name>.data.json and <name>.draws.json.zip (default $WASSERFLOW_POSTERIORDB)")]
    public string Posteriordb { get; init; } = "";

    /// <summary>sinh-arcsinh: the two skews.</summary>
    [Parameter("sinh-arcsinh: the two skews")]
    public double[] Skew { get; init; } = [-0.2, -0.2];

    /// <inheritdoc/>
    public string? NotApplicable(string property) => TargetRegistry.Find(Target).Uses(property)
        ? null
        : $"applies to the {string.Join(", ", TargetRegistry.All.Where(t => t.Uses(property)).Select(t => t.Name))} target, not to {Target}";

    /// <summary>
    /// Checks every parameter's range, then what the named target needs (its dimension, the length of its lists).
    /// </summary>
    /// <exception cref="InvalidParameterException">The first bad parameter, by property name.</exception>
    public void Validate()
    {
        ParameterRecords.Validate(this);
        TargetRegistry.Find(Target).Validate(this);
    }

    /// <summary>Validates and builds the target.</summary>
    /// <exception cref="InvalidParameterException">A parameter is bad.</exception>
    public ITarget Build()
    {
        Validate();
        return TargetRegistry.Find(Target).Build(this);
    }
}

/// <summary>A named target: what it is, which of <see cref="TargetParameters"/> it reads, its dimension rule and how to build it.</summary>
/// <param name="Name">The name, as on a command line.</param>
/// <param name="Description">One line: what the target is and where it comes from.</param>
/// <param name="Parameters">The <see cref="TargetParameters"/> properties it reads besides Target and Dimension.</param>
/// <param name="Build">Builds the target from valid parameters.</param>
/// <param name="FixedDimension">The only dimension it has, or null.</param>
/// <param name="MinimumDimension">The smallest dimension it has.</param>
/// <param name="DimensionFromData">The dimension follows from the data (a model's parameter count), so --dimension does not apply.</param>
public sealed record TargetDefinition(string Name, string Description, IReadOnlyList<string> Parameters,
    Func<TargetParameters, ITarget> Build, int? FixedDimension = null, int MinimumDimension = 1, bool DimensionFromData = false)
{
    /// <summary>Whether this target reads the parameter <paramref name="property"/> (Target always, Dimension unless it comes from the data).</summary>
    public bool Uses(string property) =>
        property is nameof(TargetParameters.Target) || (property is nameof(TargetParameters.Dimension) && !DimensionFromData) || Parameters.Contains(property);

    /// <summary>Checks the dimension rule and the length of the skews.</summary>
    /// <exception cref="InvalidParameterException">The dimension or a list does not fit this target.</exception>
    public void Validate(TargetParameters p)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (FixedDimension is { } fixedDimension && p.Dimension != fixedDimension)
            throw new InvalidParameterException(nameof(p.Dimension), $"dimension mismatch: the {Name} target is {fixedDimension}-D, but dimension is {p.Dimension}");
        if (p.Dimension < MinimumDimension)
            throw new InvalidParameterException(nameof(p.Dimension), $"the {Name} target needs dimension ≥ {MinimumDimension}, got {p.Dimension}");
        if (Uses(nameof(p.Skew)) && p.Skew.Length != 2)
            throw new InvalidParameterException(nameof(p.Skew), $"{Name} needs 2 skews, got {p.Skew.Length}");
    }
}

/// <summary>The covariance kinds of the random mixture, by name.</summary>
public sealed class CovarianceKinds : INamedChoices
{
    /// <inheritdoc/>
    public static string Noun => "covariance kind";

    /// <inheritdoc/>
    public static IReadOnlyList<NamedChoice> Choices { get; } =
    [
        new("isotropic", "r_tg·u·I"),
        new("diagonal", "independent variances"),
        new("full", "random rotations of random variances"),
    ];
}

/// <summary>
/// Every target offered by name (command lines, config files, sweeps): one <see cref="TargetDefinition"/> each. What a
/// target can do (Hessian, batched evaluation, log Z) is read from the built object's interfaces, never from its name.
/// </summary>
public sealed class TargetRegistry : INamedChoices
{
    // Declared before All: static initialisers run in order, and All's regression entries read it.
    private static readonly string[] RegressionParameters =
        [nameof(TargetParameters.Data), nameof(TargetParameters.Response), nameof(TargetParameters.Predictors), nameof(TargetParameters.Intercept),
         nameof(TargetParameters.PriorScale), nameof(TargetParameters.TestFraction), nameof(TargetParameters.Standardize), nameof(TargetParameters.TargetSeed)];

    /// <summary>All definitions.</summary>
    public static IReadOnlyList<TargetDefinition> All { get; } =
    [
        new("gmm", "random Gaussian mixture (paper 000, App. E.2)",
            [nameof(TargetParameters.TargetComponents), nameof(TargetParameters.TargetSpread), nameof(TargetParameters.TargetScale),
             nameof(TargetParameters.TargetCovariance), nameof(TargetParameters.TargetSeed)],
            p => GaussianMixtureTarget.Random(new Xoshiro256StarStar(p.TargetSeed), p.Dimension, p.TargetComponents, p.TargetSpread,
                p.TargetScale, Enum.Parse<CovarianceKind>(p.TargetCovariance, ignoreCase: true))),
        new("funnel", "Neal's funnel", [nameof(TargetParameters.FunnelVariance)],
            p => new FunnelTarget(p.Dimension, p.FunnelVariance), MinimumDimension: 2),
        new("sinh-arcsinh", "skewed 2-D sinh–arcsinh distribution (paper 000)", [nameof(TargetParameters.Skew)],
            p => SinhArcsinhTarget.Paper(p.Skew[0], p.Skew[1]), FixedDimension: 2),
        new("corners", "2-D mixture of four Gaussians at (±pt, ±pt) (paper 000, Figure 6c, Table 1 rows (c-1)–(c-3))",
            [nameof(TargetParameters.Corner), nameof(TargetParameters.CornerWeight), nameof(TargetParameters.TargetScale), nameof(TargetParameters.TargetCovariance), nameof(TargetParameters.TargetSeed)],
            p => GaussianMixtureTarget.Corners(new Xoshiro256StarStar(p.TargetSeed), p.Corner, p.TargetScale, Enum.Parse<CovarianceKind>(p.TargetCovariance, ignoreCase: true), p.CornerWeight), FixedDimension: 2),
        new("bimodal", "2-D mixture of two Gaussians (paper 002, Figure 5)", [], _ => GaussianMixtureTarget.Bimodal(), FixedDimension: 2),
        new("four-modes", "2-D mixture of four Gaussians with weights 0.4, 0.3, 0.2, 0.1 (paper 002, App. J)", [],
            _ => GaussianMixtureTarget.FourModes(), FixedDimension: 2),
        new("logistic", "Bayesian logistic regression on synthetic data (paper 002, App. I)",
            [nameof(TargetParameters.Points), nameof(TargetParameters.Separation), nameof(TargetParameters.PriorPrecision), nameof(TargetParameters.TargetSeed)],
            p => LogisticRegressionTarget.Synthetic(new Xoshiro256StarStar(p.TargetSeed), p.Dimension, p.Points, p.Separation,
                p.Dimension == 2 ? [1.0, 0.5, 0.5, 1.0] : null, p.PriorPrecision)),
        Regression("linear-regression", "Bayesian linear regression (Gaussian noise, unknown sigma) on a CSV file", Models.RegressionFamily.Linear),
        Regression("logistic-regression", "Bayesian logistic regression (0/1 response) on a CSV file", Models.RegressionFamily.Logistic),
        Regression("poisson-regression", "Bayesian Poisson regression (count response) on a CSV file", Models.RegressionFamily.Poisson),
        Regression("softmax-regression", "Bayesian multinomial (softmax) regression (class labels 0, 1, 2, …) on a CSV file", null),
        new("bnn-regression", "Bayesian neural network regression on a CSV file: one hidden ReLU layer, Gaussian noise of known variance (paper 000, App. E.5)",
            [.. RegressionParameters.Where(n => n != nameof(TargetParameters.Intercept)), nameof(TargetParameters.Hidden), nameof(TargetParameters.NoiseVariance)], p =>
            {
                var table = Data.CsvTable.Read(DataPath(p, "bnn-regression"));
                string[] predictors = [.. p.Predictors.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
                return Models.NeuralRegressionModel.FromTable(table, p.Response, predictors, p.Hidden, p.NoiseVariance, p.PriorScale, p.TestFraction, p.TargetSeed, p.Standardize);
            }, DimensionFromData: true),
        new("posteriordb", "a posteriordb posterior from its data file, scored against its reference draws",
            [nameof(TargetParameters.Posterior), nameof(TargetParameters.Posteriordb)], p =>
            {
                string folder = p.Posteriordb.Length > 0 ? p.Posteriordb : Environment.GetEnvironmentVariable("WASSERFLOW_POSTERIORDB") ?? "";
                if (folder.Length == 0) throw new InvalidParameterException(nameof(TargetParameters.Posteriordb), "the posteriordb target needs the folder of its files (or WASSERFLOW_POSTERIORDB)");
                if (p.Posterior.Length == 0) throw new InvalidParameterException(nameof(TargetParameters.Posterior), $"name the posterior: one of {string.Join(", ", Models.PosteriorDb.Names.Concat(Models.PosteriorDb.Extras))}");
                return Models.PosteriorDb.Load(p.Posterior, folder);
            }, DimensionFromData: true),
    ];

    // A regression model on a CSV file; its dimension comes from the data.
    private static TargetDefinition Regression(string name, string description, Models.RegressionFamily? family) =>
        new(name, description, RegressionParameters, p =>
        {
            string[] predictors = [.. p.Predictors.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
            var table = Data.CsvTable.Read(DataPath(p, name));
            return family is { } f
                ? Models.RegressionModel.FromTable(f, table, p.Response, predictors, p.Intercept, p.PriorScale, p.TestFraction, p.TargetSeed, p.Standardize)
                : Models.SoftmaxRegressionModel.FromTable(table, p.Response, predictors, p.Intercept, p.PriorScale, p.TestFraction, p.TargetSeed, p.Standardize);
        }, DimensionFromData: true);

    // The CSV file of a model target: a path, or sklearn:<table> fetched once.
    private static string DataPath(TargetParameters p, string name)
    {
        if (p.Data.Length == 0) throw new InvalidParameterException(nameof(TargetParameters.Data), $"the {name} target needs a CSV file");
        return p.Data.StartsWith("sklearn:", StringComparison.Ordinal)
            ? Data.Datasets.SklearnCsv(p.Data["sklearn:".Length..], Data.Datasets.DefaultCache, message => Console.Error.WriteLine(message))
            : p.Data;
    }

    /// <inheritdoc/>
    public static string Noun => "target";

    /// <inheritdoc/>
    public static IReadOnlyList<NamedChoice> Choices { get; } = [.. All.Select(t => new NamedChoice(t.Name, t.Description))];

    /// <summary>The definition called <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="InvalidParameterException">No target has that name (the message suggests the nearest).</exception>
    public static TargetDefinition Find(string name) =>
        All.FirstOrDefault(t => string.Equals(t.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new InvalidParameterException(nameof(TargetParameters.Target), ParameterRecords.UnknownChoice(name, Choices, Noun));
}
