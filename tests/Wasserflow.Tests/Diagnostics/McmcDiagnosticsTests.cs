using Wasserflow.Diagnostics;
using Wasserflow.Models;
using Wasserflow.Randomness;

namespace Wasserflow.Tests.Diagnostics;

public class McmcDiagnosticsTests
{
    // chains × n draws of a stationary AR(1) x_t = φ x_{t−1} + √(1 − φ²) ε_t (unit variance), chain-major.
    private static double[] Ar1(Xoshiro256StarStar rng, int chains, int n, double phi, double[]? shifts = null, double[]? scales = null)
    {
        var x = new double[chains * n];
        double s = Math.Sqrt(1 - phi * phi);
        for (int c = 0; c < chains; c++)
        {
            double v = rng.NextStandardNormal();
            for (int i = 0; i < n; i++)
            {
                v = phi * v + s * rng.NextStandardNormal();
                x[c * n + i] = (shifts?[c] ?? 0) + (scales?[c] ?? 1) * v;
            }
        }
        return x;
    }

    [Theory]
    [InlineData(0.975, 1.959963984540054)]
    [InlineData(0.8413447460685429, 1.0)] // Φ(1)
    [InlineData(1e-10, -6.361340902404056)]
    [InlineData(0.3, -0.5244005127080407)]
    [InlineData(0.5, 0.0)]
    public void Normal_quantile_matches_tabulated_values(double p, double expected)
    {
        Assert.Equal(expected, SpecialFunctions.NormalQuantile(p), 12);
        if (p > 1e-3) Assert.Equal(-expected, SpecialFunctions.NormalQuantile(1 - p), 12);
    }

    [Fact]
    public void Normal_quantile_edges()
    {
        Assert.Equal(double.NegativeInfinity, SpecialFunctions.NormalQuantile(0));
        Assert.Equal(double.PositiveInfinity, SpecialFunctions.NormalQuantile(1));
        Assert.True(double.IsNaN(SpecialFunctions.NormalQuantile(1.5)));
    }

    [Fact]
    public void Rank_normalisation_uses_average_ranks_and_blom_offsets()
    {
        double[] z = McmcDiagnostics.ZScale([3.0, 1.0, 2.0, 2.0]);
        // ranks 4, 1, 2.5, 2.5 of S = 4: Φ⁻¹((r − 3/8)/(4 + 1/4)).
        Assert.Equal(SpecialFunctions.NormalQuantile((4 - 0.375) / 4.25), z[0], 14);
        Assert.Equal(SpecialFunctions.NormalQuantile((1 - 0.375) / 4.25), z[1], 14);
        Assert.Equal(SpecialFunctions.NormalQuantile((2.5 - 0.375) / 4.25), z[2], 14);
        Assert.Equal(z[2], z[3]);
    }

    [Fact]
    public void Ess_of_an_ar1_process_matches_its_integrated_autocorrelation_time()
    {
        // ESS = S (1 − φ)/(1 + φ) for AR(1). Over 40 replications the mean ESS ratio must match within 4 s.e. of that mean.
        const double phi = 0.5;
        const int reps = 40, chains = 4, n = 2000;
        var rng = new Xoshiro256StarStar(11);
        var ratios = new double[reps];
        for (int r = 0; r < reps; r++) ratios[r] = McmcDiagnostics.EssMean(Ar1(rng, chains, n, phi), chains) / (chains * n);
        double mean = ratios.Average(), se = Math.Sqrt(ratios.Sum(v => (v - mean) * (v - mean)) / (reps - 1) / reps);
        double expected = (1 - phi) / (1 + phi);
        Assert.True(Math.Abs(mean - expected) < 4 * se + 0.005, $"ESS/S {mean:G4} ± {se:G2}, expected {expected:G4}");
        // Independent draws: ESS ≈ S.
        double iid = McmcDiagnostics.EssBulk(Ar1(rng, chains, n, 0), chains) / (chains * n);
        Assert.InRange(iid, 0.85, 1.15);
    }

    [Fact]
    public void Mcse_of_mean_and_sd_match_the_spread_over_replications()
    {
        // The sd over replications of the sample mean (and sd) of autocorrelated chains is what MCSE estimates; with
        // 300 replications that sd is known to ±4.1% (1/√(2·299)), so a 4-s.e. band is ±16%, plus the MCSE's own spread.
        const int reps = 300, chains = 4, n = 500;
        var rng = new Xoshiro256StarStar(5);
        var means = new double[reps];
        var sds = new double[reps];
        double mcseMean = 0, mcseSd = 0;
        for (int r = 0; r < reps; r++)
        {
            McmcParameterSummary s = McmcDiagnostics.Summarise("x", Ar1(rng, chains, n, 0.6), chains);
            means[r] = s.Mean;
            sds[r] = s.Sd;
            mcseMean += s.McseMean / reps;
            mcseSd += s.McseSd / reps;
        }
        static double Sd(double[] v) { double m = v.Average(); return Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / (v.Length - 1)); }
        double band = 4 / Math.Sqrt(2.0 * (reps - 1));
        Assert.InRange(Sd(means) / mcseMean, 1 - band, 1 + band);
        Assert.InRange(Sd(sds) / mcseSd, 1 - band, 1 + band);
    }

    [Fact]
    public void Rhat_is_one_for_mixed_chains_and_flags_shifted_trending_and_wider_chains()
    {
        var rng = new Xoshiro256StarStar(3);
        Assert.InRange(McmcDiagnostics.Rhat(Ar1(rng, 4, 1000, 0.3), 4), 0.99, 1.01);
        // One chain shifted by two sds.
        double[] shifted = Ar1(rng, 4, 1000, 0.3, shifts: [0, 0, 0, 2]);
        Assert.True(McmcDiagnostics.Rhat(shifted, 4) > 1.1, $"R̂ {McmcDiagnostics.Rhat(shifted, 4)}");
        // Every chain with the same trend: unsplit chains agree, split halves do not.
        double[] trending = Ar1(rng, 4, 1000, 0.3);
        for (int c = 0; c < 4; c++) for (int i = 0; i < 1000; i++) trending[c * 1000 + i] += 4.0 * i / 1000;
        Assert.True(McmcDiagnostics.Rhat(trending, 4) > 1.1, $"R̂ {McmcDiagnostics.Rhat(trending, 4)}");
        // Same location, one chain three times wider: bulk R̂ misses it, the folded (tail) R̂ catches it.
        double[] wide = Ar1(rng, 4, 1000, 0.3, scales: [1, 1, 1, 3]);
        Assert.True(McmcDiagnostics.Rhat(wide, 4) > 1.05, $"R̂ {McmcDiagnostics.Rhat(wide, 4)}");
    }

    [Fact]
    public void Tail_ess_and_constant_and_nonfinite_cases()
    {
        var rng = new Xoshiro256StarStar(8);
        double[] x = Ar1(rng, 4, 1000, 0.5);
        double tail = McmcDiagnostics.EssTail(x, 4);
        Assert.InRange(tail, 500, 4000);
        Assert.Equal(400, McmcDiagnostics.Ess(Enumerable.Repeat(2.5, 400).ToArray(), 4));
        x[17] = double.NaN;
        Assert.True(double.IsNaN(McmcDiagnostics.Ess(x, 4)));
        Assert.Throws<ArgumentException>(() => McmcDiagnostics.Rhat(new double[10], 4));
    }

    [Fact]
    public void Energy_bfmi_is_two_times_one_minus_phi_for_ar1_energies()
    {
        // E(Eₙ − Eₙ₋₁)² = 2(1 − φ) Var E; the ratio of sums over 20,000 draws has s.e. ≈ 0.01.
        var rng = new Xoshiro256StarStar(4);
        Assert.Equal(2 * (1 - 0.7), McmcDiagnostics.EnergyBfmi(Ar1(rng, 1, 20000, 0.7)), 1);
        Assert.InRange(McmcDiagnostics.EnergyBfmi(Ar1(rng, 1, 20000, 0.7)), 0.56, 0.64);
    }
}
