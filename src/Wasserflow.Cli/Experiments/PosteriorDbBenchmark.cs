using System.Diagnostics;
using System.Globalization;
using System.Text;
using Wasserflow.Diagnostics;
using Wasserflow.Models;
using Wasserflow.Parameters;
using Wasserflow.Reports;
using Wasserflow.Targets;

namespace Wasserflow.Experiments;

/// <summary>The settings of <c>wasserflow benchmark posteriordb</c>.</summary>
public sealed record PosteriorDbBenchmarkSettings
{
    /// <summary>The folder with the posteriors' data and reference draws.</summary>
    [Parameter("folder holding <name>.data.json and <name>.draws.json.zip (default $WASSERFLOW_POSTERIORDB)")]
    public string Posteriordb { get; init; } = "";

    /// <summary>Which posteriors, comma-separated; empty for all.</summary>
    [Parameter("posteriors, comma-separated (default: all eleven; eight_schools-eight_schools_centered on request)")]
    public string Posteriors { get; init; } = "";

    /// <summary>Which methods, comma-separated.</summary>
    [Parameter("methods, comma-separated: bw (one Gaussian), bw-particles (5 Gaussian particles), ibw (5 isotropic components), advi-mf, advi-fr (as Stan runs them: raw scale, η by Stan's trials, Stan's stop), nuts (4 × 1000 draws, --nuts-metric)")]
    public string Methods { get; init; } = "bw,bw-particles,ibw,advi-mf,advi-fr,nuts";

    /// <summary>The metric NUTS adapts in the benchmark.</summary>
    [Parameter("the metric NUTS adapts (dense: diamonds' correlations otherwise hit the tree depth on most draws, 40× slower)", Choices = typeof(MetricKinds))]
    public string NutsMetric { get; init; } = "dense";

    /// <summary>η of the ADVI baselines; 0 for Stan's trials.</summary>
    [Parameter("η of the ADVI baselines; 0 chooses it as Stan does, by trials of 100, 10, 1, 0.1, 0.01", Minimum = 0)]
    public double AdviEta { get; init; }

    /// <summary>Stan's tol_rel_obj for the ADVI baselines; 0 runs --advi-iterations.</summary>
    [Parameter("Stan's tol_rel_obj for the ADVI baselines (ELBO every 100 iterations from 100 draws); 0 runs all --advi-iterations", Minimum = 0)]
    public double AdviTolRelObj { get; init; } = 0.01;

    /// <summary>Iteration cap of the ADVI baselines (Stan's max_iterations).</summary>
    [Parameter("iteration cap of the ADVI baselines (Stan's max_iterations)", Minimum = 1)]
    public long AdviIterations { get; init; } = 10_000;

    /// <summary>Gradient draws per ADVI step (Stan's grad_samples).</summary>
    [Parameter("gradient draws per ADVI step (Stan's grad_samples)", Minimum = 1, Maximum = 10_000)]
    public int AdviSamples { get; init; } = 1;

    /// <summary>Iteration cap per fit (each stops early when its KL trace settles).</summary>
    [Parameter("iteration cap per fit (each stops early when its KL trace settles)", Minimum = 1)]
    public long Iterations { get; init; } = 2000;

    /// <summary>Step size of every fit (whitened coordinates).</summary>
    [Parameter("step size of every fit (in Laplace-whitened coordinates)", Minimum = 0, ExclusiveMinimum = true)]
    public double StepSize { get; init; } = 0.05;

    /// <summary>Seed of every fit.</summary>
    [Parameter("seed of every fit")]
    public ulong Seed { get; init; }

}

/// <summary>One posterior × method of the benchmark.</summary>
/// <param name="Posterior">The posteriordb name.</param>
/// <param name="Method">bw, bw-particles or ibw.</param>
/// <param name="Status">How the fit ended.</param>
/// <param name="Iterations">Iterations run.</param>
/// <param name="Outcome">The model outcome (summary, ELBO, k̂, reference score), or null when the fit failed.</param>
/// <param name="CpuSeconds">Processor seconds of the fit and its analysis.</param>
/// <param name="McmcScore">For NUTS: its pooled draws scored against the reference; null for the VI methods (theirs is in the outcome).</param>
public sealed record BenchmarkRow(string Posterior, string Method, string Status, long Iterations, ModelOutcome? Outcome, double CpuSeconds, ReferenceScore? McmcScore = null)
{
    /// <summary>The score against the reference draws, of whichever method.</summary>
    public ReferenceScore? Score => Outcome?.Reference ?? McmcScore;
}

/// <summary>
/// Every posteriordb posterior × method: a fit with the model defaults (Laplace-whitened, randomised cubature for the
/// Gaussian flows, early stop) scored against the reference draws; one folder per fit, results.csv and report.html with
/// the reference's noise floor beside the scores.
/// </summary>
public static class PosteriorDbBenchmark
{
    /// <summary>The methods, by name: the algorithm and the number of components.</summary>
    public static IReadOnlyDictionary<string, (string Algorithm, int Components)> MethodTable { get; } = new Dictionary<string, (string, int)>
    {
        ["bw"] = ("bw", 1),
        ["bw-particles"] = ("bw", 5),
        ["ibw"] = ("ibw", 5),
        ["advi-mf"] = ("advi-mf", 1),
        ["advi-fr"] = ("advi-fr", 1),
        ["nuts"] = ("nuts", 1),
    };

    /// <summary>The fits of the benchmark, in order.</summary>
    /// <exception cref="InvalidParameterException">An unknown method or posterior, or no folder.</exception>
    public static IReadOnlyList<(string Posterior, string Method, FitJob Job)> Jobs(PosteriorDbBenchmarkSettings s)
    {
        ArgumentNullException.ThrowIfNull(s);
        string folder = s.Posteriordb.Length > 0 ? s.Posteriordb : Environment.GetEnvironmentVariable("WASSERFLOW_POSTERIORDB") ?? "";
        if (folder.Length == 0) throw new InvalidParameterException(nameof(s.Posteriordb), "give the folder of the posteriordb files (or set WASSERFLOW_POSTERIORDB)");
        string[] methods = [.. s.Methods.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
        foreach (string m in methods)
            if (!MethodTable.ContainsKey(m))
                throw new InvalidParameterException(nameof(s.Methods), $"unknown method '{m}'{(ParameterRecords.Closest(m, MethodTable.Keys) is { } near ? $" (did you mean '{near}'?)" : "")}; the methods are: {string.Join(", ", MethodTable.Keys)}");
        string[] posteriors = s.Posteriors.Length == 0 ? [.. PosteriorDb.Names] : [.. s.Posteriors.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
        foreach (string p in posteriors)
            if (!PosteriorDb.Names.Contains(p) && !PosteriorDb.Extras.Contains(p))
                throw new InvalidParameterException(nameof(s.Posteriors), $"unknown posterior '{p}'; the posteriors are: {string.Join(", ", PosteriorDb.Names.Concat(PosteriorDb.Extras))}");
        var jobs = new List<(string, string, FitJob)>();
        foreach (string p in posteriors)
            foreach (string m in methods)
            {
                var (algorithm, k) = MethodTable[m];
                var fit = new FitSettings
                {
                    Algorithm = algorithm,
                    Components = k,
                    Iterations = s.Iterations,
                    StepSize = s.StepSize,
                    EarlyStop = true,
                    KlEvery = 20,
                    Seed = s.Seed,
                    Output = Path.Combine(p, m),
                };
                // ADVI with Stan's defaults: η by trials, ELBO every 100 iterations from 100 draws, tol_rel_obj, 10,000 iterations.
                if (fit.IsAdvi)
                    fit = fit with
                    {
                        Iterations = s.AdviIterations,
                        AdaptEta = s.AdviEta == 0,
                        StepSize = s.AdviEta == 0 ? s.StepSize : s.AdviEta,
                        TolRelObj = s.AdviTolRelObj,
                        EarlyStop = false,
                        KlEvery = 100,
                        KlSamples = 100,
                        Samples = s.AdviSamples,
                    };
                jobs.Add((p, m, new FitJob(new TargetParameters { Target = "posteriordb", Posterior = p, Posteriordb = folder }, fit)));
            }
        return jobs;
    }

    /// <summary>
    /// Runs one fit (or the NUTS reference run) and measures its processor time. A posterior without a mode (centred eight
    /// schools: the density grows without bound as τ → 0) has no Laplace approximation to start or whiten from; the fit
    /// then runs unwhitened from means uniform in (−2, 2) with unit variances, and its status says so.
    /// </summary>
    public static (BenchmarkRow Row, IReadOnlyDictionary<string, string> Files) Run(string posterior, string method, FitJob job, CancellationToken cancellation, string nutsMetric = "dense")
    {
        ArgumentNullException.ThrowIfNull(job);
        try
        {
            return RunOnce(posterior, method, job, cancellation, nutsMetric);
        }
        catch (InvalidParameterException ex) when (ex.ParamName is nameof(FitSettings.Precondition) or nameof(FitSettings.Init))
        {
            var fallback = job with { Fit = job.Fit with { Precondition = "none", Init = "box", InitSpread = 2, InitVariance = 1 } };
            var (row, files) = RunOnce(posterior, method, fallback, cancellation, nutsMetric);
            return (row with { Status = row.Status + " (no mode: unwhitened; box start)" }, files);
        }
    }

    private static (BenchmarkRow Row, IReadOnlyDictionary<string, string> Files) RunOnce(string posterior, string method, FitJob job, CancellationToken cancellation, string nutsMetric)
    {
        TimeSpan before = Process.GetCurrentProcess().TotalProcessorTime;
        if (method == "nuts")
        {
            var settings = new SampleSettings { Metric = nutsMetric, Seed = job.Fit.Seed, Threads = Math.Min(4, Environment.ProcessorCount), Output = job.Fit.Output };
            SampleOutcome o = SampleRun.Run(job.Target, settings, job.Target.Build(), null, cancellation);
            double cpu = (Process.GetCurrentProcess().TotalProcessorTime - before).TotalSeconds;
            string status = SampleRun.Warnings(o).Any() ? $"{o.Result.Divergences} divergences, max R̂ {o.MaxRhat:F3}" : "completed";
            return (new BenchmarkRow(posterior, method, status, (long)settings.Chains * settings.Draws, null, cpu, o.Reference), SampleRun.Files(o));
        }
        if (job.Fit.IsBuresWasserstein)
        {
            GaussianFitOutcome o = GaussianFitRun.Run(job, cancellationToken: cancellation);
            double cpu = (Process.GetCurrentProcess().TotalProcessorTime - before).TotalSeconds;
            string status = o.Config.IsAdvi ? $"{o.Result.StatusText} (eta {(o.Eta is { } eta ? ResultFiles.G(eta) : "none")})" : o.Result.StatusText;
            return (new BenchmarkRow(posterior, method, status, o.Result.FinalState.Iteration, o.Posterior, cpu), GaussianFitRun.Files(o));
        }
        FitOutcome f = FitRun.Run(job, cancellationToken: cancellation);
        double seconds = (Process.GetCurrentProcess().TotalProcessorTime - before).TotalSeconds;
        return (new BenchmarkRow(posterior, method, f.Result.StatusText, f.Result.FinalState.Iteration, f.Posterior, seconds), FitRun.Files(f));
    }

    /// <summary>The experiment: every fit in turn (one line each through <paramref name="log"/>), then the files of all.</summary>
    public static ExperimentOutput Run(PosteriorDbBenchmarkSettings settings, Action<string> log, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(log);
        var files = new Dictionary<string, string>();
        var rows = new List<BenchmarkRow>();
        var summary = new List<string>();
        foreach (var (posterior, method, job) in Jobs(settings))
        {
            var (row, fitFiles) = Run(posterior, method, job, cancellation, settings.NutsMetric);
            rows.Add(row);
            foreach (var (name, text) in fitFiles) files[Path.Combine(posterior, method, name)] = text;
            ReferenceScore? s = row.Score;
            string line = string.Create(CultureInfo.InvariantCulture,
                $"{posterior} {method}: {row.Status}, {row.Iterations} iterations, ")
                + (s is null ? "no score" : string.Create(CultureInfo.InvariantCulture, $"max |Δmean|/sd {s.MaxStandardisedMeanError:G3}, sd ratios {s.MinSdRatio:G3}–{s.MaxSdRatio:G3}, W2 {s.GaussianW2:G3}")
                    + (row.Outcome is { } o ? string.Create(CultureInfo.InvariantCulture, $", k̂ {o.Posterior.ParetoK:F2}") : ""))
                + string.Create(CultureInfo.InvariantCulture, $", {row.CpuSeconds:F1} CPU s");
            summary.Add(line);
            log(line);
        }
        foreach (var (name, text) in Summary(rows)) files[name] = text;
        return new ExperimentOutput("posteriordb", files, summary);
    }

    /// <summary>results.csv and report.html of the whole benchmark.</summary>
    public static Dictionary<string, string> Summary(IReadOnlyList<BenchmarkRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var csv = new StringBuilder("posterior,method,status,iterations,max_std_mean_error,rms_std_mean_error,min_sd_ratio,max_sd_ratio,gaussian_w2,elbo,elbo_se,pareto_k,cpu_seconds\n");
        var table = new List<string[]>();
        foreach (BenchmarkRow r in rows)
        {
            ReferenceScore? s = r.Score;
            PosteriorReport? p = r.Outcome?.Posterior;
            csv.Append(CultureInfo.InvariantCulture,
                $"{r.Posterior},{r.Method},{r.Status},{r.Iterations},{N(s?.MaxStandardisedMeanError)},{N(s?.RmsStandardisedMeanError)},{N(s?.MinSdRatio)},{N(s?.MaxSdRatio)},{N(s?.GaussianW2)},{N(p?.Elbo)},{N(p?.ElboStandardError)},{N(p?.ParetoK)},{r.CpuSeconds:F2}\n");
            table.Add([r.Posterior, r.Method, r.Status, r.Iterations.ToString(CultureInfo.InvariantCulture),
                s is null ? "—" : $"{ResultFiles.G(s.MaxStandardisedMeanError)} ({s.WorstName})", s is null ? "—" : ResultFiles.G(s.RmsStandardisedMeanError),
                s is null ? "—" : $"{ResultFiles.G(s.MinSdRatio)}–{ResultFiles.G(s.MaxSdRatio)}", s is null ? "—" : ResultFiles.G(s.GaussianW2), p is null ? "—" : $"{ResultFiles.G(p.Elbo)} ± {ResultFiles.G(p.ElboStandardError)}",
                p is null ? "—" : ResultFiles.G(p.ParetoK), r.CpuSeconds.ToString("F1", CultureInfo.InvariantCulture)]);
        }
        string body = "<p>Each posterior of docs/specs/posteriordb.md fitted with the model defaults (Laplace-whitened coordinates, randomised cubature for "
            + "the Gaussian flows, early stop on the KL trace) and scored against its 10,000 reference draws: max and RMS of |E_q x − m|/s, the range of "
            + "sd_q/s. The reference's own noise floor (its two halves compared): max |Δmean|/sd 0.02–0.055, sd ratios 0.96–1.06, Gaussian W2 0.05–0.27. ELBO on the "
            + "posterior's own constant convention; Pareto k̂ above 0.7 means the fit should not be trusted. NUTS (4 chains × 1000 draws after 1000 warmup) "
            + "is scored the same way from its 4,000 draws, so its numbers show what Monte Carlo error alone gives at that sample size (no ELBO or k̂: it is not a density).</p>\n"
            + Html.Table(["posterior", "method", "status", "iterations", "max |Δmean|/sd (worst)", "RMS", "sd ratios", "Gaussian W2 (standardised)", "ELBO ± s.e.", "k̂", "CPU s"], table);
        return new Dictionary<string, string>
        {
            ["results.csv"] = csv.ToString(),
            ["report.html"] = Html.Page("posteriordb benchmark: variational fits against the reference draws", body),
        };
    }

    private static string N(double? v) => v is { } x && double.IsFinite(x) ? x.ToString("R", CultureInfo.InvariantCulture) : "";
}
