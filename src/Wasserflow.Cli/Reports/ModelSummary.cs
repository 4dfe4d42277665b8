using System.Globalization;
using System.Text;
using System.Text.Json;
using Wasserflow.Diagnostics;
using Wasserflow.Models;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Reports;

/// <summary>What a fit of a <see cref="Model"/> adds to its run: the posterior summary and, with held-out rows, the predictive.</summary>
/// <param name="Posterior">Summary, ELBO and Pareto k̂ from draws of the fit.</param>
/// <param name="Predictive">The posterior predictive on the held-out rows, or null.</param>
/// <param name="Provenance">How the data were prepared (file, split, standardisation, priors).</param>
/// <param name="Reference">For a posteriordb posterior: the fit against its reference draws; otherwise null.</param>
public sealed record ModelOutcome(PosteriorReport Posterior, PredictiveSummary? Predictive, string Provenance, ReferenceScore? Reference = null);

/// <summary>
/// The model part of fit's output, shared by every algorithm: summary.csv (Stan-like: mean, sd, 5/50/95%, PSIS mean),
/// draws.csv (constrained scale), a result.json object, a report section and the console table.
/// </summary>
public static class ModelSummary
{
    /// <summary>Draws behind the summary, the ELBO, k̂ and the predictive.</summary>
    public const int Draws = 4000;

    /// <summary>The model outcome of a fit whose target is a <see cref="Model"/> (else null), from draws of the fit on the seed's own stream.</summary>
    public static ModelOutcome? Analyse(ITarget target, DrawWithLogDensity draw, ulong seed)
    {
        if (target is not Model model) return null;
        PosteriorReport posterior = PosteriorAnalysis.Analyse(model, draw, new Xoshiro256StarStar(Xoshiro256StarStar.Mix(seed, 77)), Draws);
        PredictiveSummary? predictive = model is IPredictiveModel { HeldOut: { } held } regression
            ? regression.Predict(posterior.ConstrainedDraws, Draws, held.X, held.Y) : null;
        ReferenceScore? reference = model is UnconstrainedPosterior { Reference: { } r }
            ? PosteriorDb.Score(model.ReportedNames, posterior.ConstrainedDraws, Draws, PosteriorDb.ReferenceDraws(r.Name, r.Folder)) : null;
        return new ModelOutcome(posterior, predictive, Provenance(model), reference);
    }

    /// <summary>How a model's data were prepared (a regression's file and split, a posteriordb name), or "".</summary>
    public static string Provenance(Model model) => model switch
    {
        IPredictiveModel predictive => predictive.Provenance,
        UnconstrainedPosterior { Reference: { } r } => $"posteriordb {r.Name}",
        _ => "",
    };

    /// <summary>Writes the "predictive" object of result.json.</summary>
    public static void WritePredictive(Utf8JsonWriter w, PredictiveSummary pr)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(pr);
        w.WriteStartObject("predictive");
        w.WriteNumber("heldOutRows", pr.Points);
        WriteNumber(w, "meanLogPredictiveDensity", pr.MeanLogPredictiveDensity);
        if (pr.Accuracy is { } a) WriteNumber(w, "accuracy", a);
        if (pr.Rmse is { } e) WriteNumber(w, "rmse", e);
        w.WriteEndObject();
    }

    /// <summary>The predictive's rows of a report table.</summary>
    public static IEnumerable<string[]> PredictiveRows(PredictiveSummary p)
    {
        ArgumentNullException.ThrowIfNull(p);
        yield return ["held-out mean log predictive density", $"{ResultFiles.G(p.MeanLogPredictiveDensity)} ({p.Points} rows)"];
        if (p.Accuracy is { } a) yield return ["held-out accuracy", ResultFiles.G(a)];
        if (p.Rmse is { } e) yield return ["held-out RMSE", ResultFiles.G(e)];
    }

    /// <summary>The predictive's console line.</summary>
    public static string PredictiveLine(PredictiveSummary pr)
    {
        ArgumentNullException.ThrowIfNull(pr);
        return string.Create(CultureInfo.InvariantCulture, $"held out ({pr.Points} rows): mean log predictive density {pr.MeanLogPredictiveDensity:G4}")
            + (pr.Accuracy is { } a ? string.Create(CultureInfo.InvariantCulture, $", accuracy {a:G4}") : "")
            + (pr.Rmse is { } e ? string.Create(CultureInfo.InvariantCulture, $", RMSE {e:G4}") : "");
    }

    /// <summary>Adds summary.csv and draws.csv.</summary>
    public static void AddFiles(IDictionary<string, string> files, ModelOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(outcome);
        var summary = new StringBuilder("parameter,mean,sd,q5,q50,q95,psis_mean,psis_sd\n");
        foreach (ParameterSummary p in outcome.Posterior.Parameters)
            summary.Append(CultureInfo.InvariantCulture, $"{Csv(p.Name)},{p.Mean:R},{p.Sd:R},{p.Q5:R},{p.Q50:R},{p.Q95:R},{(p.PsisMean is { } m ? m.ToString("R", CultureInfo.InvariantCulture) : "")},{(p.PsisSd is { } sd ? sd.ToString("R", CultureInfo.InvariantCulture) : "")}\n");
        files["summary.csv"] = summary.ToString();
        var draws = new StringBuilder(string.Join(",", outcome.Posterior.Parameters.Select(p => Csv(p.Name)))).Append('\n');
        int d = outcome.Posterior.Parameters.Count;
        for (int s = 0; s < outcome.Posterior.Draws; s++)
        {
            for (int j = 0; j < d; j++)
            {
                if (j > 0) draws.Append(',');
                draws.Append(outcome.Posterior.ConstrainedDraws[s * d + j].ToString("R", CultureInfo.InvariantCulture));
            }
            draws.Append('\n');
        }
        files["draws.csv"] = draws.ToString();
    }

    /// <summary>Writes the "posterior" (and "predictive") objects of result.json.</summary>
    public static void WriteJson(Utf8JsonWriter w, ModelOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(outcome);
        PosteriorReport r = outcome.Posterior;
        w.WriteStartObject("posterior");
        w.WriteNumber("draws", r.Draws);
        WriteNumber(w, "elbo", r.Elbo);
        WriteNumber(w, "elboStandardError", r.ElboStandardError);
        WriteNumber(w, "paretoK", r.ParetoK);
        w.WriteString("paretoKVerdict", r.ParetoKVerdict);
        w.WriteString("data", outcome.Provenance);
        w.WriteStartArray("parameters");
        foreach (ParameterSummary p in r.Parameters)
        {
            w.WriteStartObject();
            w.WriteString("name", p.Name);
            WriteNumber(w, "mean", p.Mean);
            WriteNumber(w, "sd", p.Sd);
            WriteNumber(w, "q5", p.Q5);
            WriteNumber(w, "q50", p.Q50);
            WriteNumber(w, "q95", p.Q95);
            if (p.PsisMean is { } m) WriteNumber(w, "psisMean", m);
            if (p.PsisSd is { } sd) WriteNumber(w, "psisSd", sd);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("warnings");
        foreach (string warning in r.Warnings) w.WriteStringValue(warning);
        w.WriteEndArray();
        w.WriteEndObject();
        if (outcome.Reference is { } rs)
        {
            w.WriteStartObject("reference");
            WriteNumber(w, "maxStandardisedMeanError", rs.MaxStandardisedMeanError);
            WriteNumber(w, "rmsStandardisedMeanError", rs.RmsStandardisedMeanError);
            WriteNumber(w, "minSdRatio", rs.MinSdRatio);
            WriteNumber(w, "maxSdRatio", rs.MaxSdRatio);
            WriteNumber(w, "gaussianW2", rs.GaussianW2);
            w.WriteString("worst", rs.WorstName);
            w.WriteNumber("referenceDraws", rs.ReferenceDraws);
            w.WriteEndObject();
        }
        if (outcome.Predictive is { } pr) WritePredictive(w, pr);
    }

    /// <summary>The report section: data, ELBO, k̂ in words, predictive, and the summary table.</summary>
    public static string Html(ModelOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        PosteriorReport r = outcome.Posterior;
        var rows = new List<string[]>
        {
            new[] { "data", outcome.Provenance },
            new[] { "ELBO (± s.e.)", $"{ResultFiles.G(r.Elbo)} ± {ResultFiles.G(r.ElboStandardError)} ({r.Draws} draws; every constant of likelihood and prior included, so ELBO ≤ log p(data))" },
            new[] { "Pareto k̂", $"{ResultFiles.G(r.ParetoK)}: {r.ParetoKVerdict}" },
        };
        if (outcome.Reference is { } rs)
            rows.Add(["against the reference draws", ReferenceText(rs)]);
        if (outcome.Predictive is { } p) rows.AddRange(PredictiveRows(p));
        foreach (string warning in r.Warnings) rows.Add(["warning", warning]);
        return "<h2>Posterior</h2>\n" + Reports.Html.Table(["quantity", "value"], rows)
            + Reports.Html.Table(["parameter", "mean", "sd", "5%", "50%", "95%", "PSIS mean", "PSIS sd"], [.. r.Parameters.Select(Row)]);
    }

    /// <summary>The console table: ELBO and k̂, then one line per parameter (at most <paramref name="maxRows"/>), then the predictive.</summary>
    public static IEnumerable<string> Lines(ModelOutcome outcome, int maxRows = 40)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        PosteriorReport r = outcome.Posterior;
        yield return string.Create(CultureInfo.InvariantCulture, $"ELBO {r.Elbo:G6} ± {r.ElboStandardError:G2} ({r.Draws} draws)   Pareto k̂ {r.ParetoK:F2}: {r.ParetoKVerdict}");
        int width = Math.Max(9, r.Parameters.Take(maxRows).Max(p => p.Name.Length));
        yield return $"{"parameter".PadRight(width)} {"mean",10} {"sd",10} {"5%",10} {"50%",10} {"95%",10}";
        foreach (ParameterSummary p in r.Parameters.Take(maxRows))
            yield return string.Create(CultureInfo.InvariantCulture, $"{p.Name.PadRight(width)} {p.Mean,10:G4} {p.Sd,10:G4} {p.Q5,10:G4} {p.Q50,10:G4} {p.Q95,10:G4}");
        if (r.Parameters.Count > maxRows) yield return $"… {r.Parameters.Count - maxRows} more in summary.csv";
        if (outcome.Reference is { } rs) yield return "against the reference draws: " + ReferenceText(rs);
        if (outcome.Predictive is { } pr) yield return PredictiveLine(pr);
        foreach (string warning in r.Warnings) yield return "warning: " + warning;
    }

    private static string ReferenceText(ReferenceScore s) => string.Create(CultureInfo.InvariantCulture,
        $"max |Δmean|/sd {s.MaxStandardisedMeanError:G3} ({s.WorstName}), RMS {s.RmsStandardisedMeanError:G3}, sd ratios {s.MinSdRatio:G3}–{s.MaxSdRatio:G3}, Gaussian W2 {s.GaussianW2:G3} on standardised coordinates ({s.ReferenceDraws} reference draws)");

    private static string[] Row(ParameterSummary p) =>
        [p.Name, ResultFiles.G(p.Mean), ResultFiles.G(p.Sd), ResultFiles.G(p.Q5), ResultFiles.G(p.Q50), ResultFiles.G(p.Q95), p.PsisMean is { } m ? ResultFiles.G(m) : "—", p.PsisSd is { } sd ? ResultFiles.G(sd) : "—"];

    private static void WriteNumber(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value)) w.WriteNumber(name, value);
        else w.WriteNull(name);
    }

    /// <summary>A CSV field: quoted when it holds a comma or a quote.</summary>
    internal static string Csv(string s) => s.Contains(',', StringComparison.Ordinal) || s.Contains('"', StringComparison.Ordinal) ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : s;
}
