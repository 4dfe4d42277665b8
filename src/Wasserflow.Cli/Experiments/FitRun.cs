using System.Globalization;
using System.Text;
using System.Text.Json;
using Wasserflow.Diagnostics;
using Wasserflow.Families;
using Wasserflow.Flows;
using Wasserflow.Parameters;
using Wasserflow.Randomness;
using Wasserflow.Reports;
using Wasserflow.Running;
using Wasserflow.Targets;

namespace Wasserflow.Experiments;

/// <summary>The outcome of one configured run, with everything its report shows.</summary>
/// <param name="Job">The target's parameters and the fit's settings.</param>
/// <param name="Target">The target it ran on.</param>
/// <param name="Result">The run loop's result.</param>
/// <param name="FinalKl">KL of the final mixture from 10·B_KL draws (true KL when log Z is known).</param>
/// <param name="Grid">In 2-D, KL against the grid-normalised target; otherwise null.</param>
/// <param name="Posterior">For a model target: the posterior summary and predictive; otherwise null.</param>
public sealed record FitOutcome(FitJob Job, ITarget Target, RunResult<IsotropicMixtureState> Result, KlEstimate FinalKl, GridKlResult? Grid, ModelOutcome? Posterior = null)
{
    /// <summary>The fitted mixture.</summary>
    public IsotropicGaussianMixture Mixture => Result.FinalState.ToMixture();

    /// <summary>The fit's settings.</summary>
    public FitSettings Config => Job.Fit;
}

/// <summary>Runs a <see cref="FitJob"/> of an isotropic algorithm and writes its result files and report.</summary>
public static class FitRun
{
    /// <summary>Stream ids of the run's seed: initialisation, algorithm, trace, final KL.</summary>
    private const ulong InitStream = 1, FlowStream = 2, TraceStream = 3, FinalStream = 4;

    /// <summary>Validates and runs <paramref name="job"/>.</summary>
    /// <exception cref="InvalidParameterException">A setting is invalid.</exception>
    /// <param name="job">The target's parameters and the fit's settings.</param>
    /// <param name="observer">Sees the run's steps and KL estimates.</param>
    /// <param name="cancellationToken">Stops the run after its current step.</param>
    /// <param name="checkpoint">Where the run keeps its checkpoint.</param>
    /// <param name="target">The target already built from <paramref name="job"/>'s parameters (a data file is then read once), or null to build it.</param>
    public static FitOutcome Run(FitJob job, IRunObserver? observer = null, CancellationToken cancellationToken = default, CheckpointSlot? checkpoint = null, ITarget? target = null)
    {
        ArgumentNullException.ThrowIfNull(job);
        ITarget model = target ?? job.Target.Build();
        FitSettings config = job.Fit;
        config.Validate(model);
        AffineTarget? whitened = config.Whitens(model) ? FitStart.Whitened(model) : null;
        target = whitened ?? model;
        var initRng = new Xoshiro256StarStar(Xoshiro256StarStar.Mix(config.Seed, InitStream));
        var q0 = whitened is not null ? FitStart.IsotropicAt(FitStart.StandardNormal(target.Dimension), config.Components, initRng)
            : config.StartsAtLaplace(target) ? FitStart.IsotropicAt(FitStart.Laplace(target), config.Components, initRng)
            : IsotropicGaussianMixture.Initialize(initRng, config.Components, target.Dimension, config.InitSpread, config.InitVariance);
        var flow = new IsotropicMixtureFlow(target, IsotropicMixtureAlgorithms.Create(config.Algorithm), config.Components,
            new IsotropicMixtureFlowOptions(config.StepSize, config.Samples, MaxDegreeOfParallelism: config.Threads, StepControl: config.StepControl));
        var state = IsotropicMixtureState.Start(q0, Xoshiro256StarStar.Mix(config.Seed, FlowStream));
        var options = new RunOptions(config.Iterations, config.KlEvery, config.KlSamples, Xoshiro256StarStar.Mix(config.Seed, TraceStream),
            config.WindowRule);
        var result = VariationalRunner.Run(flow, state, options, observer, cancellationToken, checkpoint);
        var mixture = result.FinalState.ToMixture();
        try
        {
            KlEstimate finalKl = KlEstimator.Estimate(mixture, target, new Xoshiro256StarStar(Xoshiro256StarStar.Mix(config.Seed, FinalStream)), 10 * config.KlSamples);
            GridKlResult? grid = target.Dimension == 2 ? GridKl.Compute(mixture, target, PlotBox(target, mixture), 300) : null;
            ModelOutcome? posterior = result.Status is RunStatus.Completed or RunStatus.Converged
                ? ModelSummary.Analyse(model, FitStart.InOriginalCoordinates(whitened, (rng, v) => { mixture.Sample(rng, v); return mixture.LogDensity(v); }), config.Seed) : null;
            return new FitOutcome(job, target, result, finalKl, grid, posterior);
        }
        catch (TargetEvaluationException ex)
        {
            // The last state is valid but so spread out that the target cannot be evaluated where it puts mass (a
            // variance blown up by a too-large step): report the run as failed rather than a KL of ±∞.
            return new FitOutcome(job, target, FinalKlFailed(result, ex, " (the mixture has spread out; try a smaller --step-size)"),
                new KlEstimate(double.NaN, double.NaN, 0, target.LogNormalizer.HasValue), null);
        }
    }

    /// <summary>The run marked failed because its final KL could not be estimated, with the reason appended to any earlier message.</summary>
    internal static RunResult<TState> FinalKlFailed<TState>(RunResult<TState> result, TargetEvaluationException ex, string hint)
        where TState : IFlowState<TState> => result with
        {
            Status = RunStatus.Failed,
            Message = $"{(result.Message is null ? "" : result.Message + "; ")}the final KL could not be estimated: {ex.Message}{hint}",
        };

    /// <summary>The plotting and grid box: the fitted mixture's 4σ box, widened to hold the target's components.</summary>
    public static Box2D PlotBox(ITarget target, IsotropicGaussianMixture mixture)
    {
        ArgumentNullException.ThrowIfNull(mixture);
        Box2D box = target switch
        {
            GaussianMixtureTarget g => TargetBox(g),
            FunnelTarget => new Box2D(-5, 5, -12, 12),
            _ => new Box2D(-5, 5, -5, 5),
        };
        Box2D around = Box2D.Around(mixture, 3);
        // Keep the box on the target: a stray wide component should not shrink the picture to a dot.
        return new Box2D(Math.Max(box.XMin - 5, Math.Min(box.XMin, around.XMin)), Math.Min(box.XMax + 5, Math.Max(box.XMax, around.XMax)),
            Math.Max(box.YMin - 5, Math.Min(box.YMin, around.YMin)), Math.Min(box.YMax + 5, Math.Max(box.YMax, around.YMax)));
    }

    private static Box2D TargetBox(GaussianMixtureTarget g)
    {
        double x0 = double.MaxValue, x1 = double.MinValue, y0 = double.MaxValue, y1 = double.MinValue;
        for (int k = 0; k < g.ComponentCount; k++)
        {
            double rx = 3.5 * Math.Sqrt(g.ComponentVariance(k, 0)), ry = 3.5 * Math.Sqrt(g.ComponentVariance(k, 1));
            x0 = Math.Min(x0, g.ComponentMean(k)[0] - rx); x1 = Math.Max(x1, g.ComponentMean(k)[0] + rx);
            y0 = Math.Min(y0, g.ComponentMean(k)[1] - ry); y1 = Math.Max(y1, g.ComponentMean(k)[1] + ry);
        }
        return new Box2D(x0, x1, y0, y1);
    }

    /// <summary>
    /// The deterministic result files of a run (result.json, trace.csv, plots, report.html): byte-for-byte the same
    /// for the same config and seed. Timings go to timings.json, the one file that differs between runs.
    /// </summary>
    public static Dictionary<string, string> Files(FitOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var files = new Dictionary<string, string>
        {
            ["result.json"] = ResultJson(outcome),
            ["trace.csv"] = ResultFiles.TraceCsv(outcome.Result.Trace),
            ["timings.json"] = TimingsJson(outcome),
        };
        var plots = RunPlots(outcome);
        foreach (var (name, svg) in plots) files[name] = svg;
        if (outcome.Posterior is { } posterior) ModelSummary.AddFiles(files, posterior);
        files["report.html"] = Html.Page($"Wasserflow run: {outcome.Config.Algorithm.ToUpperInvariant()} with N = {outcome.Config.Components} on {outcome.Target.Name}",
            RunSection(outcome, plots.Keys.ToList()) + (outcome.Posterior is { } p ? ModelSummary.Html(p) : ""));
        return files;
    }

    /// <summary>The SVG plots of one run: the KL trace, and the 2-D density or the marginals.</summary>
    public static Dictionary<string, string> RunPlots(FitOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var plots = new Dictionary<string, string>
        {
            ["kl.svg"] = Plots.Lines([TraceSeries(outcome, Plots.Palette[0])], "KL(q‖π) along the run", "iteration", "KL estimate", logX: true, logY: true),
        };
        if (outcome.Target.Dimension == 2)
        {
            Box2D box = PlotBox(outcome.Target, outcome.Mixture);
            plots["target.svg"] = Plots.TargetDensity(outcome.Target, box, $"target: {outcome.Target.Name}");
            plots["density.svg"] = Plots.Density2D(outcome.Target, outcome.Mixture, box, $"{outcome.Config.Algorithm.ToUpperInvariant()}, N = {outcome.Config.Components}");
        }
        else
            plots["marginals.svg"] = Plots.Marginals(outcome.Target, outcome.Mixture);
        return plots;
    }

    /// <summary>How to read each plot of <see cref="RunPlots"/>, by file name.</summary>
    public static readonly IReadOnlyDictionary<string, string> Captions = new Dictionary<string, string>
    {
        ["kl.svg"] = "Monte Carlo estimate of KL(q‖π) at the logged iterations (KL − log Z when log Z is unknown), log–log axes from the first logged iteration; the table's final value uses more draws.",
        ["target.svg"] = "The target density, normalised on the plotted grid; the colour bar gives the density.",
        ["density.svg"] = "The fitted mixture's density on the target's colour scale (a fit denser than the target's peak saturates at the top colour); white dots are the component means m_j, white circles their 1-sd radius √ε_j.",
        ["marginals.svg"] = "Each coordinate's marginal density: the fit solid blue, the target dashed red (drawn for Gaussian-mixture targets only).",
    };

    /// <summary>The KL trace as a plot series (iteration 0 is left out on log axes, which start at the first logged iteration).</summary>
    public static Series TraceSeries(FitOutcome outcome, string color, string? label = null, string? dash = null)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        return new Series(label ?? $"{outcome.Config.Algorithm.ToUpperInvariant()} N={outcome.Config.Components}",
            outcome.Result.Trace.Select(p => ((double)p.Iteration, p.Kl)).ToList(), color, dash);
    }

    /// <summary>The HTML section describing one run: settings, numbers and plots.</summary>
    public static string RunSection(FitOutcome outcome, IReadOnlyList<string> plotFiles)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        ArgumentNullException.ThrowIfNull(plotFiles);
        var c = outcome.Config;
        var r = outcome.Result;
        var rows = new List<(string, string)>
        {
            ("status", ResultFiles.StatusRow(r)),
            ("target", $"{outcome.Target.Name}, d = {outcome.Target.Dimension}"),
            ("family", $"uniform mixture of N = {c.Components} isotropic Gaussians"),
            ("algorithm", $"{c.Algorithm.ToUpperInvariant()}, γ = {ResultFiles.G(c.StepSize)}, B = {c.Samples}"),
            ("iterations", $"{r.FinalState.Iteration} of {c.Iterations} (step control halved a component's step {r.FinalState.StepReductions} times)"),
            ("seed", c.Seed.ToString(CultureInfo.InvariantCulture)),
            (outcome.FinalKl.IsExact ? "final KL (Monte Carlo)" : "final KL − log Z (Monte Carlo)", $"{ResultFiles.G(outcome.FinalKl.Value)} ± {ResultFiles.G(outcome.FinalKl.StandardError)} ({outcome.FinalKl.Draws} draws)"),
        };
        if (c.WindowRule is { } rule) rows.Add(("stop rule (--early-stop)", ResultFiles.StopRuleText(rule, r.Trace)));
        if (outcome.Grid is { } grid)
            rows.Add(("KL vs grid-normalised target", $"{ResultFiles.G(grid.Kl)} (grid {grid.Resolution}², log Z_grid = {ResultFiles.G(grid.LogNormalizer)}, mass of q in box {ResultFiles.G(grid.MassOfQ)})"));
        var sb = new StringBuilder();
        sb.Append(Html.Table(["quantity", "value"], rows.Select(t => new[] { t.Item1, t.Item2 }).ToList()));
        foreach (string f in plotFiles) sb.Append(Html.Figure(f, Captions.TryGetValue(f, out string? caption) ? caption : f));
        return sb.ToString();
    }

    private static string ResultJson(FitOutcome o) => ResultFiles.Json(w =>
    {
        var r = o.Result;
        ResultFiles.WriteHeader(w, o.Job.Target, o.Job.Fit);
        ResultFiles.WriteStatus(w, r);
        if (o.Config.WindowRule is { } rule) ResultFiles.WriteStopRule(w, rule, r.Trace);
        w.WriteNumber("iterationsDone", r.FinalState.Iteration);
        w.WriteNumber("stepReductions", r.FinalState.StepReductions);
        ResultFiles.WriteKl(w, "finalKl", o.FinalKl);
        if (o.Posterior is { } posterior) ModelSummary.WriteJson(w, posterior);
        if (o.Target is AffineTarget whitened) ResultFiles.WriteWhitening(w, whitened);
        if (o.Grid is { } g)
        {
            w.WriteStartObject("gridKl");
            w.WriteNumber("value", g.Kl);
            w.WriteNumber("logNormalizer", g.LogNormalizer);
            w.WriteNumber("massOfQ", g.MassOfQ);
            w.WriteNumber("resolution", g.Resolution);
            ResultFiles.WriteArray(w, "box", [g.Box.XMin, g.Box.XMax, g.Box.YMin, g.Box.YMax]);
            w.WriteEndObject();
        }
        int d = o.Target.Dimension;
        w.WriteStartObject("mixture");
        w.WriteStartArray("means");
        for (int j = 0; j < r.FinalState.ComponentCount; j++)
        {
            w.WriteStartArray();
            for (int i = 0; i < d; i++) w.WriteNumberValue(r.FinalState.Means[j * d + i]);
            w.WriteEndArray();
        }
        w.WriteEndArray();
        ResultFiles.WriteArray(w, "variances", r.FinalState.Variances);
        w.WriteEndObject();
        ResultFiles.WriteRngAndTrace(w, r.FinalState.Rng.GetState(), r.Trace);
    });

    private static string TimingsJson(FitOutcome o)
    {
        var r = o.Result;
        long steps = r.Trace.Count > 0 ? r.FinalState.Iteration - r.Trace[0].Iteration : 0;
        return ResultFiles.Timings(("stepSeconds", r.StepSeconds), ("traceSeconds", r.TraceSeconds), ("iterationsPerSecond", r.IterationsPerSecond(steps)),
            ("threads", o.Config.Threads));
    }
}
