using System.Globalization;
using System.Text;
using Wasserflow.Diagnostics;
using Wasserflow.Models;
using Wasserflow.Parameters;
using Wasserflow.Reports;
using Wasserflow.Sampling;
using Wasserflow.Targets;

namespace Wasserflow.Experiments;

/// <summary>A NUTS run with everything its output shows.</summary>
/// <param name="TargetParameters">The target's settings.</param>
/// <param name="Settings">The sampler's settings.</param>
/// <param name="Target">The target sampled (the unconstrained density of a model).</param>
/// <param name="Result">The chains.</param>
/// <param name="Names">The reported quantities (constrained parameters of a model, x[1..d] otherwise).</param>
/// <param name="Reported">Reported draws, chain-major rows: (chain · draws + i) × Names.Count.</param>
/// <param name="Summary">One row per reported quantity.</param>
/// <param name="EnergyBfmi">E-BFMI of each chain.</param>
/// <param name="Predictive">The posterior predictive on held-out rows, or null.</param>
/// <param name="Reference">For a posteriordb posterior: the pooled draws scored as a fit is; otherwise null.</param>
/// <param name="Agreement">For a posteriordb posterior: z-scores of every mean and sd against the reference; otherwise null.</param>
/// <param name="Provenance">How the data were prepared, or "".</param>
public sealed record SampleOutcome(TargetParameters TargetParameters, SampleSettings Settings, ITarget Target, NutsResult Result, IReadOnlyList<string> Names,
    double[] Reported, IReadOnlyList<McmcParameterSummary> Summary, double[] EnergyBfmi, PredictiveSummary? Predictive, ReferenceScore? Reference,
    IReadOnlyList<McmcAgreement>? Agreement, string Provenance)
{
    /// <summary>The smallest bulk ESS over the quantities.</summary>
    public double MinEssBulk => Summary.Min(s => s.EssBulk);

    /// <summary>The smallest tail ESS.</summary>
    public double MinEssTail => Summary.Min(s => s.EssTail);

    /// <summary>The largest R̂.</summary>
    public double MaxRhat => Summary.Max(s => s.Rhat);

    /// <summary>Smallest bulk ESS per second of the chains' time (warmup included), as Stan users quote min n_eff per CPU-second.</summary>
    public double EssPerSecond => MinEssBulk / Result.ChainSeconds;
}

/// <summary><c>wasserflow sample</c>: NUTS on the target, its diagnostics, and the files it writes.</summary>
public static class SampleRun
{
    /// <summary>Reported draws above this many values are refused before sampling (memory and draws.csv size).</summary>
    public const long MaxValues = 200_000_000;

    /// <summary>Checks the settings against the target (sizes) before anything is written.</summary>
    /// <exception cref="InvalidParameterException">Too many draws to hold.</exception>
    public static void Validate(SampleSettings settings, ITarget target)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(target);
        settings.Validate();
        long values = (long)settings.Chains * settings.Draws * (target.Dimension + 9);
        if (values > MaxValues)
            throw new InvalidParameterException(nameof(SampleSettings.Draws),
                $"{settings.Chains} chains × {settings.Draws} draws × {target.Dimension + 9} columns is {values:N0} values, more than the {MaxValues:N0} this command keeps in memory and draws.csv; lower --draws or --chains");
    }

    /// <summary>Samples and summarises.</summary>
    /// <exception cref="TargetEvaluationException">No finite start or no usable step size (the message says which chain).</exception>
    public static SampleOutcome Run(TargetParameters targetParameters, SampleSettings settings, ITarget target, Action<int, int>? onIteration, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(target);
        NutsResult result = Nuts.Sample(target, settings.ToOptions(), onIteration, cancellationToken);
        int chains = settings.Chains, n = settings.Draws, d = target.Dimension;
        var model = target as Model;
        IReadOnlyList<string> names = model?.ReportedNames ?? [.. Enumerable.Range(1, d).Select(i => $"x[{i}]")];
        int k = names.Count;
        var reported = new double[chains * n * k];
        for (int c = 0; c < chains; c++)
        {
            Span<double> rows = reported.AsSpan(c * n * k, n * k);
            if (model is null) result.Chains[c].Draws.CopyTo(rows);
            else model.ReportDraws(result.Chains[c].Draws, n, rows);
        }
        var summary = new McmcParameterSummary[k];
        var column = new double[chains * n];
        for (int j = 0; j < k; j++)
        {
            for (int s = 0; s < chains * n; s++) column[s] = reported[s * k + j];
            summary[j] = McmcDiagnostics.Summarise(names[j], column, chains);
        }
        double[] bfmi = [.. result.Chains.Select(ch => McmcDiagnostics.EnergyBfmi(ch.Energy))];
        PredictiveSummary? predictive = model is IPredictiveModel { HeldOut: { } held } regression ? regression.Predict(reported, chains * n, held.X, held.Y) : null;
        ReferenceScore? score = null;
        IReadOnlyList<McmcAgreement>? agreement = null;
        if (model is UnconstrainedPosterior { Reference: { } r })
        {
            var referenceDraws = PosteriorDb.ReferenceDraws(r.Name, r.Folder);
            score = PosteriorDb.Score(names, reported, chains * n, referenceDraws);
            agreement = PosteriorDb.CompareMcmc(summary, referenceDraws.ToDictionary(kv => kv.Key, kv => ReferenceMoments.Of(kv.Value)));
        }
        string provenance = model is null ? "" : ModelSummary.Provenance(model);
        return new SampleOutcome(targetParameters, settings, target, result, names, reported, summary, bfmi, predictive, score, agreement, provenance);
    }

    /// <summary>What a careful reader should be told: divergences, tree-depth hits, R̂, low ESS, low E-BFMI.</summary>
    public static IEnumerable<string> Warnings(SampleOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        NutsResult r = outcome.Result;
        int total = outcome.Settings.Chains * outcome.Settings.Draws;
        if (r.Divergences > 0)
            yield return $"{r.Divergences} of {total} draws ended in a divergent trajectory: the draws may be biased; try --adapt-delta 0.95 or a reparameterisation";
        if (r.Rejections > 0)
            yield return $"the target could not be evaluated at {r.Rejections} points (warmup included), which were rejected as Stan rejects them; the first: {r.Chains.First(c => c.FirstRejection is not null).FirstRejection}";
        if (r.MaxDepthHits > 0)
            yield return $"{r.MaxDepthHits} of {total} draws hit the maximum tree depth {outcome.Settings.MaxDepth}: sampling is inefficient; consider --metric dense or --max-depth";
        foreach (McmcParameterSummary s in outcome.Summary.Where(s => !(s.Rhat < 1.01)).Take(5))
            yield return string.Create(CultureInfo.InvariantCulture, $"{s.Name}: R̂ {s.Rhat:F3} ≥ 1.01: the chains disagree; do not trust this posterior");
        double essFloor = 100 * outcome.Settings.Chains;
        foreach (McmcParameterSummary s in outcome.Summary.Where(s => !(Math.Min(s.EssBulk, s.EssTail) >= essFloor)).Take(5))
            yield return string.Create(CultureInfo.InvariantCulture, $"{s.Name}: bulk ESS {s.EssBulk:F0}, tail ESS {s.EssTail:F0} below 100 per chain: run longer chains");
        for (int c = 0; c < outcome.EnergyBfmi.Length; c++)
            if (outcome.EnergyBfmi[c] < 0.3)
                yield return string.Create(CultureInfo.InvariantCulture, $"chain {c + 1}: E-BFMI {outcome.EnergyBfmi[c]:F2} < 0.3: the momentum resampling explores the energy poorly (heavy tails or a funnel?)");
    }

    /// <summary>The console lines: the run, the summary table (at most <paramref name="maxRows"/> rows), the predictive and the reference.</summary>
    public static IEnumerable<string> Lines(SampleOutcome outcome, int maxRows = 40)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        NutsResult r = outcome.Result;
        yield return string.Create(CultureInfo.InvariantCulture,
            $"NUTS {outcome.Settings.Chains} chains × {outcome.Settings.Draws} draws ({outcome.Settings.Warmup} warmup), {outcome.Settings.Metric} metric: step sizes {string.Join(" ", r.Chains.Select(c => c.StepSize.ToString("G3", CultureInfo.InvariantCulture)))}, {r.GradientEvaluations:N0} gradients in {r.ChainSeconds:F2} chain-s, divergences {r.Divergences}, max-depth hits {r.MaxDepthHits}");
        yield return string.Create(CultureInfo.InvariantCulture,
            $"max R̂ {outcome.MaxRhat:F3}, min bulk ESS {outcome.MinEssBulk:F0}, min tail ESS {outcome.MinEssTail:F0} ({outcome.EssPerSecond:F0} per chain-second), E-BFMI {string.Join(" ", outcome.EnergyBfmi.Select(b => b.ToString("F2", CultureInfo.InvariantCulture)))}");
        int width = Math.Max(9, outcome.Summary.Take(maxRows).Max(p => p.Name.Length));
        yield return $"{"parameter".PadRight(width)} {"mean",10} {"mcse",8} {"sd",10} {"5%",10} {"50%",10} {"95%",10} {"R̂",6} {"ess_bulk",8} {"ess_tail",8}";
        foreach (McmcParameterSummary p in outcome.Summary.Take(maxRows))
            yield return string.Create(CultureInfo.InvariantCulture,
                $"{p.Name.PadRight(width)} {p.Mean,10:G4} {p.McseMean,8:G2} {p.Sd,10:G4} {p.Q5,10:G4} {p.Q50,10:G4} {p.Q95,10:G4} {p.Rhat,6:F3} {p.EssBulk,8:F0} {p.EssTail,8:F0}");
        if (outcome.Summary.Count > maxRows) yield return $"… {outcome.Summary.Count - maxRows} more in summary.csv";
        if (outcome.Predictive is { } pr) yield return ModelSummary.PredictiveLine(pr);
        if (outcome.Agreement is { } agreement)
            yield return string.Create(CultureInfo.InvariantCulture,
                $"against the reference draws: max |z| of means {agreement.Max(a => Math.Abs(a.MeanZ)):F2}, of sds {agreement.Max(a => Math.Abs(a.SdZ)):F2} (differences over the combined Monte Carlo error); Gaussian W2 {outcome.Reference!.GaussianW2:G3}");
    }

    /// <summary>result.json, summary.csv, draws.csv, trace and rank plots, report.html.</summary>
    public static Dictionary<string, string> Files(SampleOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var files = new Dictionary<string, string>
        {
            ["result.json"] = ResultJson(outcome),
            ["summary.csv"] = SummaryCsv(outcome),
            ["draws.csv"] = DrawsCsv(outcome),
            ["timings.json"] = ResultFiles.Timings(("chainSeconds", outcome.Result.ChainSeconds), ("minBulkEssPerChainSecond", outcome.EssPerSecond),
                ("threads", outcome.Settings.Threads)),
        };
        var body = new StringBuilder();
        NutsResult r = outcome.Result;
        var rows = new List<string[]>
        {
            new[] { "target", $"{outcome.Target.Name}, d = {outcome.Target.Dimension}" + (outcome.Provenance.Length > 0 ? $" ({outcome.Provenance})" : "") },
            new[] { "sampler", $"NUTS (multinomial, generalised no-U-turn criterion), {outcome.Settings.Metric} metric, δ = {ResultFiles.G(outcome.Settings.AdaptDelta)}, max depth {outcome.Settings.MaxDepth}" },
            new[] { "chains", $"{outcome.Settings.Chains} × {outcome.Settings.Draws} kept draws after {outcome.Settings.Warmup} warmup iterations, seed {outcome.Settings.Seed}" },
            new[] { "step sizes", string.Join(", ", r.Chains.Select(c => ResultFiles.G(c.StepSize))) },
            new[] { "divergences", $"{r.Divergences} of {outcome.Settings.Chains * outcome.Settings.Draws}" },
            new[] { "max tree depth hits", r.MaxDepthHits.ToString(CultureInfo.InvariantCulture) },
            new[] { "E-BFMI per chain", string.Join(", ", outcome.EnergyBfmi.Select(ResultFiles.G)) + " (below 0.3 is a warning)" },
            new[] { "max R̂ / min bulk ESS / min tail ESS", $"{outcome.MaxRhat:F3} / {outcome.MinEssBulk:F0} / {outcome.MinEssTail:F0}" },
            new[] { "gradient evaluations", $"{r.GradientEvaluations:N0} (warmup included; seconds and ESS per second in timings.json)" },
        };
        if (outcome.Predictive is { } p) rows.AddRange(ModelSummary.PredictiveRows(p));
        body.Append(Html.Table(["quantity", "value"], rows));
        string[] warnings = [.. Warnings(outcome)];
        if (warnings.Length > 0) body.Append("<h2>Warnings</h2>\n<ul>").Append(string.Concat(warnings.Select(w => "<li>" + System.Net.WebUtility.HtmlEncode(w) + "</li>"))).Append("</ul>\n");
        body.Append("<h2>Posterior</h2>\n").Append(Html.Table(["parameter", "mean", "MCSE", "sd", "5%", "50%", "95%", "R̂", "bulk ESS", "tail ESS"],
            [.. outcome.Summary.Select(s => new[] { s.Name, ResultFiles.G(s.Mean), ResultFiles.G(s.McseMean), ResultFiles.G(s.Sd), ResultFiles.G(s.Q5), ResultFiles.G(s.Q50),
                ResultFiles.G(s.Q95), s.Rhat.ToString("F3", CultureInfo.InvariantCulture), s.EssBulk.ToString("F0", CultureInfo.InvariantCulture), s.EssTail.ToString("F0", CultureInfo.InvariantCulture) })]));
        if (outcome.Agreement is { } agreement)
        {
            body.Append("<h2>Against the reference draws</h2>\n<p>z = difference / √(our MCSE² + the reference's MCSE²); |z| above 4 is a disagreement beyond Monte Carlo error.</p>\n")
                .Append(Html.Table(["parameter", "mean", "reference mean", "z (mean)", "sd", "reference sd", "z (sd)"],
                    [.. agreement.Select(a => new[] { a.Name, ResultFiles.G(a.Mean), ResultFiles.G(a.ReferenceMean), a.MeanZ.ToString("F2", CultureInfo.InvariantCulture),
                        ResultFiles.G(a.Sd), ResultFiles.G(a.ReferenceSd), a.SdZ.ToString("F2", CultureInfo.InvariantCulture) })]));
        }
        // Trace and rank plots of the quantities the chains explored least well (lowest bulk ESS).
        int chains = outcome.Settings.Chains, n = outcome.Settings.Draws, k = outcome.Names.Count;
        foreach (int j in Enumerable.Range(0, k).OrderBy(j => outcome.Summary[j].EssBulk).Take(4))
        {
            int stride = Math.Max(1, n / 500);
            var trace = Enumerable.Range(0, chains).Select(c => new Series($"chain {c + 1}",
                [.. Enumerable.Range(0, n).Where(i => i % stride == 0).Select(i => ((double)(i + 1), outcome.Reported[(c * n + i) * k + j]))], Plots.Palette[c % Plots.Palette.Length])).ToList();
            files[$"trace-{j + 1}.svg"] = Plots.Lines(trace, $"trace: {outcome.Names[j]}", "draw", outcome.Names[j], logX: false, logY: false);
            files[$"rank-{j + 1}.svg"] = Plots.Lines(RankSeries(outcome, j), $"rank histogram: {outcome.Names[j]}", "rank of the draw among all chains (20 bins)", "draws per bin", logX: false, logY: false);
            body.Append(Html.Figure($"trace-{j + 1}.svg", $"Trace of {outcome.Names[j]} (bulk ESS {outcome.Summary[j].EssBulk:F0}), one line per chain{(stride > 1 ? $", every {stride}th draw" : "")}: chains that mix look like overlapping noise around one level."))
                .Append(Html.Figure($"rank-{j + 1}.svg", $"Rank plot of {outcome.Names[j]}: the histogram of each chain's ranks among all draws; every chain flat at n/20 per bin when the chains agree."));
        }
        files["report.html"] = Html.Page($"Wasserflow NUTS on {outcome.Target.Name}", body.ToString());
        return files;
    }

    // Per chain, counts of its draws' pooled ranks in 20 equal bins (Vehtari et al. 2021's rank plot).
    private static List<Series> RankSeries(SampleOutcome o, int j)
    {
        int chains = o.Settings.Chains, n = o.Settings.Draws, k = o.Names.Count, total = chains * n;
        var order = Enumerable.Range(0, total).OrderBy(s => o.Reported[s * k + j]).ToArray();
        var counts = new double[chains, 20];
        for (int rank = 0; rank < total; rank++) counts[order[rank] / n, Math.Min(19, rank * 20 / total)]++;
        var series = Enumerable.Range(0, chains).Select(c => new Series($"chain {c + 1}",
            [.. Enumerable.Range(0, 20).Select(b => ((b + 0.5) / 20, counts[c, b]))], Plots.Palette[c % Plots.Palette.Length])).ToList();
        series.Add(new Series("uniform", [(0.025, n / 20.0), (0.975, n / 20.0)], "#000000", "dash"));
        return series;
    }

    private static string SummaryCsv(SampleOutcome o)
    {
        var sb = new StringBuilder("parameter,mean,mcse_mean,sd,mcse_sd,q5,q50,q95,rhat,ess_bulk,ess_tail\n");
        foreach (McmcParameterSummary s in o.Summary)
            sb.Append(CultureInfo.InvariantCulture, $"{ModelSummary.Csv(s.Name)},{s.Mean:R},{s.McseMean:R},{s.Sd:R},{s.McseSd:R},{s.Q5:R},{s.Q50:R},{s.Q95:R},{s.Rhat:R},{s.EssBulk:R},{s.EssTail:R}\n");
        return sb.ToString();
    }

    // Stan's column order: chain, draw, the sampler's columns (lp__ … energy__), then the reported quantities.
    private static string DrawsCsv(SampleOutcome o)
    {
        int n = o.Settings.Draws, k = o.Names.Count;
        var sb = new StringBuilder("chain,draw,lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,");
        sb.Append(string.Join(",", o.Names.Select(ModelSummary.Csv))).Append('\n');
        for (int c = 0; c < o.Result.Chains.Count; c++)
        {
            NutsChain ch = o.Result.Chains[c];
            for (int i = 0; i < n; i++)
            {
                sb.Append(CultureInfo.InvariantCulture, $"{c + 1},{i + 1},{ch.LogDensity[i]:R},{ch.AcceptStat[i]:R},{ch.StepSize:R},{ch.TreeDepth[i]},{ch.Leapfrogs[i]},{(ch.Divergent[i] ? 1 : 0)},{ch.Energy[i]:R}");
                for (int j = 0; j < k; j++) sb.Append(',').Append(o.Reported[(c * n + i) * k + j].ToString("R", CultureInfo.InvariantCulture));
                sb.Append('\n');
            }
        }
        return sb.ToString();
    }

    private static string ResultJson(SampleOutcome o) => ResultFiles.Json(w =>
    {
        NutsResult r = o.Result;
        ResultFiles.WriteHeader(w, o.TargetParameters, o.Settings);
        string[] warnings = [.. Warnings(o)];
        ResultFiles.WriteStatus(w, warnings.Length == 0 ? "completed" : "completed with warnings", null, warnings);
        w.WriteNumber("divergences", r.Divergences);
        w.WriteNumber("maxDepthHits", r.MaxDepthHits);
        w.WriteNumber("gradientEvaluations", r.GradientEvaluations);
        ResultFiles.WriteFiniteOrNull(w, "maxRhat", o.MaxRhat);
        ResultFiles.WriteFiniteOrNull(w, "minEssBulk", o.MinEssBulk);
        ResultFiles.WriteFiniteOrNull(w, "minEssTail", o.MinEssTail);
        w.WriteStartArray("chains");
        for (int c = 0; c < r.Chains.Count; c++)
        {
            NutsChain ch = r.Chains[c];
            w.WriteStartObject();
            w.WriteNumber("stepSize", ch.StepSize);
            ResultFiles.WriteFiniteOrNull(w, "energyBfmi", o.EnergyBfmi[c]);
            w.WriteNumber("meanAcceptStat", ch.AcceptStat.Average());
            w.WriteNumber("meanTreeDepth", ch.TreeDepth.Average());
            w.WriteNumber("divergences", ch.Divergent.Count(x => x));
            ResultFiles.WriteArray(w, o.Settings.Metric == "dense" ? "inverseMetricDiagonal" : "inverseMetric",
                o.Settings.Metric == "dense" ? [.. Enumerable.Range(0, r.Dimension).Select(i => ch.InverseMetric[i * r.Dimension + i])] : ch.InverseMetric);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("parameters");
        foreach (McmcParameterSummary s in o.Summary)
        {
            w.WriteStartObject();
            w.WriteString("name", s.Name);
            foreach (var (key, value) in new[] { ("mean", s.Mean), ("mcseMean", s.McseMean), ("sd", s.Sd), ("mcseSd", s.McseSd), ("q5", s.Q5), ("q50", s.Q50), ("q95", s.Q95), ("rhat", s.Rhat), ("essBulk", s.EssBulk), ("essTail", s.EssTail) })
                ResultFiles.WriteFiniteOrNull(w, key, value);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (o.Predictive is { } pr) ModelSummary.WritePredictive(w, pr);
        if (o.Agreement is { } agreement)
        {
            w.WriteStartObject("reference");
            w.WriteNumber("maxAbsMeanZ", agreement.Max(a => Math.Abs(a.MeanZ)));
            w.WriteNumber("maxAbsSdZ", agreement.Max(a => Math.Abs(a.SdZ)));
            ResultFiles.WriteFiniteOrNull(w, "maxStandardisedMeanError", o.Reference!.MaxStandardisedMeanError);
            ResultFiles.WriteFiniteOrNull(w, "gaussianW2", o.Reference.GaussianW2);
            w.WriteNumber("referenceDraws", o.Reference.ReferenceDraws);
            w.WriteEndObject();
        }
    });
}
