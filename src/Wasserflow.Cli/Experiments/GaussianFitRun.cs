using System.Globalization;
using System.Text;
using System.Text.Json;
using Wasserflow.Diagnostics;
using Wasserflow.Expectations;
using Wasserflow.Families;
using Wasserflow.Flows;
using Wasserflow.Parameters;
using Wasserflow.Randomness;
using Wasserflow.Reports;
using Wasserflow.Running;
using Wasserflow.Targets;

namespace Wasserflow.Experiments;

/// <summary>The outcome of a Bures–Wasserstein run (paper 002) of <c>fit</c>.</summary>
/// <param name="Job">The target's parameters and the fit's settings.</param>
/// <param name="Target">The target.</param>
/// <param name="Result">The run loop's result.</param>
/// <param name="FinalKl">KL of the final fit from 10·B_KL draws (true KL when log Z is known), NaN when it could not be estimated.</param>
/// <param name="CubatureKl">For one Gaussian, the cubature KL − log Z of paper 002's Eq 55 (plus log Z when known); else null.</param>
/// <param name="Posterior">For a model target: the posterior summary and predictive; otherwise null.</param>
public sealed record GaussianFitOutcome(FitJob Job, ITarget Target, RunResult<GaussianParticleState> Result, KlEstimate FinalKl, double? CubatureKl, ModelOutcome? Posterior = null)
{
    /// <summary>ADVI with --adapt-eta: Stan's trials and the η they chose; otherwise null.</summary>
    public AdviEtaSearch? EtaSearch { get; init; }

    /// <summary>ADVI with --tol-rel-obj: Stan's stopping rule's state at the end of the run; otherwise null.</summary>
    public RelativeToleranceCheck? StanStop { get; init; }

    /// <summary>η of an ADVI run: the one Stan's trials chose, or --step-size; null when the trials failed.</summary>
    public double? Eta => EtaSearch?.Eta ?? (Config.IsAdvi && Config.AdaptEta ? null : Config.StepSize);

    /// <summary>The fit's settings.</summary>
    public FitSettings Config => Job.Fit;
}

/// <summary>Runs the Bures–Wasserstein algorithms of <c>fit</c> (bw, bw-euler, bw-wfr, bw-sgd) and writes their files.</summary>
public static class GaussianFitRun
{
    private const ulong InitStream = 1, FlowStream = 2, TraceStream = 3, FinalStream = 4, EtaStream = 5;

    /// <summary>Validates and runs <paramref name="job"/>.</summary>
    /// <exception cref="InvalidParameterException">A setting is invalid, or the target is improper (flat-prior logistic posterior on separable data).</exception>
    /// <param name="job">The target's parameters and the fit's settings.</param>
    /// <param name="observer">Sees the run's steps and KL estimates.</param>
    /// <param name="cancellationToken">Stops the run after its current step.</param>
    /// <param name="checkpoint">Where the run keeps its checkpoint.</param>
    /// <param name="target">The target already built from <paramref name="job"/>'s parameters (a data file is then read once), or null to build it.</param>
    public static GaussianFitOutcome Run(FitJob job, IRunObserver? observer = null, CancellationToken cancellationToken = default, CheckpointSlot? checkpoint = null, ITarget? target = null)
    {
        ArgumentNullException.ThrowIfNull(job);
        FitSettings config = job.Fit;
        ITarget model = target ?? job.Target.Build();
        config.Validate(model);
        AffineTarget? whitened = config.Whitens(model) ? FitStart.Whitened(model) : null;
        target = whitened ?? model;
        if (!config.IsBuresWasserstein) throw new InvalidParameterException(nameof(config.Algorithm), $"'{config.Algorithm}' is not a Bures–Wasserstein algorithm");
        if (target is ITargetWithPropriety propriety && !propriety.CheckProper(out string? reason))
            throw new InvalidParameterException(nameof(job.Target.Target), reason ?? "the posterior is improper");
        int k = config.Components, d = target.Dimension;
        GaussianParticleState state = whitened is not null ? LaplaceStart(config, FitStart.StandardNormal(d), k)
            : config.StartsAtLaplace(target) ? LaplaceStart(config, FitStart.Laplace(target), k)
            : config.IsAdvi && config.Init == "auto" ? Start(config with { InitSpread = 2, InitVariance = 1 }, k, d)
            : Start(config, k, d);
        AdviEtaSearch? etaSearch = null;
        var advi = new AdviOptions(config.Algorithm == "advi-mf" ? AdviFamily.MeanField : AdviFamily.FullRank, config.StepSize, config.Samples);
        if (config.IsAdvi && config.AdaptEta)
        {
            try
            {
                // Deterministic, so a resumed run chooses the same η again rather than storing it.
                etaSearch = AdviFlow.AdaptEta(target, advi, state, Xoshiro256StarStar.Mix(config.Seed, EtaStream), cancellationToken: cancellationToken);
                advi = advi with { Eta = etaSearch.Eta };
            }
            catch (TargetEvaluationException ex)
            {
                var failed = new RunResult<GaussianParticleState>(state, [new TracePoint(0, double.NaN, double.NaN, 0)], RunStatus.Failed,
                    $"choosing η: {ex.Message}", 0, 0);
                return new GaussianFitOutcome(job, target, failed, new KlEstimate(double.NaN, double.NaN, 0, target.LogNormalizer.HasValue), null);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                var cancelled = new RunResult<GaussianParticleState>(state, [new TracePoint(0, double.NaN, double.NaN, 0)], RunStatus.Cancelled,
                    "cancelled while choosing η", 0, 0);
                return new GaussianFitOutcome(job, target, cancelled, new KlEstimate(double.NaN, double.NaN, 0, target.LogNormalizer.HasValue), null);
            }
        }
        RelativeToleranceRule? stanStop = config.IsAdvi && config.TolRelObj > 0
            ? new RelativeToleranceRule(config.TolRelObj, RelativeToleranceRule.StanWindow(config.Iterations, config.KlEvery), target.LogNormalizer ?? 0)
            : null;
        IVariationalFlow<GaussianParticleState> flow = config.Algorithm switch
        {
            "bw-sgd" => new BuresWassersteinSgd(target, new BuresWassersteinSgdOptions(config.StepSize)),
            "advi-mf" or "advi-fr" => new AdviFlow(target, advi),
            _ => new BuresWassersteinFlow(target, k, new BuresWassersteinFlowOptions(
                StepSize: config.StepSize,
                Integrator: config.Algorithm == "bw-euler" ? OdeIntegrator.Euler : OdeIntegrator.RungeKutta4,
                Expectation: config.ExpectationFor(model) switch
                {
                    "mc" => GaussianExpectation.MonteCarlo(config.Samples),
                    "rcub" => GaussianExpectation.RandomizedCubature,
                    _ => GaussianExpectation.Cubature,
                },
                Weighting: config.Algorithm == "bw-wfr" ? ParticleWeighting.WassersteinFisherRao : ParticleWeighting.Uniform,
                MaxDegreeOfParallelism: config.Threads,
                Hessian: config.Hessian)),
        };
        var options = new RunOptions(config.Iterations, config.KlEvery, config.KlSamples, Xoshiro256StarStar.Mix(config.Seed, TraceStream),
            (IStopRule?)stanStop ?? (config.WindowRule));
        RunResult<GaussianParticleState> result = VariationalRunner.Run(flow, state, options, observer, cancellationToken, checkpoint);
        RelativeToleranceCheck? stanCheck = stanStop?.Check(result.Trace);
        if (stanCheck is { MayBeDiverging: true })
            result = result with
            {
                Warnings = [.. result.Warnings, string.Create(CultureInfo.InvariantCulture,
                $"Stan's rule says the ELBO may be diverging: its relative changes average {stanCheck.Value.MeanChange:G3} (median {stanCheck.Value.MedianChange:G3}), above 0.5 (inspect the ELBO trace)")]
            };
        GaussianMixture fit = result.FinalState.ToMixture();
        try
        {
            KlEstimate finalKl = KlEstimator.Estimate(fit, target, new Xoshiro256StarStar(Xoshiro256StarStar.Mix(config.Seed, FinalStream)), 10 * config.KlSamples);
            double? cubature = k == 1 ? KlEstimator.CubatureKl(result.FinalState.Particle(), target) : null;
            ModelOutcome? posterior = result.Status is RunStatus.Completed or RunStatus.Converged
                ? ModelSummary.Analyse(model, FitStart.InOriginalCoordinates(whitened, (rng, v) => { fit.Sample(rng, v); return fit.LogDensity(v); }), config.Seed) : null;
            return new GaussianFitOutcome(job, target, result, finalKl, cubature, posterior) { EtaSearch = etaSearch, StanStop = stanCheck };
        }
        catch (TargetEvaluationException ex)
        {
            return new GaussianFitOutcome(job, target, FitRun.FinalKlFailed(result, ex, ""),
                new KlEstimate(double.NaN, double.NaN, 0, target.LogNormalizer.HasValue), null)
            { EtaSearch = etaSearch, StanStop = stanCheck };
        }
    }

    // K particles with the Laplace covariance, the first at the mode and the others about 1 sd around it.
    private static GaussianParticleState LaplaceStart(FitSettings config, Gaussian laplace, int k)
    {
        int d = laplace.Mean.Length;
        double[] means = FitStart.MeansAround(laplace, k, new Xoshiro256StarStar(Xoshiro256StarStar.Mix(config.Seed, InitStream)));
        var factors = new double[k * d * d];
        for (int j = 0; j < k; j++) laplace.CholeskyFactor.CopyTo(factors.AsSpan(j * d * d, d * d));
        return new GaussianParticleState(means, factors, Enumerable.Repeat(1.0 / k, k).ToArray(), 0,
            new Xoshiro256StarStar(Xoshiro256StarStar.Mix(config.Seed, FlowStream)));
    }

    // K particles: means uniform in [−s, s]^d, covariance r·I (the isotropic family's initialisation keys).
    private static GaussianParticleState Start(FitSettings config, int k, int d)
    {
        var rng = new Xoshiro256StarStar(Xoshiro256StarStar.Mix(config.Seed, InitStream));
        var means = new double[k * d];
        for (int i = 0; i < means.Length; i++) means[i] = config.InitSpread * (2 * rng.NextDouble() - 1);
        var factors = new double[k * d * d];
        for (int j = 0; j < k; j++)
            for (int i = 0; i < d; i++) factors[j * d * d + i * d + i] = Math.Sqrt(config.InitVariance);
        return new GaussianParticleState(means, factors, Enumerable.Repeat(1.0 / k, k).ToArray(), 0,
            new Xoshiro256StarStar(Xoshiro256StarStar.Mix(config.Seed, FlowStream)));
    }

    /// <summary>result.json, trace.csv, kl.svg, fit.svg (2-D), report.html and timings.json of a run.</summary>
    public static Dictionary<string, string> Files(GaussianFitOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var c = outcome.Config;
        var r = outcome.Result;
        var files = new Dictionary<string, string>
        {
            ["result.json"] = ResultJson(outcome),
            ["trace.csv"] = ResultFiles.TraceCsv(r.Trace),
            ["timings.json"] = ResultFiles.Timings(("stepSeconds", r.StepSeconds), ("traceSeconds", r.TraceSeconds), ("substeps", r.FinalState.Substeps), ("threads", c.Threads)),
            ["kl.svg"] = Plots.Lines([new Series($"{c.Algorithm} K={c.Components}", r.Trace.Select(p => ((double)p.Iteration, p.Kl)).ToList(), Plots.Palette[1])],
                "KL(p‖π) along the run", "iteration", outcome.FinalKl.IsExact ? "KL estimate" : "KL − log Z estimate", logX: true,
                logY: r.Trace.All(p => p.Kl > 0)),
        };
        var plots = new List<(string File, string Caption)> { ("kl.svg", FitRun.Captions["kl.svg"]) };
        if (outcome.Target.Dimension == 2)
        {
            GaussianMixture fit = r.FinalState.ToMixture();
            Box2D box = Box2D.Around(fit, 3.5);
            files["target.svg"] = Plots.TargetDensity(outcome.Target, box, $"target: {outcome.Target.Name}");
            files["fit.svg"] = Plots.GaussianFits2D(outcome.Target, box, $"{c.Algorithm}, K = {c.Components}", [], fit);
            plots.InsertRange(0, [("target.svg", FitRun.Captions["target.svg"]),
                ("fit.svg", "The fitted mixture's density on the target's colour scale; white lines are each Gaussian's 2σ contour.")]);
        }
        var rows = new List<string[]>
        {
            new[] { "status", ResultFiles.StatusRow(r) },
            new[] { "target", $"{outcome.Target.Name}, d = {outcome.Target.Dimension}" },
            new[] { "family", c.Components == 1 ? "full-covariance Gaussian" : $"mixture of K = {c.Components} full-covariance Gaussians" },
            new[] { "algorithm", c.IsAdvi
                ? $"{c.Algorithm}, η = {(outcome.Eta is { } eta ? ResultFiles.G(eta) : "none (Stan's trials failed)")}{(outcome.EtaSearch is { } search ? $" (Stan's trials: {EtaTrials(search)})" : "")}, M = {c.Samples} gradient draws, Stan's step-size sequence"
                : $"{c.Algorithm}, h = {ResultFiles.G(c.StepSize)}, expectations {(c.Algorithm == "bw-sgd" ? "one draw" : c.ExpectationFor(outcome.Target is AffineTarget a ? a.Original : outcome.Target))}{(c.Hessian ? ", E[∇²log π] from the model's Hessian" : "")}" },
            new[] { "iterations", $"{r.FinalState.Iteration} of {c.Iterations} (integrator steps {r.FinalState.Substeps})" },
            new[] { "seed", c.Seed.ToString(CultureInfo.InvariantCulture) },
            new[] { outcome.FinalKl.IsExact ? "final KL (Monte Carlo)" : "final KL − log Z (Monte Carlo)", $"{ResultFiles.G(outcome.FinalKl.Value)} ± {ResultFiles.G(outcome.FinalKl.StandardError)} ({outcome.FinalKl.Draws} draws)" },
        };
        if (outcome.CubatureKl is { } cub) rows.Add(["cubature KL (Eq 55)", ResultFiles.G(cub)]);
        if (outcome.StanStop is { } stop) rows.Add(["Stan's stop (--tol-rel-obj)", StanStopText(stop, c.TolRelObj)]);
        else if (c.WindowRule is { } rule) rows.Add(["stop rule (--early-stop)", ResultFiles.StopRuleText(rule, r.Trace)]);
        var body = new StringBuilder(Html.Table(["quantity", "value"], rows));
        foreach (var (f, caption) in plots) body.Append(Html.Figure(f, caption));
        if (outcome.Posterior is { } posterior)
        {
            ModelSummary.AddFiles(files, posterior);
            body.Append(ModelSummary.Html(posterior));
        }
        files["report.html"] = Html.Page($"Wasserflow run: {c.Algorithm} with K = {c.Components} on {outcome.Target.Name}", body.ToString());
        return files;
    }

    /// <summary>Stan's η trials in words: "100 → ELBO −inf, 10 → −52.1, …".</summary>
    public static string EtaTrials(AdviEtaSearch search)
    {
        ArgumentNullException.ThrowIfNull(search);
        return $"start ELBO {ResultFiles.G(search.InitialElbo)}; " + string.Join(", ", search.Trials.Select(t => $"{ResultFiles.G(t.Eta)} → {ResultFiles.G(t.Elbo)}"));
    }

    /// <summary>Where Stan's relative-tolerance rule stands at the end of a run, in words.</summary>
    public static string StanStopText(RelativeToleranceCheck stop, double tolerance) => stop.Criterion switch
    {
        RelativeToleranceCriterion.None => $"not reached: at iteration {stop.Iteration} the relative ELBO changes average {ResultFiles.G(stop.MeanChange)}, median {ResultFiles.G(stop.MedianChange)} (tolerance {ResultFiles.G(tolerance)})",
        var criterion => $"{criterion.ToString().ToLowerInvariant()} relative ELBO change {ResultFiles.G(criterion == RelativeToleranceCriterion.Mean ? stop.MeanChange : stop.MedianChange)} < {ResultFiles.G(tolerance)} at iteration {stop.Iteration} (ELBO {ResultFiles.G(stop.Elbo)})",
    };

    private static string ResultJson(GaussianFitOutcome o) => ResultFiles.Json(w =>
    {
        var r = o.Result;
        int d = o.Target.Dimension;
        ResultFiles.WriteHeader(w, o.Job.Target, o.Job.Fit);
        ResultFiles.WriteStatus(w, r);
        if (o.StanStop is null && o.Config.WindowRule is { } rule) ResultFiles.WriteStopRule(w, rule, r.Trace);
        w.WriteNumber("iterationsDone", r.FinalState.Iteration);
        w.WriteNumber("integratorSteps", r.FinalState.Substeps);
        ResultFiles.WriteKl(w, "finalKl", o.FinalKl);
        if (o.Posterior is { } posterior) ModelSummary.WriteJson(w, posterior);
        if (o.Target is AffineTarget whitened) ResultFiles.WriteWhitening(w, whitened);
        if (o.CubatureKl is { } cub) ResultFiles.WriteFiniteOrNull(w, "cubatureKl", cub);
        if (o.Config.IsAdvi)
        {
            if (o.Eta is { } eta) w.WriteNumber("eta", eta);
            else w.WriteNull("eta");
        }
        if (o.EtaSearch is { } search)
        {
            w.WriteStartObject("etaSearch");
            ResultFiles.WriteFiniteOrNull(w, "initialElbo", search.InitialElbo);
            w.WriteStartArray("trials");
            foreach (var t in search.Trials)
            {
                w.WriteStartObject();
                w.WriteNumber("eta", t.Eta);
                ResultFiles.WriteFiniteOrNull(w, "elbo", t.Elbo);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        if (o.StanStop is { } stop)
        {
            w.WriteStartObject("stanStop");
            w.WriteString("criterion", stop.Criterion.ToString().ToLowerInvariant());
            w.WriteNumber("iteration", stop.Iteration);
            ResultFiles.WriteFiniteOrNull(w, "elbo", stop.Elbo);
            ResultFiles.WriteFiniteOrNull(w, "meanRelativeChange", stop.MeanChange);
            ResultFiles.WriteFiniteOrNull(w, "medianRelativeChange", stop.MedianChange);
            w.WriteBoolean("mayBeDiverging", stop.MayBeDiverging);
            w.WriteEndObject();
        }
        w.WriteStartArray("particles");
        for (int k = 0; k < r.FinalState.ComponentCount; k++)
        {
            w.WriteStartObject();
            w.WriteNumber("weight", r.FinalState.Weights[k]);
            ResultFiles.WriteArray(w, "mean", r.FinalState.Means.AsSpan(k * d, d));
            w.WriteStartArray("choleskyFactor");
            for (int i = 0; i < d; i++) ResultFiles.WriteArray(w, null, r.FinalState.Factors.AsSpan(k * d * d + i * d, i + 1));
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        ResultFiles.WriteRngAndTrace(w, r.FinalState.Rng.GetState(), r.Trace);
    });
}
