using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Wasserflow.Diagnostics;
using Wasserflow.Flows;
using Wasserflow.Randomness;
using Wasserflow.Reports;
using Wasserflow.Targets;

namespace Wasserflow.Experiments;

/// <summary>The outcome of a <c>wasserflow rovi</c> run: the target, the settings and every restart.</summary>
/// <param name="Target">The target.</param>
/// <param name="Options">The library's options the fit ran with.</param>
/// <param name="Result">Every restart.</param>
/// <param name="Seconds">Wall-clock seconds of the fit.</param>
/// <param name="Settings">The settings records to record in result.json (the target's parameters and the command's settings), if any.</param>
public sealed record RotationalFitOutcome(ITarget Target, RotationalViOptions Options, RotationalViResult Result, double Seconds, IReadOnlyList<object>? Settings = null);

/// <summary>
/// Polyhedral MFVI or rotational VI on any target (paper 003; the `rovi` command): runs <see cref="RotationalVi.Fit"/>
/// and writes result.json (settings, every restart's F̂ ± SE, iterations, O, v, λ), restarts.csv, trace.csv, trace.svg,
/// maps.svg (the fitted S_i), marginals.svg (exact densities of T#ρ's coordinates), samples.svg in 2-D and report.html.
/// </summary>
public static class RotationalFitRun
{
    /// <summary>Runs the fit.</summary>
    /// <exception cref="ArgumentException">An option is out of range (the message names it).</exception>
    /// <exception cref="TargetEvaluationException">The target returned a non-finite value.</exception>
    /// <exception cref="OperationCanceledException">Cancelled (each restart has written its checkpoint).</exception>
    public static RotationalFitOutcome Run(ITarget target, RotationalViOptions options, IReadOnlyList<object>? settings = null, CancellationToken cancellation = default,
        Running.CheckpointStore? checkpoints = null, Func<int, Running.IRunObserver?>? observers = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = RotationalVi.Fit(target, options, cancellation, checkpoints, observers);
        return new RotationalFitOutcome(target, options, result, clock.Elapsed.TotalSeconds, settings);
    }

    private static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The run's files, by name; everything but timings.json is the same for the same settings and seed.</summary>
    public static Dictionary<string, string> Files(RotationalFitOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var o = outcome.Options;
        var restarts = outcome.Result.Restarts;
        var best = outcome.Result.Best;
        string method = o.Rotate ? "RoVI" : "MFVI";
        string quantity = outcome.Target.LogNormalizer == 0 ? "KL" : "KL − log Z";
        var files = new Dictionary<string, string>();

        files["result.json"] = ResultJson(outcome, method, quantity);

        var table = new StringBuilder("restart,free_energy,standard_error,iterations,converged\n");
        var trace = new StringBuilder("restart,iteration,estimate\n");
        var series = new List<Series>();
        foreach (var r in restarts)
        {
            table.Append(CultureInfo.InvariantCulture, $"{r.Index},{F(r.FreeEnergy)},{F(r.StandardError)},{r.Iterations},{r.Converged}\n");
            foreach (var (iteration, estimate) in r.Trace) trace.Append(CultureInfo.InvariantCulture, $"{r.Index},{iteration},{F(estimate)}\n");
            if (r.Trace.Count > 0)
                series.Add(new Series($"restart {r.Index}", r.Trace.Select(p => ((double)p.Iteration, p.Estimate)).ToList(), Plots.Palette[r.Index % Plots.Palette.Length]));
        }
        files["restarts.csv"] = table.ToString();
        files["trace.csv"] = trace.ToString();
        var body = new StringBuilder();
        body.Append(CultureInfo.InvariantCulture, $"<p>{method} on {WebUtility.HtmlEncode(outcome.Target.Name)} (d = {outcome.Target.Dimension}); dictionary {best.Fit.Dictionary.Name}, ")
            .Append(CultureInfo.InvariantCulture, $"N = {o.BatchSize}, τ = {ResultFiles.G(o.StepSize)}, η_O = {ResultFiles.G(o.RotationStepSize)}, at most {o.MaxIterations} iterations, {o.Restarts} restarts, seed {o.Seed}. ")
            .Append(CultureInfo.InvariantCulture, $"Best restart: {best.Index}, {quantity} {ResultFiles.G(best.FreeEnergy)} ± {ResultFiles.G(best.StandardError)} on {o.FinalSamples} fresh draws.</p>\n");
        body.Append(Html.Table(["restart", quantity + " ± SE", "iterations", "stopped by rule", "warnings"],
            restarts.Select(r => new[] { r.Index.ToString(CultureInfo.InvariantCulture), $"{ResultFiles.G(r.FreeEnergy)} ± {ResultFiles.G(r.StandardError)}",
                r.Iterations.ToString(CultureInfo.InvariantCulture), r.Converged ? "yes" : "no", string.Join(" ", r.Warnings) }).ToList()));
        if (series.Count > 0)
        {
            bool positive = series.All(s => s.Points.All(p => p.Y > 0));
            files["trace.svg"] = Plots.Lines(series, $"{method}: running estimate of {quantity}", "iteration", quantity, logX: false, logY: positive);
            body.Append(Html.Figure("trace.svg", "Each restart's fresh-sample estimate of the free energy (KL − log Z; KL when log Z = 0) as it ran; the window rule stops a restart when it levels off."));
        }
        MapPlots(outcome, method, files, body);
        if (outcome.Target.Dimension == 2) SamplesPlot(outcome, method, files, body);
        files["report.html"] = Html.Page($"Wasserflow {method} on {outcome.Target.Name}", body.ToString());
        files["timings.json"] = ResultFiles.Timings(("seconds", outcome.Seconds), ("threads", o.Threads));
        return files;
    }

    private static string ResultJson(RotationalFitOutcome outcome, string method, string quantity) => ResultFiles.Json(w =>
    {
        var o = outcome.Options;
        var restarts = outcome.Result.Restarts;
        var best = outcome.Result.Best;
        if (outcome.Settings is { } settings) ResultFiles.WriteHeader(w, [.. settings]);
        w.WriteString("target", outcome.Target.Name);
        w.WriteNumber("dimension", outcome.Target.Dimension);
        w.WriteString("method", method);
        w.WriteString("dictionary", best.Fit.Dictionary.Name);
        w.WriteString("step", o.Step == MeanFieldStepKind.ForwardBackward ? "forward-backward" : "projected-gradient");
        w.WriteNumber("batchSize", o.BatchSize);
        w.WriteNumber("maxIterations", o.MaxIterations);
        w.WriteNumber("stepSize", o.StepSize);
        w.WriteNumber("rotationStepSize", o.RotationStepSize);
        w.WriteNumber("initialSpread", o.InitialSpread);
        w.WriteNumber("restartCount", o.Restarts);
        w.WriteNumber("seed", o.Seed);
        w.WriteString("quantity", quantity);
        w.WriteNumber("best", best.Index);
        w.WriteStartArray("restarts");
        foreach (var r in restarts)
        {
            w.WriteStartObject();
            w.WriteNumber("index", r.Index);
            w.WriteNumber("freeEnergy", r.FreeEnergy);
            w.WriteNumber("standardError", r.StandardError);
            w.WriteNumber("iterations", r.Iterations);
            w.WriteBoolean("converged", r.Converged);
            ResultFiles.WriteArray(w, "center", r.Fit.Center);
            ResultFiles.WriteArray(w, "rotation", r.Fit.Rotation);
            ResultFiles.WriteArray(w, "offset", r.Fit.Offset);
            ResultFiles.WriteArray(w, "weights", r.Fit.Weights);
            w.WriteStartArray("warnings");
            foreach (string warning in r.Warnings) w.WriteStringValue(warning);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
    });

    // The fitted maps S_i (steps show as jumps) and the exact densities of the unrotated marginals (T#ρ)_i.
    private static void MapPlots(RotationalFitOutcome outcome, string method, Dictionary<string, string> files, StringBuilder body)
    {
        var best = outcome.Result.Best;
        int shown = Math.Min(6, outcome.Target.Dimension);
        var maps = new List<Series>();
        var densities = new List<Series>();
        for (int i = 0; i < shown; i++)
        {
            ReadOnlySpan<double> lambda = best.Fit.CoordinateWeights(i);
            var map = new List<(double, double)>();
            for (int k = 0; k <= 700; k++)
            {
                double t = -3.5 + k * 0.01;
                map.Add((t, best.Fit.Offset[i] + best.Fit.Dictionary.Map(lambda, t)));
            }
            maps.Add(new Series($"S_{i + 1}", map, Plots.Palette[i % Plots.Palette.Length]));
            double lo = map[0].Item2, hi = map[^1].Item2, width = hi - lo;
            var density = new List<(double, double)>();
            for (int k = 0; k <= 400; k++)
            {
                double y = lo - 0.1 * width + k * 1.2 * width / 400;
                density.Add((y, best.Fit.MarginalDensity(i, y)));
            }
            densities.Add(new Series($"coordinate {i + 1}", density, Plots.Palette[i % Plots.Palette.Length]));
        }
        files["maps.svg"] = Plots.Lines(maps, $"{method}: fitted maps v_i + S_i(t) (best restart)", "t (reference N(0, 1))", "v_i + S_i(t)", logX: false, logY: false);
        files["marginals.svg"] = Plots.Lines(densities, $"{method}: exact marginal densities of T#ρ, before the rotation O", "y", "density", logX: false, logY: false);
        body.Append(Html.Figure("maps.svg", "The fitted increasing maps v_i + S_i(t) of the best restart, one per coordinate, against the reference coordinate t ~ N(0, 1)."))
            .Append(Html.Figure("marginals.svg", "The exact marginal densities of T#ρ's coordinates (before the rotation O), one per coordinate."));
    }

    // In 2-D: draws of the best restart over the target's density.
    private static void SamplesPlot(RotationalFitOutcome outcome, string method, Dictionary<string, string> files, StringBuilder body)
    {
        var o = outcome.Options;
        var best = outcome.Result.Best;
        const int Count = 2000;
        double[] z = best.Fit.Sample(new Xoshiro256StarStar(Xoshiro256StarStar.Mix(o.Seed, 77)), Count);
        double xMin = double.PositiveInfinity, xMax = double.NegativeInfinity, yMin = double.PositiveInfinity, yMax = double.NegativeInfinity;
        for (int p = 0; p < Count; p++)
        {
            xMin = Math.Min(xMin, z[2 * p]); xMax = Math.Max(xMax, z[2 * p]);
            yMin = Math.Min(yMin, z[2 * p + 1]); yMax = Math.Max(yMax, z[2 * p + 1]);
        }
        double half = 0.6 * Math.Max(xMax - xMin, yMax - yMin) + 1, cx = 0.5 * (xMin + xMax), cy = 0.5 * (yMin + yMax);
        files["samples.svg"] = Plots.SamplesOverTarget(outcome.Target, new Box2D(cx - half, cx + half, cy - half, cy + half),
            $"{method}: draws of the best restart over the target", [new Plots.PointPanel($"{method}, restart {best.Index}", z, "#4fa3ff")], maxPoints: Count);
        body.Append(Html.Figure("samples.svg", "Draws of the best restart over the target's density (normalised on the grid)."));
    }
}
