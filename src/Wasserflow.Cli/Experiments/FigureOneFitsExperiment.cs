using System.Diagnostics;
using System.Globalization;
using System.Text;
using Wasserflow.Baselines;
using Wasserflow.Diagnostics;
using Wasserflow.Families;
using Wasserflow.Flows;
using Wasserflow.Parameters;
using Wasserflow.Randomness;
using Wasserflow.Reports;
using Wasserflow.Running;
using Wasserflow.Targets;

namespace Wasserflow.Experiments;

/// <summary>The settings of <c>wasserflow experiment figure-1-fits</c> (paper 000, Figure 1 bottom).</summary>
public sealed record FigureOneFitsSettings
{
    /// <summary>Iterations of the mixture flows.</summary>
    [Parameter("iterations of the mixture flows (Table 1, row 1)", Minimum = 1, Maximum = 10_000_000)]
    public long Iterations { get; init; } = 10_000;

    /// <summary>γ = h of the mixture flows.</summary>
    [Parameter("step size γ = h of IBW, GD and the full-covariance BW flow (Table 1: 0.1)", Minimum = 0, ExclusiveMinimum = true)]
    public double StepSize { get; init; } = 0.1;

    /// <summary>RealNVP's Adam steps.</summary>
    [Parameter("Adam steps of the normalizing flow", Minimum = 1, Maximum = 10_000_000)]
    public int NfIterations { get; init; } = 4000;

    /// <summary>RealNVP's draws per step.</summary>
    [Parameter("draws of z per Adam step of the normalizing flow", Minimum = 1, Maximum = 100_000)]
    public int NfBatch { get; init; } = 128;

    /// <summary>RealNVP's Adam rate.</summary>
    [Parameter("Adam's rate for the normalizing flow", Minimum = 0, ExclusiveMinimum = true)]
    public double NfLearningRate { get; init; } = 1e-3;

    /// <summary>RealNVP's blocks (two couplings each).</summary>
    [Parameter("RealNVP blocks b, two coupling layers each (Appendix E.2: 2)", Minimum = 1, Maximum = 100)]
    public int NfBlocks { get; init; } = 2;

    /// <summary>RealNVP's hidden units.</summary>
    [Parameter("hidden units of each coupling network (Appendix E.2: 124)", Minimum = 1, Maximum = 100_000)]
    public int NfHidden { get; init; } = 124;

    /// <summary>Draws of every final KL estimate.</summary>
    [Parameter("draws of every final KL estimate", Minimum = 100, Maximum = 10_000_000)]
    public int KlDraws { get; init; } = 10_000;

    /// <summary>Seed of the target (the demo's first target is 1).</summary>
    [Parameter("seed of the target mixture (the demo's first target: 1)")]
    public ulong TargetSeed { get; init; } = 1;

    /// <summary>Seed of every fit.</summary>
    [Parameter("seed of every fit")]
    public ulong Seed { get; init; }
}

/// <summary>One fit of the figure: its final KL (true KL, the target is normalised) and wall time.</summary>
/// <param name="Method">The method and its size.</param>
/// <param name="Parameters">Trainable values of the approximation.</param>
/// <param name="Status">How it ended.</param>
/// <param name="Kl">The final KL; null when the fit failed.</param>
/// <param name="Seconds">Wall seconds of the fit (not of the KL estimate).</param>
/// <param name="LogDensity">The fitted density, for the figure; null when the fit failed.</param>
public sealed record FigureOneFit(string Method, int Parameters, string Status, KlEstimate? Kl, double Seconds, LogDensityFunction? LogDensity);

/// <summary>
/// Paper 000, Figure 1 (bottom): on Figure 1's 2-D target (five full-covariance Gaussians, Table 1 row 1), the fits of
/// IBW (N = 10 and 20), GD (N = 10, means only), the full-covariance BW mixture flow (K = 10) and the normalizing-flow
/// baseline (RealNVP, b = 2 blocks, 124 hidden units, reverse KL with Adam; Appendix E.2), each with its final KL and
/// wall time, and their densities beside the target's.
/// </summary>
public static class FigureOneFitsExperiment
{
    /// <summary>Runs the five fits (one log line each) and writes results.csv, timings.csv, the densities and report.html.</summary>
    public static ExperimentOutput Run(FigureOneFitsSettings s, Action<string> log, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(log);
        ParameterRecords.Validate(s);
        var target = (GaussianMixtureTarget)new TargetParameters { Target = "gmm", Dimension = 2, TargetComponents = 5, TargetSpread = 8, TargetScale = 5, TargetCovariance = "full", TargetSeed = s.TargetSeed }.Build();
        var fits = new List<FigureOneFit>();
        foreach (var (method, n) in new[] { ("ibw", 10), ("ibw", 20), ("gd", 10), ("bw", 10), ("nf", 0) })
        {
            cancellation.ThrowIfCancellationRequested();
            FigureOneFit fit = method == "nf" ? FitFlow(target, s) : FitMixture(method, n, target, s, cancellation);
            fits.Add(fit);
            log(Line(fit));
        }
        return new ExperimentOutput("figure-1-fits", Files(fits, target, s), [.. fits.Select(Line)]);
    }

    private static FigureOneFit FitMixture(string method, int n, GaussianMixtureTarget target, FigureOneFitsSettings s, CancellationToken cancellation)
    {
        ulong seed = Xoshiro256StarStar.Mix(s.Seed, method switch { "ibw" => 1UL, "gd" => 2UL, _ => 3UL } * 100 + (ulong)n);
        IsotropicGaussianMixture q0 = IsotropicGaussianMixture.Initialize(new Xoshiro256StarStar(Xoshiro256StarStar.Mix(seed, 1)), n, 2, 15, 2);
        var klRng = new Xoshiro256StarStar(Xoshiro256StarStar.Mix(seed, 3));
        string name = $"{method.ToUpperInvariant()} N = {n}";
        var clock = Stopwatch.StartNew();
        if (method != "bw")
        {
            var flow = new IsotropicMixtureFlow(target, IsotropicMixtureAlgorithms.Create(method), n, new IsotropicMixtureFlowOptions(s.StepSize, 10));
            var result = VariationalRunner.Run(flow, IsotropicMixtureState.Start(q0, Xoshiro256StarStar.Mix(seed, 2)), new RunOptions(s.Iterations, TraceEvery: 0), cancellationToken: cancellation);
            double seconds = clock.Elapsed.TotalSeconds;
            if (result.Status != RunStatus.Completed) return new FigureOneFit(name, n * 3, $"{result.Status}: {result.Message}", null, seconds, null);
            IsotropicGaussianMixture q = result.FinalState.ToMixture();
            return new FigureOneFit(name, n * 3, "completed", KlEstimator.Estimate(q, target, klRng, s.KlDraws), seconds, q.LogDensity);
        }
        var factors = new double[n * 4];
        for (int k = 0; k < n; k++) factors[k * 4] = factors[k * 4 + 3] = Math.Sqrt(2);
        var state = new GaussianParticleState([.. q0.Means], factors, [.. Enumerable.Repeat(1.0 / n, n)], 0, new Xoshiro256StarStar(Xoshiro256StarStar.Mix(seed, 2)));
        var bw = new BuresWassersteinFlow(target, n, new BuresWassersteinFlowOptions(s.StepSize));
        var bwResult = VariationalRunner.Run(bw, state, new RunOptions(s.Iterations, TraceEvery: 0), cancellationToken: cancellation);
        double bwSeconds = clock.Elapsed.TotalSeconds;
        name = $"BW K = {n}";
        if (bwResult.Status != RunStatus.Completed) return new FigureOneFit(name, n * 5, $"{bwResult.Status}: {bwResult.Message}", null, bwSeconds, null);
        GaussianMixture p = bwResult.FinalState.ToMixture();
        return new FigureOneFit(name, n * 5, "completed", KlEstimator.Estimate(p, target, klRng, s.KlDraws), bwSeconds, p.LogDensity);
    }

    private static FigureOneFit FitFlow(GaussianMixtureTarget target, FigureOneFitsSettings s)
    {
        var flow = new RealNvp(2, s.NfBlocks, s.NfHidden, new Xoshiro256StarStar(Xoshiro256StarStar.Mix(s.Seed, 900)));
        var adam = new Adam(flow.Parameters, s.NfLearningRate);
        var rng = new Xoshiro256StarStar(Xoshiro256StarStar.Mix(s.Seed, 901));
        var z = new double[2 * s.NfBatch];
        string name = $"RealNVP b = {s.NfBlocks} / h = {s.NfHidden}";
        var clock = Stopwatch.StartNew();
        try
        {
            for (int t = 0; t < s.NfIterations; t++)
            {
                rng.FillStandardNormal(z);
                double loss = flow.LossAndGradient(target, z, s.NfBatch);
                if (!double.IsFinite(loss)) throw new InvalidOperationException($"the loss is {loss} at step {t + 1}; lower --nf-learning-rate");
                adam.Step();
            }
        }
        catch (Exception e) when (e is InvalidOperationException or TargetEvaluationException)
        {
            return new FigureOneFit(name, flow.ParameterCount, $"failed: {e.Message}", null, clock.Elapsed.TotalSeconds, null);
        }
        double seconds = clock.Elapsed.TotalSeconds;
        return new FigureOneFit(name, flow.ParameterCount, "completed", flow.EstimateKl(target, new Xoshiro256StarStar(Xoshiro256StarStar.Mix(s.Seed, 902)), s.KlDraws), seconds, flow.LogDensity);
    }

    private static string Line(FigureOneFit f) => string.Create(CultureInfo.InvariantCulture,
        $"{f.Method} ({f.Parameters} parameters): {f.Status}{(f.Kl is { } kl ? $", KL {kl.Value:G4} ± {kl.StandardError:G2}" : "")}, {f.Seconds:F2} s");

    private static Dictionary<string, string> Files(List<FigureOneFit> fits, GaussianMixtureTarget target, FigureOneFitsSettings s)
    {
        static string N(double? v) => v is { } x && double.IsFinite(x) ? x.ToString("R", CultureInfo.InvariantCulture) : "";
        var results = new StringBuilder("method,parameters,status,kl,kl_se\n");
        var timings = new StringBuilder("method,seconds\n");
        foreach (FigureOneFit f in fits)
        {
            results.Append(CultureInfo.InvariantCulture, $"{ModelSummary.Csv(f.Method)},{f.Parameters},{ModelSummary.Csv(f.Status)},{N(f.Kl?.Value)},{N(f.Kl?.StandardError)}\n");
            timings.Append(CultureInfo.InvariantCulture, $"{ModelSummary.Csv(f.Method)},{N(f.Seconds)}\n");
        }
        var files = new Dictionary<string, string> { ["results.csv"] = results.ToString(), ["timings.csv"] = timings.ToString() };
        Box2D box = new(-18, 18, -18, 18);
        var body = new StringBuilder(string.Create(CultureInfo.InvariantCulture,
            $"<p>Target: Figure 1's mixture of five full-covariance Gaussians in d = 2 (Table 1: s_tg = 8, r_tg = 5, target seed {s.TargetSeed}). Mixtures: means uniform in [−15, 15]², variances 2, γ = h = {ResultFiles.G(s.StepSize)}, B = 10 draws per component, {s.Iterations} iterations. ")
            + string.Create(CultureInfo.InvariantCulture, $"RealNVP: {s.NfBlocks} blocks of two affine couplings (alternating masks, s = tanh of a ReLU network, t a ReLU network, {s.NfHidden} hidden units each), PyTorch's initialisation, Adam η = {ResultFiles.G(s.NfLearningRate)}, {s.NfIterations} steps of {s.NfBatch} draws. ")
            + string.Create(CultureInfo.InvariantCulture, $"KL: the true KL (the target is normalised) from {s.KlDraws} draws of each fit. Wall times on this machine are in timings.csv (they differ between runs).</p>\n"));
        body.Append(Html.Table(["method", "parameters", "status", "KL(q‖π)"],
            [.. fits.Select(f => new[] { f.Method, f.Parameters.ToString(CultureInfo.InvariantCulture), f.Status, f.Kl is { } kl ? $"{ResultFiles.G(kl.Value)} ± {ResultFiles.G(kl.StandardError)}" : "—" })]));
        files["target.svg"] = Plots.TargetDensity(target, box, "target");
        body.Append(Html.Figure("target.svg", "The target density."));
        for (int i = 0; i < fits.Count; i++)
        {
            if (fits[i].LogDensity is not { } density) continue;
            var asTarget = new DelegateTarget(2, density, (_, _) => throw new NotSupportedException("plotting only"), fits[i].Method);
            string file = $"fit-{i + 1}.svg";
            files[file] = Plots.TargetDensity(asTarget, box, fits[i].Method);
            body.Append(Html.Figure(file, $"{fits[i].Method}: the fitted density."));
        }
        files["report.html"] = Html.Page("Wasserflow: paper 000, Figure 1 (bottom) — N = 10 fits and a normalizing flow", body.ToString());
        return files;
    }
}
