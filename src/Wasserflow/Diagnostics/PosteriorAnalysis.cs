using Wasserflow.Models;
using Wasserflow.Randomness;

namespace Wasserflow.Diagnostics;

/// <summary>Draws one point of an approximation q into <paramref name="destination"/> and returns log q there.</summary>
public delegate double DrawWithLogDensity(Xoshiro256StarStar rng, Span<double> destination);

/// <summary>One parameter's row of a posterior summary, on the constrained scale.</summary>
/// <param name="Name">"beta[2]", "sigma", ….</param>
/// <param name="Mean">Mean under the fit.</param>
/// <param name="Sd">Standard deviation under the fit.</param>
/// <param name="Q5">5% quantile.</param>
/// <param name="Q50">Median.</param>
/// <param name="Q95">95% quantile.</param>
/// <param name="PsisMean">The PSIS-corrected posterior mean when k̂ &lt; 0.7, else null.</param>
public sealed record ParameterSummary(string Name, double Mean, double Sd, double Q5, double Q50, double Q95, double? PsisMean)
{
    /// <summary>The PSIS-corrected posterior sd when k̂ &lt; 0.7, else null.</summary>
    public double? PsisSd { get; init; }
}

/// <summary>What a fit says about a model's posterior: a Stan-like summary, the ELBO and the Pareto k̂.</summary>
/// <param name="Parameters">One row per scalar parameter.</param>
/// <param name="Elbo">E_q[log p(θ, data) − log q], on the model's constant convention (a lower bound on log p(data) for built-in models).</param>
/// <param name="ElboStandardError">Its Monte Carlo standard error.</param>
/// <param name="ParetoK">k̂ of the importance ratios p/q (see <see cref="Psis"/>).</param>
/// <param name="Draws">Number of draws behind every number.</param>
/// <param name="ConstrainedDraws">The draws of the reported quantities (Draws × d, row-major; the constrained parameters unless the model derives others), for draws.csv, the predictive and scoring.</param>
public sealed record PosteriorReport(IReadOnlyList<ParameterSummary> Parameters, double Elbo, double ElboStandardError, double ParetoK, int Draws, double[] ConstrainedDraws)
{
    /// <summary>k̂ in words.</summary>
    public string ParetoKVerdict => Psis.Verdict(ParetoK);

    /// <summary>
    /// Where the fit disagrees with its own importance-weighted correction (<see cref="PosteriorAnalysis.Checks"/>): k̂ at
    /// or above 0.7, or, below it, a parameter whose sd is outside [0.83, 1.2] times the PSIS sd or whose mean is more
    /// than 0.25 PSIS sd from the PSIS mean. Empty when the fit passes.
    /// </summary>
    public IReadOnlyList<string> Warnings => PosteriorAnalysis.Checks(this);
}

/// <summary>Summaries of a variational fit of a <see cref="Model"/>, from draws of the fit.</summary>
public static class PosteriorAnalysis
{
    /// <summary>
    /// Draws <paramref name="draws"/> points u ~ q, maps them to the constrained scale, and returns per-parameter
    /// mean, sd, 5/50/95% quantiles (and PSIS-corrected means when k̂ &lt; 0.7), the ELBO ± s.e. and k̂.
    /// </summary>
    /// <exception cref="Targets.TargetEvaluationException">The model returned a non-finite log density at a draw.</exception>
    public static PosteriorReport Analyse(Model model, DrawWithLogDensity draw, Xoshiro256StarStar rng, int draws = 4000)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(draw);
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfLessThan(draws, 2);
        int d = model.ReportedNames.Count;
        var constrained = new double[draws * d];
        var theta = new double[model.Dimension];
        var logRatios = new double[draws];
        var u = new double[model.Dimension];
        for (int s = 0; s < draws; s++)
        {
            double logQ = draw(rng, u);
            double logP = model.LogDensity(u);
            if (!double.IsFinite(logP) || !double.IsFinite(logQ))
                throw new Targets.TargetEvaluationException($"{model.Name}: log density {logP} (fit: {logQ}) at draw {s} = [{string.Join(", ", u.Select(v => v.ToString("G6", System.Globalization.CultureInfo.InvariantCulture)))}].");
            logRatios[s] = logP - logQ;
            model.Layout.Constrain(u, theta);
            model.Report(theta, constrained.AsSpan(s * d, d));
        }
        double elbo = logRatios.Average();
        double variance = logRatios.Sum(r => (r - elbo) * (r - elbo)) / (draws - 1);
        var logWeights = (double[])logRatios.Clone();
        double k = Psis.Smooth(logWeights);
        bool corrected = !double.IsNaN(k) && k < 0.7;
        var rows = new List<ParameterSummary>(d);
        var column = new double[draws];
        for (int j = 0; j < d; j++)
        {
            for (int s = 0; s < draws; s++) column[s] = constrained[s * d + j];
            double mean = column.Average();
            double sd = Math.Sqrt(column.Sum(v => (v - mean) * (v - mean)) / (draws - 1));
            double? psis = null, psisSd = null;
            if (corrected)
            {
                // The smoothed log weights are normalised: Σ_s exp(w_s) = 1.
                double sum = 0, squares = 0;
                for (int s = 0; s < draws; s++) sum += Math.Exp(logWeights[s]) * column[s];
                for (int s = 0; s < draws; s++) squares += Math.Exp(logWeights[s]) * (column[s] - sum) * (column[s] - sum);
                psis = sum;
                psisSd = Math.Sqrt(squares);
            }
            Array.Sort(column);
            rows.Add(new ParameterSummary(model.ReportedNames[j], mean, sd, Quantile(column, 0.05), Quantile(column, 0.5), Quantile(column, 0.95), psis) { PsisSd = psisSd });
        }
        return new PosteriorReport(rows, elbo, Math.Sqrt(variance / draws), k, draws, constrained);
    }

    /// <summary>Ratio of the fit's sd to the PSIS sd beyond which (or below whose reciprocal, 0.83) a parameter is flagged.</summary>
    public const double SdRatioLimit = 1.2;

    /// <summary>Distance of the fit's mean from the PSIS mean, in PSIS sd, beyond which a parameter is flagged.</summary>
    public const double MeanShiftLimit = 0.25;

    /// <summary>
    /// The fit checked against its own importance-weighted (PSIS) correction, which needs no reference: at k̂ ≥ 0.7 the
    /// ratios p/q are too heavy-tailed for any correction and the fit misses part of the posterior; below it, the PSIS
    /// moments are usable estimates of the posterior's, so a fit sd outside [0.83, 1.2] times the PSIS sd, or a mean more
    /// than 0.25 PSIS sd from the PSIS mean, says the fit is too narrow, too wide or shifted there (a Gaussian on a funnel's
    /// log scale, for example) even when k̂ calls the fit usable. One line per flagged parameter, the worst first, at most five.
    /// </summary>
    public static IReadOnlyList<string> Checks(PosteriorReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var ic = System.Globalization.CultureInfo.InvariantCulture;
        if (double.IsNaN(report.ParetoK))
            return [$"Pareto k̂ could not be estimated from {report.Draws} draws, so the fit cannot be checked"];
        if (report.ParetoK >= 0.7)
            return [string.Create(ic, $"Pareto k̂ {report.ParetoK:F2} ≥ 0.7: the importance ratios p/q are heavy-tailed, so the fit misses part of the posterior and its means, sds and ELBO cannot be trusted or corrected by PSIS")];
        var flagged = new List<(double Severity, string Text)>();
        foreach (ParameterSummary p in report.Parameters)
        {
            if (p.PsisSd is not { } psisSd || p.PsisMean is not { } psisMean || !(psisSd > 0)) continue;
            double ratio = p.Sd / psisSd, shift = (p.Mean - psisMean) / psisSd;
            double severity = Math.Max(Math.Abs(Math.Log(ratio)) / Math.Log(SdRatioLimit), Math.Abs(shift) / MeanShiftLimit);
            if (severity <= 1) continue;
            string what = ratio > SdRatioLimit ? $"its sd is {ratio:G3}× the importance-weighted (PSIS) sd: the fit is too wide there"
                : ratio < 1 / SdRatioLimit ? $"its sd is {ratio:G3}× the importance-weighted (PSIS) sd: the fit is too narrow there"
                : $"its mean is {shift:G2} PSIS sd from the importance-weighted (PSIS) mean: the fit is shifted there";
            flagged.Add((severity, string.Create(ic, $"{p.Name}: {what} (k̂ {report.ParetoK:F2}; fit mean {p.Mean:G4}, sd {p.Sd:G4}; PSIS mean {psisMean:G4}, sd {psisSd:G4})")));
        }
        return [.. flagged.OrderByDescending(f => f.Severity).Take(5).Select(f => f.Text)];
    }

    /// <summary>The <paramref name="p"/>-quantile of sorted values, linear between order statistics (type 7, as R and NumPy default).</summary>
    public static double Quantile(ReadOnlySpan<double> sorted, double p)
    {
        if (sorted.Length == 0) return double.NaN;
        double h = (sorted.Length - 1) * p;
        int lo = (int)Math.Floor(h);
        int hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
    }
}
