namespace Wasserflow.Diagnostics;

/// <summary>One parameter's row of an MCMC summary (constrained scale), with its convergence diagnostics.</summary>
/// <param name="Name">"beta[2]", "sigma", ….</param>
/// <param name="Mean">Mean of all draws.</param>
/// <param name="Sd">Standard deviation of all draws.</param>
/// <param name="McseMean">Monte Carlo standard error of the mean: sd / √ESS_mean.</param>
/// <param name="McseSd">Monte Carlo standard error of the sd (delta method on the centred squares).</param>
/// <param name="Q5">5% quantile.</param>
/// <param name="Q50">Median.</param>
/// <param name="Q95">95% quantile.</param>
/// <param name="Rhat">Rank-normalised split R̂: the larger of bulk and folded (tail) R̂.</param>
/// <param name="EssBulk">Bulk ESS: split chains, rank-normalised.</param>
/// <param name="EssTail">Tail ESS: the smaller ESS of the 5% and 95% quantile indicators.</param>
public sealed record McmcParameterSummary(string Name, double Mean, double Sd, double McseMean, double McseSd, double Q5, double Q50, double Q95,
    double Rhat, double EssBulk, double EssTail);

/// <summary>
/// Convergence diagnostics of several Markov chains as Vehtari, Gelman, Simpson, Carpenter and Bürkner (2021) define
/// them: rank-normalised split R̂, bulk and tail ESS, Monte Carlo standard errors; and the E-BFMI of HMC energies.
/// </summary>
/// <remarks>
/// Draws of one quantity come chain-major: <c>draws[c * n + i]</c> is iteration i of chain c, every chain of length n.
/// ESS uses the multi-chain autocorrelation of Stan (biased autocovariances, Geyer's initial positive and monotone
/// sequences, the improved tail term, τ̂ ≥ 1/log₁₀(S)); rank normalisation uses z = Φ⁻¹((r − 3/8)/(S + 1/4)) with average
/// ranks for ties. Chains are split in halves (the middle draw of an odd length is dropped) for R̂ and every ESS.
/// </remarks>
public static class McmcDiagnostics
{
    /// <summary>Summary and diagnostics of one quantity.</summary>
    /// <exception cref="ArgumentException">The length is not a multiple of the chain count, or chains are shorter than 4.</exception>
    public static McmcParameterSummary Summarise(string name, ReadOnlySpan<double> draws, int chains)
    {
        int n = ChainLength(draws, chains);
        double[] x = draws.ToArray();
        double mean = 0;
        foreach (double v in x) mean += v;
        mean /= x.Length;
        double ss = 0;
        foreach (double v in x) ss += (v - mean) * (v - mean);
        double sd = Math.Sqrt(ss / (x.Length - 1));
        double[] split = Split(x, chains, n);
        double essMean = Ess(split, 2 * chains);
        var centredSquares = new double[x.Length];
        for (int i = 0; i < x.Length; i++) centredSquares[i] = (x[i] - mean) * (x[i] - mean);
        double[] sorted = (double[])x.Clone();
        Array.Sort(sorted);
        double[] z = ZScale(split);
        return new McmcParameterSummary(name, mean, sd, sd / Math.Sqrt(essMean), McseSd(centredSquares, chains, n),
            PosteriorAnalysis.Quantile(sorted, 0.05), PosteriorAnalysis.Quantile(sorted, 0.5), PosteriorAnalysis.Quantile(sorted, 0.95),
            Rhat(split, z, sorted, chains), Ess(z, 2 * chains), EssTail(split, sorted, chains));
    }

    /// <summary>Rank-normalised split R̂: max of the bulk R̂ (ranks of the draws) and the tail R̂ (ranks of |x − median|).</summary>
    public static double Rhat(ReadOnlySpan<double> draws, int chains)
    {
        int n = ChainLength(draws, chains);
        double[] split = Split(draws, chains, n);
        double[] sorted = draws.ToArray();
        Array.Sort(sorted);
        return Rhat(split, ZScale(split), sorted, chains);
    }

    // Bulk R̂ of the rank-normalised split chains z, tail R̂ of the ranks of |split − median|.
    private static double Rhat(double[] split, double[] z, double[] sorted, int chains)
    {
        double bulk = BasicRhat(z, 2 * chains);
        double median = PosteriorAnalysis.Quantile(sorted, 0.5);
        var folded = new double[split.Length];
        for (int i = 0; i < split.Length; i++) folded[i] = Math.Abs(split[i] - median);
        double tail = BasicRhat(ZScale(folded), 2 * chains);
        return double.IsNaN(bulk) || double.IsNaN(tail) ? double.NaN : Math.Max(bulk, tail);
    }

    /// <summary>Bulk ESS: the ESS of the rank-normalised split chains.</summary>
    public static double EssBulk(ReadOnlySpan<double> draws, int chains)
    {
        int n = ChainLength(draws, chains);
        return Ess(ZScale(Split(draws, chains, n)), 2 * chains);
    }

    /// <summary>Tail ESS: the smaller ESS of the indicators x ≤ q₅% and x ≤ q₉₅% (split chains).</summary>
    public static double EssTail(ReadOnlySpan<double> draws, int chains)
    {
        int n = ChainLength(draws, chains);
        double[] sorted = draws.ToArray();
        Array.Sort(sorted);
        return EssTail(Split(draws, chains, n), sorted, chains);
    }

    private static double EssTail(double[] split, double[] sorted, int chains)
    {
        double min = double.PositiveInfinity;
        var indicator = new double[split.Length];
        foreach (double p in (ReadOnlySpan<double>)[0.05, 0.95])
        {
            double q = PosteriorAnalysis.Quantile(sorted, p);
            for (int i = 0; i < split.Length; i++) indicator[i] = split[i] <= q ? 1 : 0;
            min = Math.Min(min, Ess(indicator, 2 * chains));
        }
        return min;
    }

    /// <summary>ESS of the mean: split chains, no rank normalisation.</summary>
    public static double EssMean(ReadOnlySpan<double> draws, int chains)
    {
        int n = ChainLength(draws, chains);
        return Ess(Split(draws, chains, n), 2 * chains);
    }

    /// <summary>
    /// The effective sample size of <paramref name="chains"/> chains laid out chain-major (no splitting here): S / τ̂ with
    /// τ̂ = −1 + 2 Σ ρ̂ₜ + ρ̂ₜ₊₁ from Geyer's initial monotone sequence of the multi-chain autocorrelations. NaN for a
    /// non-finite draw or chains shorter than 3; S for a constant quantity.
    /// </summary>
    public static double Ess(ReadOnlySpan<double> draws, int chains)
    {
        int n = ChainLength(draws, chains, minimum: 1);
        if (n < 3) return double.NaN;
        foreach (double v in draws) if (!double.IsFinite(v)) return double.NaN;
        if (IsConstant(draws)) return draws.Length;
        var means = new double[chains];
        for (int c = 0; c < chains; c++)
        {
            double s = 0;
            foreach (double v in draws.Slice(c * n, n)) s += v;
            means[c] = s / n;
        }
        // Autocovariance at lag t, averaged over chains (biased: divided by n, as Geyer recommends).
        double MeanAutocovariance(ReadOnlySpan<double> x, int t)
        {
            double total = 0;
            for (int c = 0; c < chains; c++)
            {
                ReadOnlySpan<double> chain = x.Slice(c * n, n);
                double m = means[c], s = 0;
                for (int i = 0; i + t < n; i++) s += (chain[i] - m) * (chain[i + t] - m);
                total += s / n;
            }
            return total / chains;
        }
        double meanVar = MeanAutocovariance(draws, 0) * n / (n - 1);
        double varPlus = meanVar * (n - 1) / n;
        if (chains > 1)
        {
            double grand = means.Average(), b = 0;
            foreach (double m in means) b += (m - grand) * (m - grand);
            varPlus += b / (chains - 1);
        }
        var rho = new double[n];
        rho[0] = 1;
        double even = 1, odd = 1 - (meanVar - MeanAutocovariance(draws, 1)) / varPlus;
        rho[1] = odd;
        int t = 0;
        while (t < n - 5 && !double.IsNaN(even + odd) && even + odd > 0)
        {
            t += 2;
            even = 1 - (meanVar - MeanAutocovariance(draws, t)) / varPlus;
            odd = 1 - (meanVar - MeanAutocovariance(draws, t + 1)) / varPlus;
            if (even + odd >= 0)
            {
                rho[t] = even;
                rho[t + 1] = odd;
            }
        }
        int maxT = t;
        if (even > 0) rho[maxT] = even;
        // Initial monotone sequence: pair sums never increase.
        for (t = 2; t <= maxT - 2; t += 2)
        {
            if (rho[t] + rho[t + 1] > rho[t - 2] + rho[t - 1])
            {
                rho[t] = (rho[t - 2] + rho[t - 1]) / 2;
                rho[t + 1] = rho[t];
            }
        }
        double sum = 0;
        for (int i = 0; i < maxT; i++) sum += rho[i];
        double s0 = draws.Length;
        double tau = Math.Max(-1 + 2 * sum + rho[maxT], 1 / Math.Log10(s0));
        return s0 / tau;
    }

    /// <summary>
    /// Energy Bayesian fraction of missing information of one chain's Hamiltonian energies:
    /// Σ (Eₙ − Eₙ₋₁)² / Σ (Eₙ − Ē)². Below 0.3 the momentum resampling explores the energy distribution poorly.
    /// </summary>
    public static double EnergyBfmi(ReadOnlySpan<double> energies)
    {
        if (energies.Length < 2) return double.NaN;
        double mean = 0;
        foreach (double e in energies) mean += e;
        mean /= energies.Length;
        double num = 0, den = 0;
        for (int i = 0; i < energies.Length; i++)
        {
            den += (energies[i] - mean) * (energies[i] - mean);
            if (i > 0) num += (energies[i] - energies[i - 1]) * (energies[i] - energies[i - 1]);
        }
        return num / den;
    }

    // MCSE of the sd by the delta method: Var(ŝ) ≈ Var(s²)/(4σ²) with Var(s²) = Var(c²)/ESS(c²), c the centred draws.
    private static double McseSd(double[] centredSquares, int chains, int n)
    {
        double mean = centredSquares.Average();
        if (mean == 0) return 0;
        double ss = 0;
        foreach (double v in centredSquares) ss += (v - mean) * (v - mean);
        double variance = ss / (centredSquares.Length - 1);
        double ess = Ess(Split(centredSquares, chains, n), 2 * chains);
        return Math.Sqrt(variance / (4 * mean * ess));
    }

    // Split R̂ of (already split) chains: √((B/W + n − 1)/n) with B = n·var(chain means), W = mean chain variance.
    private static double BasicRhat(ReadOnlySpan<double> draws, int chains)
    {
        foreach (double v in draws) if (!double.IsFinite(v)) return double.NaN;
        if (IsConstant(draws)) return 1;
        int n = draws.Length / chains;
        var means = new double[chains];
        double within = 0;
        for (int c = 0; c < chains; c++)
        {
            ReadOnlySpan<double> chain = draws.Slice(c * n, n);
            double m = 0;
            foreach (double v in chain) m += v;
            m /= n;
            double s = 0;
            foreach (double v in chain) s += (v - m) * (v - m);
            means[c] = m;
            within += s / (n - 1);
        }
        within /= chains;
        double grand = means.Average(), between = 0;
        foreach (double m in means) between += (m - grand) * (m - grand);
        between = n * between / (chains - 1);
        return Math.Sqrt((between / within + n - 1) / n);
    }

    // Each chain's first and second halves as separate chains (2·chains chains of ⌊n/2⌋ draws, chain-major).
    private static double[] Split(ReadOnlySpan<double> draws, int chains, int n)
    {
        int half = n / 2;
        var split = new double[2 * chains * half];
        for (int c = 0; c < chains; c++)
        {
            draws.Slice(c * n, half).CopyTo(split.AsSpan(2 * c * half, half));
            draws.Slice(c * n + n - half, half).CopyTo(split.AsSpan((2 * c + 1) * half, half));
        }
        return split;
    }

    /// <summary>Rank normalisation: Φ⁻¹((r − 3/8)/(S + 1/4)) of each value's average rank r among all S values.</summary>
    public static double[] ZScale(ReadOnlySpan<double> values)
    {
        int s = values.Length;
        var order = new int[s];
        for (int i = 0; i < s; i++) order[i] = i;
        double[] keys = values.ToArray();
        Array.Sort(keys, order);
        var z = new double[s];
        for (int i = 0; i < s;)
        {
            int j = i;
            while (j + 1 < s && keys[j + 1] == keys[i]) j++;
            double rank = (i + j) / 2.0 + 1; // average of ranks i+1 … j+1
            double value = Models.SpecialFunctions.NormalQuantile((rank - 0.375) / (s + 0.25));
            for (int k = i; k <= j; k++) z[order[k]] = value;
            i = j + 1;
        }
        return z;
    }

    private static bool IsConstant(ReadOnlySpan<double> draws)
    {
        foreach (double v in draws) if (v != draws[0]) return false;
        return true;
    }

    private static int ChainLength(ReadOnlySpan<double> draws, int chains, int minimum = 4)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chains, 1);
        if (draws.Length % chains != 0)
            throw new ArgumentException($"{draws.Length} draws do not split into {chains} chains of equal length.");
        int n = draws.Length / chains;
        if (n < minimum) throw new ArgumentException($"chains of {n} draws are too short for MCMC diagnostics (at least {minimum}).");
        return n;
    }
}
