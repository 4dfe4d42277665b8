namespace Wasserflow.Diagnostics;

/// <summary>
/// Pareto-smoothed importance sampling (Vehtari, Simpson, Gelman, Yao &amp; Gabry 2024): the shape k̂ of a generalised
/// Pareto distribution fitted to the largest importance ratios p/q says how far an approximation q can be trusted as an
/// importance proposal for p, and smoothing those ratios gives stabler weighted estimates.
/// </summary>
/// <remarks>
/// The tail is the M = ⌈min(S/5, 3√S)⌉ largest of S ratios, taken as exceedances over the next largest; the fit is the
/// profile-likelihood method of Zhang &amp; Stephens (2009) with the weakly informative prior of the reference
/// implementation, k̂ ← (M k̂ + 10 · 0.5)/(M + 10). Reading k̂: below 0.5 the ratios have finite variance and importance
/// sampling converges fast; 0.5–0.7 usable but slow; above 0.7 q misses mass of p and neither q nor the corrected
/// estimates should be trusted.
/// </remarks>
public static class Psis
{
    /// <summary>What <paramref name="k"/> means, in words, with the 0.5 / 0.7 thresholds.</summary>
    public static string Verdict(double k) => double.IsNegativeInfinity(k) ? "good (the largest importance ratios are all equal: the fit matches the target there)"
        : !double.IsFinite(k) ? "undefined (too few draws)"
        : k < 0.5 ? "good (k̂ < 0.5: the importance ratios have finite variance)"
        : k < 0.7 ? "ok (0.5 ≤ k̂ < 0.7: importance sampling works but converges slowly)"
        : "bad (k̂ ≥ 0.7: the fit misses part of the posterior; do not trust it or PSIS-corrected values)";

    /// <summary>
    /// Smooths log importance ratios in place (the tail replaced by the fitted Pareto quantiles, capped at the largest
    /// raw ratio), normalises them to log weights that sum to one, and returns k̂ (NaN with fewer than 10 draws, −∞ when
    /// the tail's ratios are all equal — an exact fit — the ratios then only normalised).
    /// </summary>
    public static double Smooth(Span<double> logRatios)
    {
        int s = logRatios.Length;
        if (s == 0) return double.NaN;
        double max = double.NegativeInfinity;
        foreach (double v in logRatios) max = Math.Max(max, v);
        for (int i = 0; i < s; i++) logRatios[i] -= max;
        double k = double.NaN;
        int m = (int)Math.Ceiling(Math.Min(0.2 * s, 3 * Math.Sqrt(s)));
        if (s >= 10 && m >= 5)
        {
            int[] order = new int[s];
            for (int i = 0; i < s; i++) order[i] = i;
            double[] keys = logRatios.ToArray();
            Array.Sort(keys, order);
            double cutoff = keys[s - m - 1];
            double expCutoff = Math.Exp(cutoff);
            var tail = new double[m];
            for (int i = 0; i < m; i++) tail[i] = Math.Exp(keys[s - m + i]) - expCutoff;
            if (tail[^1] > 0 && tail[^1] > tail[0])
            {
                (k, double sigma) = FitGeneralisedPareto(tail);
                if (double.IsFinite(k) && sigma > 0)
                    for (int i = 0; i < m; i++)
                    {
                        double p = (i + 0.5) / m;
                        double quantile = Math.Abs(k) < 1e-12 ? -sigma * Math.Log(1 - p) : sigma / k * (Math.Pow(1 - p, -k) - 1);
                        logRatios[order[s - m + i]] = Math.Min(Math.Log(expCutoff + quantile), 0.0); // 0 = the largest raw ratio after the shift
                    }
            }
            // A tail of equal ratios (q = p exactly): bounded weights, the best case there is; nothing to smooth.
            else if (tail[^1] <= 0) k = double.NegativeInfinity;
        }
        double logSum = Targets.GaussianMixtureTarget.LogSumExp(logRatios);
        for (int i = 0; i < s; i++) logRatios[i] -= logSum;
        return k;
    }

    /// <summary>k̂ of the log importance ratios (see the class remarks); the input is not changed.</summary>
    public static double ParetoK(ReadOnlySpan<double> logRatios)
    {
        double[] copy = logRatios.ToArray();
        return Smooth(copy);
    }

    /// <summary>
    /// The generalised Pareto fit of Zhang &amp; Stephens (2009) to positive exceedances sorted ascending, as the PSIS
    /// reference implementation does it (profile likelihood over a grid of θ = −k/σ, posterior-mean θ, then the weak prior
    /// on k). Returns (k, σ).
    /// </summary>
    internal static (double K, double Sigma) FitGeneralisedPareto(ReadOnlySpan<double> sortedExceedances)
    {
        int n = sortedExceedances.Length;
        const double prior = 3;
        int grid = 30 + (int)Math.Sqrt(n);
        double xStar = sortedExceedances[Math.Max(0, (int)Math.Floor(n / 4.0 + 0.5) - 1)];
        var theta = new double[grid];
        var logLik = new double[grid];
        for (int j = 0; j < grid; j++)
        {
            theta[j] = 1 / sortedExceedances[n - 1] + (1 - Math.Sqrt(grid / (j + 1 - 0.5))) / prior / xStar;
            double kj = 0;
            for (int i = 0; i < n; i++) kj += double.LogP1(-theta[j] * sortedExceedances[i]);
            kj /= n;
            logLik[j] = n * (Math.Log(-theta[j] / kj) - kj - 1);
        }
        double top = Targets.GaussianMixtureTarget.LogSumExp(logLik);
        double thetaHat = 0;
        for (int j = 0; j < grid; j++) thetaHat += theta[j] * Math.Exp(logLik[j] - top);
        double k = 0;
        for (int i = 0; i < n; i++) k += double.LogP1(-thetaHat * sortedExceedances[i]);
        k /= n;
        double sigma = -k / thetaHat;
        k = (n * k + 10 * 0.5) / (n + 10);
        return (k, sigma);
    }
}
