using System.Globalization;
using System.Text;
using System.Text.Json;
using Wasserflow.Diagnostics;
using Wasserflow.Expectations;
using Wasserflow.Families;
using Wasserflow.Flows;
using Wasserflow.Randomness;
using Wasserflow.Reports;
using Wasserflow.Running;
using Wasserflow.Targets;

namespace Wasserflow.Experiments;

/// <summary>The outcome of a Bures–Wasserstein run (paper 002) configured by a <see cref="FitConfig"/>.</summary>
/// <param name="Config">The configuration.</param>
/// <param name="Target">The target.</param>
/// <param name="Result">The run loop's result.</param>
/// <param name="FinalKl">KL of the final fit from 10·B_KL draws (true KL when log Z is known), NaN when it could not be estimated.</param>
/// <param name="CubatureKl">For one Gaussian, the cubature KL − log Z of paper 002's Eq 55 (plus log Z when known); else null.</param>
public sealed record GaussianFitOutcome(FitConfig Config, ITarget Target, RunResult<GaussianParticleState> Result, KlEstimate FinalKl, double? CubatureKl);

/// <summary>Runs the Bures–Wasserstein algorithms of a <see cref="FitConfig"/> (bw, bw-euler, bw-wfr, bw-sgd) and writes their files.</summary>
public static class GaussianFitRun
{
    private const ulong InitStream = 1, FlowStream = 2, TraceStream = 3, FinalStream = 4;

    /// <summary>Validates and runs <paramref name="config"/>.</summary>
    /// <exception cref="ConfigException">A setting is invalid, or the target is improper (flat-prior logistic posterior on separable data).</exception>
    public static GaussianFitOutcome Run(FitConfig config, IRunObserver? observer = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        if (!config.IsBuresWasserstein) throw new ConfigException($"algorithm: '{config.Algorithm}' is not a Bures–Wasserstein algorithm");
        ITarget target = config.BuildTarget();
        if (target is ITargetWithPropriety propriety && !propriety.CheckProper(out string? reason))
            throw new ConfigException($"target: {reason}");
        int k = config.Components, d = config.Dimension;
        GaussianParticleState state = Start(config, k, d);
        IVariationalFlow<GaussianParticleState> flow = config.Algorithm == "bw-sgd"
            ? new BuresWassersteinSgd(target, new BuresWassersteinSgdOptions(config.StepSize))
            : new BuresWassersteinFlow(target, k, new BuresWassersteinFlowOptions(
                StepSize: config.StepSize,
                Integrator: config.Algorithm == "bw-euler" ? OdeIntegrator.Euler : OdeIntegrator.RungeKutta4,
                Expectation: config.Expectation == "mc" ? GaussianExpectation.MonteCarlo(config.Samples) : GaussianExpectation.Cubature,
                Weighting: config.Algorithm == "bw-wfr" ? ParticleWeighting.WassersteinFisherRao : ParticleWeighting.Uniform,
                MaxDegreeOfParallelism: config.Threads));
        var options = new RunOptions(config.Iterations, config.KlEvery, config.KlSamples, Xoshiro256StarStar.Mix(config.Seed, TraceStream));
        RunResult<GaussianParticleState> result = VariationalRunner.Run(flow, state, options, observer, cancellationToken);
        GaussianMixture fit = result.FinalState.ToMixture();
        try
        {
            KlEstimate finalKl = KlEstimator.Estimate(fit, target, new Xoshiro256StarStar(Xoshiro256StarStar.Mix(config.Seed, FinalStream)), 10 * config.KlSamples);
            double? cubature = k == 1 ? KlEstimator.CubatureKl(result.FinalState.Particle(), target) : null;
            return new GaussianFitOutcome(config, target, result, finalKl, cubature);
        }
        catch (TargetEvaluationException ex)
        {
            return new GaussianFitOutcome(config, target, FitRun.FinalKlFailed(result, ex, ""),
                new KlEstimate(double.NaN, double.NaN, 0, target.LogNormalizer.HasValue), null);
        }
    }

    // K particles: means uniform in [−s, s]^d, covariance r·I (the isotropic family's initialisation keys).
    private static GaussianParticleState Start(FitConfig config, int k, int d)
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
            ["trace.csv"] = FitRun.TraceCsv(r.Trace),
            ["timings.json"] = string.Create(CultureInfo.InvariantCulture,
                $"{{\n  \"stepSeconds\": {r.StepSeconds:R},\n  \"traceSeconds\": {r.TraceSeconds:R},\n  \"substeps\": {r.FinalState.Substeps},\n  \"threads\": {c.Threads}\n}}\n"),
            ["kl.svg"] = Plots.Lines([new Series($"{c.Algorithm} K={c.Components}", r.Trace.Select(p => ((double)Math.Max(1, p.Iteration), p.Kl)).ToList(), Plots.Palette[1])],
                "KL(p‖π) along the run", "iteration", outcome.FinalKl.IsExact ? "KL estimate" : "KL − log Z estimate", logX: true,
                logY: r.Trace.All(p => p.Kl > 0)),
        };
        var plots = new List<string> { "kl.svg" };
        if (c.Dimension == 2)
        {
            GaussianMixture fit = r.FinalState.ToMixture();
            files["fit.svg"] = Plots.GaussianFits2D(outcome.Target, Box2D.Around(fit, 3.5), $"{c.Algorithm}, K = {c.Components}", [], fit);
            plots.Insert(0, "fit.svg");
        }
        var rows = new List<string[]>
        {
            new[] { "status", r.Status + (r.Message is null ? "" : ": " + r.Message) },
            new[] { "target", $"{outcome.Target.Name}, d = {c.Dimension}" },
            new[] { "family", c.Components == 1 ? "full-covariance Gaussian" : $"mixture of K = {c.Components} full-covariance Gaussians" },
            new[] { "algorithm", $"{c.Algorithm}, h = {FitRun.G(c.StepSize)}, expectations {(c.Algorithm == "bw-sgd" ? "one draw" : c.Expectation)}" },
            new[] { "iterations", $"{r.FinalState.Iteration} of {c.Iterations} (integrator steps {r.FinalState.Substeps})" },
            new[] { "seed", c.Seed.ToString(CultureInfo.InvariantCulture) },
            new[] { outcome.FinalKl.IsExact ? "final KL (Monte Carlo)" : "final KL − log Z (Monte Carlo)", $"{FitRun.G(outcome.FinalKl.Value)} ± {FitRun.G(outcome.FinalKl.StandardError)} ({outcome.FinalKl.Draws} draws)" },
        };
        if (outcome.CubatureKl is { } cub) rows.Add(["cubature KL (Eq 55)", FitRun.G(cub)]);
        var body = new StringBuilder(Html.Table(["quantity", "value"], rows));
        foreach (string f in plots) body.Append(CultureInfo.InvariantCulture, $"<p><img src=\"{f}\" alt=\"{f}\"/></p>\n");
        files["report.html"] = Html.Page($"Wasserflow run: {c.Algorithm} with K = {c.Components} on {outcome.Target.Name}", body.ToString());
        return files;
    }

    private static string ResultJson(GaussianFitOutcome o)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            var r = o.Result;
            int d = o.Config.Dimension;
            w.WriteStartObject();
            w.WriteString("tool", "wasserflow");
            w.WritePropertyName("config");
            o.Config.WriteJson(w);
            w.WriteString("status", r.Status.ToString().ToLowerInvariant());
            if (r.Message is not null) w.WriteString("message", r.Message);
            w.WriteNumber("iterationsDone", r.FinalState.Iteration);
            w.WriteNumber("integratorSteps", r.FinalState.Substeps);
            w.WriteStartObject("finalKl");
            FitRun.WriteFiniteOrNull(w, "value", o.FinalKl.Value);
            FitRun.WriteFiniteOrNull(w, "standardError", o.FinalKl.StandardError);
            w.WriteNumber("draws", o.FinalKl.Draws);
            w.WriteBoolean("isTrueKl", o.FinalKl.IsExact);
            w.WriteEndObject();
            if (o.CubatureKl is { } cub) FitRun.WriteFiniteOrNull(w, "cubatureKl", cub);
            w.WriteStartArray("particles");
            for (int k = 0; k < r.FinalState.ComponentCount; k++)
            {
                w.WriteStartObject();
                w.WriteNumber("weight", r.FinalState.Weights[k]);
                w.WriteStartArray("mean");
                for (int i = 0; i < d; i++) w.WriteNumberValue(r.FinalState.Means[k * d + i]);
                w.WriteEndArray();
                w.WriteStartArray("choleskyFactor");
                for (int i = 0; i < d; i++)
                {
                    w.WriteStartArray();
                    for (int j = 0; j <= i; j++) w.WriteNumberValue(r.FinalState.Factors[k * d * d + i * d + j]);
                    w.WriteEndArray();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("rngState");
            foreach (ulong s in r.FinalState.Rng.GetState()) w.WriteStringValue(s.ToString("X16", CultureInfo.InvariantCulture));
            w.WriteEndArray();
            w.WriteStartArray("trace");
            foreach (var p in r.Trace)
            {
                w.WriteStartObject();
                w.WriteNumber("iteration", p.Iteration);
                FitRun.WriteFiniteOrNull(w, "kl", p.Kl);
                FitRun.WriteFiniteOrNull(w, "standardError", p.StandardError);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }
}
