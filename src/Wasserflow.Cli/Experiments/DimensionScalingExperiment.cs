using System.Diagnostics;
using System.Globalization;
using System.Text;
using Wasserflow.Diagnostics;
using Wasserflow.Families;
using Wasserflow.Flows;
using Wasserflow.Parameters;
using Wasserflow.Randomness;
using Wasserflow.Reports;
using Wasserflow.Running;
using Wasserflow.Targets;

namespace Wasserflow.Experiments;

/// <summary>The settings of <c>wasserflow experiment dimension-scaling</c> (paper 000, Figure 2).</summary>
public sealed record DimensionScalingSettings
{
    /// <summary>The dimensions, comma-separated.</summary>
    [Parameter("dimensions d, comma-separated")]
    public string Dimensions { get; init; } = "2,5,10,20,50,100,200";

    /// <summary>N (K), components of both fits.</summary>
    [Parameter("N (K), components of both fits", Alias = "-n", Minimum = 1, Maximum = 1000)]
    public int Components { get; init; } = 15;

    /// <summary>Iterations of each fit.</summary>
    [Parameter("iterations of each fit (Table 1: 1,000)", Minimum = 1, Maximum = 10_000_000)]
    public long Iterations { get; init; } = 1000;

    /// <summary>Step γ = h; 0 for 0.01/d, our reading of Table 1 row 2 (which leaves both fits far from converged at 10³ iterations).</summary>
    [Parameter("step size γ = h of both fits; 0 for 0.01/d, our reading of the garbled Table 1 row 2, which leaves both fits far from converged in 1,000 iterations", Minimum = 0)]
    public double StepSize { get; init; } = 0.1;

    /// <summary>Above this dimension the full-covariance flow is only timed.</summary>
    [Parameter("above this d the full-covariance flow runs only --timing-iterations steps (its cost grows like K²·d³ per step) and reports no KL", Minimum = 1)]
    public int BwMaxDimension { get; init; } = 20;

    /// <summary>Steps timed where the full-covariance flow is not run to the end.</summary>
    [Parameter("steps of the full-covariance flow timed above --bw-max-dimension", Minimum = 1, Maximum = 1000)]
    public int TimingIterations { get; init; } = 3;

    /// <summary>Seed of every run.</summary>
    [Parameter("seed of every run (the target of dimension d uses target seed d)")]
    public ulong Seed { get; init; }
}

/// <summary>One fit of the dimension-scaling experiment.</summary>
/// <param name="Dimension">d.</param>
/// <param name="Method">ibw or bw (the full-covariance particle mixture).</param>
/// <param name="Iterations">Steps taken.</param>
/// <param name="SecondsPerIteration">Wall seconds per step (measured; differs between runs).</param>
/// <param name="Kl">Final KL (true KL: the mixtures' log Z is known); null when only timed or failed.</param>
/// <param name="Status">How it ended.</param>
public sealed record ScalingRun(int Dimension, string Method, long Iterations, double SecondsPerIteration, KlEstimate? Kl, string Status);

/// <summary>
/// Paper 000's Figure 2: time per iteration and final KL against dimension for IBW with N isotropic components and for
/// the Bures–Wasserstein flow of N full-covariance particles, on Table 1 row 2's targets (five full-covariance components,
/// means in [−100/d, 100/d]^d, covariance scale 5) from Table 1's start (means in [−100/d, 100/d]^d, variances 10) with
/// γ = h = 0.01/d. IBW costs O(N·B·d) per step plus the target's gradients; the full-covariance flow O(K²·P·d²) with
/// P = 2d cubature points per particle, so its step grows like d³ and beyond a few tens of dimensions it is only timed.
/// </summary>
public static class DimensionScalingExperiment
{
    /// <summary>The dimensions of <paramref name="s"/>, checked.</summary>
    /// <exception cref="InvalidParameterException">Not a list of whole numbers between 1 and 10,000.</exception>
    public static IReadOnlyList<int> Dimensions(DimensionScalingSettings s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var list = new List<int>();
        foreach (string item in s.Dimensions.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            list.Add(int.TryParse(item, NumberStyles.Integer, CultureInfo.InvariantCulture, out int d) && d is >= 1 and <= 10_000 ? d
                : throw new InvalidParameterException(nameof(s.Dimensions), $"'{item}' is not a dimension between 1 and 10000 (expected a list such as 2,10,100)"));
        return list.Count > 0 ? list : throw new InvalidParameterException(nameof(s.Dimensions), "name at least one dimension");
    }

    /// <summary>Runs both methods at every dimension (one log line each), then writes results.csv, timings.csv and the report.</summary>
    public static ExperimentOutput Run(DimensionScalingSettings settings, Action<string> log, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(log);
        var runs = new List<ScalingRun>();
        foreach (int d in Dimensions(settings))
        {
            var target = GaussianMixtureTarget.Random(new Xoshiro256StarStar((ulong)d), d, 5, 100.0 / d, 5, CovarianceKind.Full);
            foreach (string method in new[] { "ibw", "bw" })
            {
                ScalingRun run = RunOne(method, target, settings, cancellation);
                runs.Add(run);
                log(Line(run));
            }
        }
        return new ExperimentOutput("dimension-scaling", Files(runs, settings), [.. runs.Select(Line)]);
    }

    private static ScalingRun RunOne(string method, GaussianMixtureTarget target, DimensionScalingSettings s, CancellationToken cancellation)
    {
        int d = target.Dimension, n = s.Components;
        ulong seed = Xoshiro256StarStar.Mix(s.Seed, (ulong)d);
        double spread = 100.0 / d, step = s.StepSize > 0 ? s.StepSize : 0.01 / d;
        var initRng = new Xoshiro256StarStar(Xoshiro256StarStar.Mix(seed, 1));
        IsotropicGaussianMixture q0 = IsotropicGaussianMixture.Initialize(initRng, n, d, spread, 10);
        var klRng = new Xoshiro256StarStar(Xoshiro256StarStar.Mix(seed, 3));
        if (method == "ibw")
        {
            var flow = new IsotropicMixtureFlow(target, IsotropicMixtureAlgorithms.Create("ibw"), n, new IsotropicMixtureFlowOptions(step, 10));
            var (result, seconds) = Timed(flow, IsotropicMixtureState.Start(q0, Xoshiro256StarStar.Mix(seed, 2)), s.Iterations, cancellation);
            return Finish(method, d, result, seconds, result.Status == RunStatus.Completed ? KlEstimator.Estimate(result.FinalState.ToMixture(), target, klRng, 1000) : null);
        }
        var factors = new double[n * d * d];
        for (int k = 0; k < n; k++)
            for (int i = 0; i < d; i++) factors[k * d * d + i * d + i] = Math.Sqrt(10);
        var state = new GaussianParticleState([.. q0.Means], factors, [.. Enumerable.Repeat(1.0 / n, n)], 0, new Xoshiro256StarStar(Xoshiro256StarStar.Mix(seed, 2)));
        var bw = new BuresWassersteinFlow(target, n, new BuresWassersteinFlowOptions(step));
        bool full = d <= s.BwMaxDimension;
        var (bwResult, bwSeconds) = Timed(bw, state, full ? s.Iterations : s.TimingIterations, cancellation);
        KlEstimate? kl = full && bwResult.Status == RunStatus.Completed ? KlEstimator.Estimate(bwResult.FinalState.ToMixture(), target, klRng, 1000) : null;
        ScalingRun run = Finish(method, d, bwResult, bwSeconds, kl);
        return full || bwResult.Status != RunStatus.Completed ? run : run with { Status = $"timed over {s.TimingIterations} steps" };
    }

    private static (RunResult<TState> Result, double Seconds) Timed<TState>(IVariationalFlow<TState> flow, TState state, long iterations, CancellationToken cancellation)
        where TState : IFlowState<TState>
    {
        // Untimed steps first, from the same start, until the JIT has had 0.3 s to promote the hot methods (tiered
        // compilation compiles them optimised in the background): the time is then the optimised code's.
        var warmUp = Stopwatch.StartNew();
        do VariationalRunner.Run(flow, state, new RunOptions(Math.Min(iterations, 50), TraceEvery: 0), cancellationToken: cancellation);
        while (warmUp.Elapsed.TotalSeconds < 0.3);
        var clock = Stopwatch.StartNew();
        RunResult<TState> result = VariationalRunner.Run(flow, state, new RunOptions(iterations, TraceEvery: 0), cancellationToken: cancellation);
        clock.Stop();
        if (result.Status == RunStatus.Cancelled) throw new OperationCanceledException(cancellation);
        return (result, clock.Elapsed.TotalSeconds);
    }

    private static ScalingRun Finish<TState>(string method, int d, RunResult<TState> result, double seconds, KlEstimate? kl) where TState : IFlowState<TState>
    {
        long steps = result.FinalState.Iteration;
        return new ScalingRun(d, method, steps, steps > 0 ? seconds / steps : double.NaN, kl,
            result.Status == RunStatus.Failed ? $"failed: {result.Message}" : "completed");
    }

    private static string Line(ScalingRun r) => string.Create(CultureInfo.InvariantCulture,
        $"d = {r.Dimension} {r.Method}: {r.Status}, {r.Iterations} iterations, {r.SecondsPerIteration * 1e3:G4} ms per iteration")
        + (r.Kl is { } kl ? string.Create(CultureInfo.InvariantCulture, $", KL {kl.Value:G4} ± {kl.StandardError:G2}") : "");

    private static Dictionary<string, string> Files(IReadOnlyList<ScalingRun> runs, DimensionScalingSettings s)
    {
        static string N(double? v) => v is { } x && double.IsFinite(x) ? x.ToString("R", CultureInfo.InvariantCulture) : "";
        // Times differ between runs by nature: they go to timings.csv and time.svg only, so results.csv and report.html
        // repeat bit for bit.
        var results = new StringBuilder("dimension,method,status,iterations,kl,kl_se\n");
        var timings = new StringBuilder("dimension,method,iterations,seconds_per_iteration\n");
        foreach (ScalingRun r in runs)
        {
            results.Append(CultureInfo.InvariantCulture, $"{r.Dimension},{r.Method},{ModelSummary.Csv(r.Status)},{r.Iterations},{N(r.Kl?.Value)},{N(r.Kl?.StandardError)}\n");
            timings.Append(CultureInfo.InvariantCulture, $"{r.Dimension},{r.Method},{r.Iterations},{N(r.SecondsPerIteration)}\n");
        }
        Series Of(string method, string label, Func<ScalingRun, double?> pick, int color) =>
            new(label, [.. runs.Where(r => r.Method == method && pick(r) is { } v && double.IsFinite(v) && v > 0).Select(r => ((double)r.Dimension, pick(r)!.Value))], Plots.Palette[color]);
        var files = new Dictionary<string, string>
        {
            ["results.csv"] = results.ToString(),
            ["timings.csv"] = timings.ToString(),
            ["time.svg"] = Plots.Lines([Of("ibw", $"IBW, N = {s.Components}", r => r.SecondsPerIteration, 0), Of("bw", $"BW mixture flow, K = {s.Components}", r => r.SecondsPerIteration, 1)],
                "time per iteration against dimension", "dimension d", "seconds per iteration", logX: true, logY: true),
            ["kl.svg"] = Plots.Lines([Of("ibw", $"IBW, N = {s.Components}", r => r.Kl?.Value, 0), Of("bw", $"BW mixture flow, K = {s.Components}", r => r.Kl?.Value, 1)],
                $"KL after {s.Iterations} iterations", "dimension d", "KL(q‖π)", logX: true, logY: true),
        };
        var body = new StringBuilder(string.Create(CultureInfo.InvariantCulture,
            $"<p>Targets: five full-covariance components, means uniform in [−100/d, 100/d]^d, covariance scale 5 (target seed d). Both fits: {s.Components} components from means uniform in [−100/d, 100/d]^d with variances 10, γ = h = {(s.StepSize > 0 ? ResultFiles.G(s.StepSize) : "0.01/d")}, {s.Iterations} iterations; the full-covariance flow beyond d = {s.BwMaxDimension} only timed over {s.TimingIterations} steps. Times (time.svg, timings.csv) are measured on this machine and differ between runs.</p>\n"));
        body.Append(Html.Table(["d", "method", "status", "iterations", "KL (1,000 draws)"],
            [.. runs.Select(r => new[] { r.Dimension.ToString(CultureInfo.InvariantCulture), r.Method, r.Status, r.Iterations.ToString(CultureInfo.InvariantCulture),
                r.Kl is { } kl ? $"{ResultFiles.G(kl.Value)} ± {ResultFiles.G(kl.StandardError)}" : "—" })]));
        body.Append(Html.Figure("time.svg", "Seconds per iteration against d (log–log): IBW's grows about linearly, the full-covariance flow's like d³."));
        body.Append(Html.Figure("kl.svg", "Final KL against d for both fits (true KL: the targets' normalising constants are known)."));
        files["report.html"] = Html.Page("Wasserflow: paper 000, Figure 2 — time and KL against dimension", body.ToString());
        return files;
    }
}
