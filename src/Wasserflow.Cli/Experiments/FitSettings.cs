using Wasserflow.Cli.Options;
using Wasserflow.Flows;
using Wasserflow.Parameters;
using Wasserflow.Targets;

namespace Wasserflow.Experiments;

/// <summary>The algorithms of <c>fit</c>: isotropic mixtures (paper 000) and full-covariance Gaussian particles (paper 002).</summary>
public sealed class FitAlgorithms : INamedChoices
{
    /// <summary>The algorithms on full-covariance Gaussians: the Bures–Wasserstein ones of paper 002 (RK4 flow, Euler flow, RK4 with WFR weights, BW-SGD) and the ADVI baselines.</summary>
    public static IReadOnlyList<string> BuresWasserstein { get; } = ["bw", "bw-euler", "bw-wfr", "bw-sgd", "advi-mf", "advi-fr"];

    /// <inheritdoc/>
    public static string Noun => "algorithm";

    /// <inheritdoc/>
    public static IReadOnlyList<NamedChoice> Choices { get; } =
    [
        new("ibw", "isotropic mixture, IBW"), new("md", "isotropic mixture, mirror descent"),
        new("gd", "isotropic mixture, means only, gradient descent"), new("ngd", "isotropic mixture, natural gradient"),
        new("bw", "Gaussian particles, Bures–Wasserstein flow by RK4"), new("bw-euler", "the same flow by Euler steps"),
        new("bw-wfr", "RK4 with Wasserstein–Fisher–Rao weights"), new("bw-sgd", "one Gaussian, stochastic BW gradient (needs a Hessian)"),
        new("advi-mf", "ADVI, mean-field Gaussian (Stan's step sequence, η by Stan's trials or --step-size with --no-adapt-eta, M = --samples draws, Stan's --tol-rel-obj stop)"), new("advi-fr", "ADVI, full-rank Gaussian"),
    ];
}

/// <summary>Where a fit starts.</summary>
public sealed class InitKinds : INamedChoices
{
    /// <inheritdoc/>
    public static string Noun => "start";

    /// <inheritdoc/>
    public static IReadOnlyList<NamedChoice> Choices { get; } =
    [
        new("auto", "laplace for regression models, box otherwise (ADVI: Stan's start, means uniform in (-2, 2), unit scales)"),
        new("box", "means uniform in [-s, s]^d (--init-spread), variance r (--init-variance)"),
        new("laplace", "the Laplace approximation: its mean and covariance (particles), means 1 sd apart around the mode for K > 1"),
    ];
}

/// <summary>Whether a fit runs in whitened coordinates.</summary>
public sealed class PreconditionKinds : INamedChoices
{
    /// <inheritdoc/>
    public static string Noun => "preconditioner";

    /// <inheritdoc/>
    public static IReadOnlyList<NamedChoice> Choices { get; } =
    [
        new("auto", "laplace for regression models (not for ADVI, which runs as Stan does), none otherwise"),
        new("none", "run on the target's own coordinates"),
        new("laplace", "run on v with u = m + L v, (m, LLᵀ) the Laplace approximation, starting from it: one step size suits every scale"),
    ];
}

/// <summary>How the Bures–Wasserstein flows take Gaussian expectations.</summary>
public sealed class ExpectationKinds : INamedChoices
{
    /// <inheritdoc/>
    public static string Noun => "expectation";

    /// <inheritdoc/>
    public static IReadOnlyList<NamedChoice> Choices { get; } =
    [
        new("auto", "rcub for regression models, cubature otherwise"),
        new("cubature", "2d points, exact to degree 3"), new("mc", "Monte Carlo with B = --samples draws"),
        new("rcub", "randomised cubature: 2d points ±ρ q on random orthogonal axes, χ_d radii; unbiased"),
    ];
}

/// <summary>
/// The settings of <c>wasserflow fit</c> besides the target (<see cref="TargetParameters"/>): algorithm, family size,
/// step size, iterations, Monte Carlo sizes, initialisation, seed. Defaults are paper 000's Table 1 (Figure 1). The same
/// settings and seed give the same numbers.
/// </summary>
public sealed record FitSettings : IApplicability
{
    /// <summary>Bures–Wasserstein flows: expectations by cubature or Monte Carlo.</summary>
    [Parameter("bw algorithms: how expectations are taken", Choices = typeof(ExpectationKinds))]
    public string Expectation { get; init; } = "auto";

    /// <summary>The expectation rule a run on <paramref name="target"/> uses: auto is rcub for models (unbiased), cubature otherwise.</summary>
    public string ExpectationFor(ITarget target) => Expectation != "auto" ? Expectation : target is Models.Model ? "rcub" : "cubature";

    /// <summary>N (K for Gaussian particles), components of the variational mixture.</summary>
    [Parameter("N, components of the variational mixture", Alias = "-n", Minimum = 1, Maximum = 100_000)]
    public int Components { get; init; } = 5;

    /// <summary>The algorithm.</summary>
    [Parameter("the algorithm", Alias = "-a", Choices = typeof(FitAlgorithms))]
    public string Algorithm { get; init; } = "ibw";

    /// <summary>γ (h for the Bures–Wasserstein flows).</summary>
    [Parameter("step size γ", Minimum = 0, ExclusiveMinimum = true)]
    public double StepSize { get; init; } = 0.1;

    /// <summary>Iterations.</summary>
    [Parameter("iterations", Minimum = 0)]
    public long Iterations { get; init; } = 10_000;

    /// <summary>B, gradient draws per component.</summary>
    [Parameter("B, gradient draws per component", Minimum = 1, Maximum = 1_000_000)]
    public int Samples { get; init; } = 10;

    /// <summary>B_KL, draws per KL estimate.</summary>
    [Parameter("B_KL, draws per KL estimate (the final estimate takes 10 B_KL)", Minimum = 1, Maximum = 10_000_000)]
    public int KlSamples { get; init; } = 1000;

    /// <summary>Estimate the KL every this many iterations.</summary>
    [Parameter("estimate the KL every k iterations", Minimum = 1)]
    public int KlEvery { get; init; } = 100;

    /// <summary>Where the fit starts: auto (Laplace for models), box, or laplace.</summary>
    [Parameter("where the fit starts", Choices = typeof(InitKinds))]
    public string Init { get; init; } = "auto";

    /// <summary>Whether this fit starts from the Laplace approximation of <paramref name="target"/> (in its own coordinates).</summary>
    public bool StartsAtLaplace(ITarget target) => Init == "laplace" || (Init == "auto" && target is Models.Model && !IsAdvi);

    /// <summary>Whether the algorithm is an ADVI baseline (run as Stan runs it: no whitening, means uniform in (−2, 2), unit scales, unless asked otherwise).</summary>
    public bool IsAdvi => Algorithm.StartsWith("advi", StringComparison.Ordinal);

    /// <summary>Whether the fit runs in Laplace-whitened coordinates.</summary>
    [Parameter("run in whitened coordinates", Choices = typeof(PreconditionKinds))]
    public string Precondition { get; init; } = "auto";

    /// <summary>Whether this fit runs on <paramref name="target"/> whitened by its Laplace approximation (and starts there).</summary>
    public bool Whitens(ITarget target) => Precondition == "laplace" || (Precondition == "auto" && target is Models.Model && !IsAdvi);

    /// <summary>One Gaussian by bw: E[∇²log π] from the model's mean Hessian instead of Stein's estimate from gradients.</summary>
    [Parameter("bw with one Gaussian on a model with a Hessian (logistic, Poisson, linear with known sigma): take E[∇²log π] over the step's points from the model instead of Stein's estimate from its gradients")]
    public bool Hessian { get; init; }

    /// <summary>Stop early when the KL trace has settled (<see cref="Running.TraceWindowRule"/>); iterations become a cap.</summary>
    [Parameter("stop when the KL estimate's last two windows of 5 trace points agree within 2 s.e. or --stop-tolerance and the fit's mean moved less than --stop-parameter-tolerance sds between the last window's points; iterations become a cap")]
    public bool EarlyStop { get; init; }

    /// <summary>The smallest change of the KL estimate (nats) that counts as progress for --early-stop.</summary>
    [Parameter("--early-stop: the smallest change of the KL estimate, in nats, that counts as progress", Minimum = 0)]
    public double StopTolerance { get; init; } = 0.01;

    /// <summary>ADVI: choose η by Stan's trials (<see cref="AdviFlow.AdaptEta"/>) rather than take --step-size.</summary>
    [Parameter("ADVI: choose η as Stan does, by 50-iteration trials of 100, 10, 1, 0.1, 0.01 (--no-adapt-eta takes η = --step-size)")]
    public bool AdaptEta { get; init; } = true;

    /// <summary>ADVI: Stan's tol_rel_obj (<see cref="Running.RelativeToleranceRule"/>); 0 runs every iteration.</summary>
    [Parameter("ADVI: stop when the mean or median relative ELBO change over the recent KL trace points falls below this (Stan's tol_rel_obj; the ELBO is evaluated every --kl-every iterations from --kl-samples draws, Stan's 100 and 100); 0 runs every iteration", Minimum = 0)]
    public double TolRelObj { get; init; } = 0.01;

    /// <summary>The largest move of the fit's mean between KL trace points, in its own sds, that counts as settled for --early-stop.</summary>
    [Parameter("--early-stop: the largest move of the fit's mean between trace points, in the fit's own sds, that counts as settled", Minimum = 0, ExclusiveMinimum = true)]
    public double StopParameterTolerance { get; init; } = 0.05;

    /// <summary>The --early-stop rule, or null without it.</summary>
    public Running.TraceWindowRule? WindowRule => EarlyStop ? new Running.TraceWindowRule(StopTolerance, StopParameterTolerance) : null;

    /// <summary>Initial means uniform in [−s, s]^d.</summary>
    [Parameter("initial means uniform in [-s, s]^d", Minimum = 0)]
    public double InitSpread { get; init; } = 15;

    /// <summary>Initial variance r of every component.</summary>
    [Parameter("initial variance r of every component", Minimum = 0, ExclusiveMinimum = true)]
    public double InitVariance { get; init; } = 2;

    /// <summary>Isotropic algorithms: per-component step halving on extreme draws (<see cref="IsotropicMixtureFlowOptions.StepControl"/>).</summary>
    [Parameter("isotropic algorithms: halve a component's step on extreme draws")]
    public bool StepControl { get; init; } = true;

    /// <summary>The run's seed (initialisation, gradient draws, KL trace).</summary>
    [Parameter("seed of the run")]
    public ulong Seed { get; init; }

    /// <summary>Threads (the numbers do not depend on it).</summary>
    [Parameter("threads (results do not depend on it)", Minimum = 1, Recorded = false)]
    public int Threads { get; init; } = 1;

    /// <summary>Output folder.</summary>
    [Parameter("output folder", Alias = "-o", Recorded = false)]
    public string Output { get; init; } = "runs/fit";

    /// <summary>Whether the algorithm runs full-covariance Gaussian particles (paper 002) rather than isotropic mixtures.</summary>
    public bool IsBuresWasserstein => FitAlgorithms.BuresWasserstein.Contains(Algorithm);

    /// <inheritdoc/>
    public string? NotApplicable(string property) => property switch
    {
        nameof(Expectation) when !IsBuresWasserstein || Algorithm.StartsWith("advi", StringComparison.Ordinal) => $"applies to the bw algorithms, not to {Algorithm}",
        nameof(StepControl) when IsBuresWasserstein => $"applies to the isotropic algorithms, not to {Algorithm}",
        nameof(Hessian) when Algorithm is not ("bw" or "bw-euler") || Components != 1 => $"applies to bw or bw-euler with one Gaussian (-n 1), not to {Algorithm} with {Components}",
        nameof(InitSpread) or nameof(InitVariance) when Init == "laplace" || Precondition == "laplace" => "applies to --init box, not to a Laplace start or --precondition laplace (the Laplace approximation sets the start)",
        nameof(StopTolerance) or nameof(StopParameterTolerance) when !EarlyStop => "applies with --early-stop",
        nameof(AdaptEta) or nameof(TolRelObj) when !IsAdvi => $"applies to advi-mf and advi-fr, not to {Algorithm}",
        nameof(EarlyStop) when IsAdvi => "does not apply to ADVI, which stops by Stan's rule (--tol-rel-obj)",
        nameof(StepSize) when IsAdvi && AdaptEta => "sets η of ADVI only with --no-adapt-eta (Stan's trials choose it otherwise)",
        nameof(Init) when Precondition == "laplace" => "does not apply with --precondition laplace (the run starts at the Laplace approximation)",
        _ => null,
    };

    /// <summary>Checks every range, then what the algorithm needs of the family size and of the target.</summary>
    /// <exception cref="InvalidParameterException">The first bad setting.</exception>
    public void Validate(ITarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        ParameterRecords.Validate(this);
        if (string.IsNullOrWhiteSpace(Output)) throw new InvalidParameterException(nameof(Output), "the output folder is empty");
        if (Algorithm.StartsWith("advi", StringComparison.Ordinal) && Components != 1)
            throw new InvalidParameterException(nameof(Components), $"{Algorithm} fits one Gaussian; components must be 1, got {Components}");
        if (Hessian && target is not ITargetWithMeanHessian { HasMeanHessian: true })
            throw new InvalidParameterException(nameof(Hessian), $"the {target.Name} target has no mean Hessian (logistic, Poisson and linear regression with known sigma have one)");
        if (Algorithm != "bw-sgd") return;
        if (Components != 1) throw new InvalidParameterException(nameof(Components), $"bw-sgd fits one Gaussian; components must be 1, got {Components}");
        if (target is not ITargetWithHessian)
            throw new InvalidParameterException(nameof(Algorithm), $"bw-sgd needs the Hessian of log pi, and the {target.Name} target does not provide one");
    }
}

/// <summary>A <c>fit</c> run: the target's parameters and the fit's settings.</summary>
/// <param name="Target">The target's parameters.</param>
/// <param name="Fit">The fit's settings.</param>
public sealed record FitJob(TargetParameters Target, FitSettings Fit);
