using Wasserflow.Diagnostics;
using Wasserflow.Sampling;
using Wasserflow.Targets;

namespace Wasserflow.Tests.Sampling;

public class NutsTests
{
    // N(μ, Σ) with Σ = D C D, C = (1 − ρ) I + ρ 11ᵀ (every correlation ρ), D = diag(s): gradient in O(d) through
    // C⁻¹ = (I − ρ/(1 − ρ + dρ) 11ᵀ)/(1 − ρ).
    private static DelegateTarget CorrelatedGaussian(double[] mean, double[] scale, double rho)
    {
        int d = mean.Length;
        double a = 1 - rho, b = rho / (1 - rho + d * rho);
        double Eval(ReadOnlySpan<double> x, Span<double> g)
        {
            Span<double> z = stackalloc double[d];
            double sum = 0;
            for (int i = 0; i < d; i++) { z[i] = (x[i] - mean[i]) / scale[i]; sum += z[i]; }
            double quad = 0;
            for (int i = 0; i < d; i++)
            {
                double w = (z[i] - b * sum) / a; // C⁻¹ z
                quad += z[i] * w;
                if (!g.IsEmpty) g[i] = -w / scale[i];
            }
            return -0.5 * quad;
        }
        return new DelegateTarget(d, x => Eval(x, []), Eval, "correlated-gaussian");
    }

    // N(μ, D C D) with C_ij = ρ^|i−j| (a stationary AR(1)): the precision C⁻¹ is tridiagonal.
    private static DelegateTarget Ar1Gaussian(double[] mean, double[] scale, double rho)
    {
        int d = mean.Length;
        double c = 1 / (1 - rho * rho);
        double Eval(ReadOnlySpan<double> x, Span<double> g)
        {
            double quad = 0;
            for (int i = 0; i < d; i++)
            {
                double zi = (x[i] - mean[i]) / scale[i];
                double w = (i == 0 || i == d - 1 ? 1 : 1 + rho * rho) * zi;
                if (i > 0) w -= rho * (x[i - 1] - mean[i - 1]) / scale[i - 1];
                if (i < d - 1) w -= rho * (x[i + 1] - mean[i + 1]) / scale[i + 1];
                w *= c; // (C⁻¹ z)_i
                quad += zi * w;
                if (!g.IsEmpty) g[i] = -w / scale[i];
            }
            return -0.5 * quad;
        }
        return new DelegateTarget(d, x => Eval(x, []), Eval, "ar1-gaussian");
    }

    private static void AssertRecovers(NutsResult result, double[] mean, double[] scale)
    {
        Assert.Equal(0, result.Divergences);
        for (int j = 0; j < mean.Length; j++)
        {
            McmcParameterSummary s = McmcDiagnostics.Summarise($"x[{j}]", result.Coordinate(j), result.Chains.Count);
            Assert.True(Math.Abs(s.Mean - mean[j]) < 4 * s.McseMean, $"x[{j}]: mean {s.Mean} vs {mean[j]} (MCSE {s.McseMean})");
            Assert.True(Math.Abs(s.Sd - scale[j]) < 4 * s.McseSd, $"x[{j}]: sd {s.Sd} vs {scale[j]} (MCSE {s.McseSd})");
            Assert.True(s.Rhat < 1.01, $"x[{j}]: R̂ {s.Rhat}");
        }
    }

    private static readonly double[] Means100 = [.. Enumerable.Range(0, 100).Select(i => (i - 50) / 10.0)];
    private static readonly double[] Scales100 = [.. Enumerable.Range(0, 100).Select(i => Math.Exp((i % 10 - 5) / 2.0))]; // 0.08 … 7.4

    [Fact]
    public void Gaussian_100d_every_correlation_0_9_dense_metric_every_mean_and_sd_within_4_mcse()
    {
        // Every pair correlated 0.9: condition number 901 after scaling, which a diagonal metric cannot undo (its
        // trajectories stop at the fast directions' U-turns); the dense metric learns the covariance.
        NutsResult result = Nuts.Sample(CorrelatedGaussian(Means100, Scales100, 0.9), new NutsOptions { Seed = 1, Threads = 2, DenseMetric = true });
        AssertRecovers(result, Means100, Scales100);
    }

    [Fact]
    public void Gaussian_100d_neighbour_correlation_0_9_diagonal_metric_every_mean_and_sd_within_4_mcse()
    {
        NutsResult result = Nuts.Sample(Ar1Gaussian(Means100, Scales100, 0.9), new NutsOptions { Seed = 1, Threads = 2 });
        AssertRecovers(result, Means100, Scales100);
    }

    [Fact]
    public void Equicorrelated_gaussian_under_a_diagonal_metric_is_unbiased()
    {
        // The case that caught a wrong subtree boundary (the trajectory's far end taken from the wrong side): every
        // pair correlated 0.95 in 20-d, long chains; the sd along the slow direction 1ᵀx/d is √((1 − ρ)/d + ρ).
        const int d = 20;
        NutsResult result = Nuts.Sample(CorrelatedGaussian(new double[d], [.. Enumerable.Repeat(1.0, d)], 0.95),
            new NutsOptions { Seed = 2, Threads = 2, Draws = 5000 });
        var slow = new double[4 * 5000];
        for (int c = 0; c < 4; c++)
            for (int i = 0; i < 5000; i++)
                for (int j = 0; j < d; j++) slow[c * 5000 + i] += result.Chains[c].Draws[i * d + j] / d;
        McmcParameterSummary s = McmcDiagnostics.Summarise("mean", slow, 4);
        double sd = Math.Sqrt(0.05 / d + 0.95);
        Assert.True(Math.Abs(s.Sd - sd) < 4 * s.McseSd, $"sd {s.Sd} vs {sd} (MCSE {s.McseSd})");
        Assert.True(Math.Abs(s.Mean) < 4 * s.McseMean, $"mean {s.Mean} (MCSE {s.McseMean})");
    }

    [Fact]
    public void Skewed_target_log_gamma_matches_digamma_and_trigamma()
    {
        // u = log x with x ~ Gamma(2, 1): density e^{2u − e^u}; E u = ψ(2) = 1 − γ, Var u = ψ'(2) = π²/6 − 1. A wrong
        // multinomial weight or tree merge biases a skewed target's moments.
        var target = new DelegateTarget(1, x => 2 * x[0] - Math.Exp(x[0]), (x, g) => { g[0] = 2 - Math.Exp(x[0]); return 2 * x[0] - Math.Exp(x[0]); }, "log-gamma");
        NutsResult result = Nuts.Sample(target, new NutsOptions { Seed = 3, Draws = 5000 });
        McmcParameterSummary s = McmcDiagnostics.Summarise("u", result.Coordinate(0), 4);
        double mean = 1 - 0.57721566490153286, sd = Math.Sqrt(Math.PI * Math.PI / 6 - 1);
        Assert.True(Math.Abs(s.Mean - mean) < 4 * s.McseMean, $"mean {s.Mean} vs {mean} (MCSE {s.McseMean})");
        Assert.True(Math.Abs(s.Sd - sd) < 4 * s.McseSd, $"sd {s.Sd} vs {sd} (MCSE {s.McseSd})");
        // The adapted step size keeps the mean acceptance near δ = 0.8 (dual averaging's aim; the final ε is the average).
        double accept = result.Chains.SelectMany(c => c.AcceptStat).Average();
        Assert.InRange(accept, 0.7, 0.95);
    }

    [Fact]
    public void Results_do_not_depend_on_the_thread_count()
    {
        var target = CorrelatedGaussian([1, 2, 3], [1, 2, 0.5], 0.5);
        var options = new NutsOptions { Seed = 9, Warmup = 200, Draws = 200, Chains = 3 };
        NutsResult one = Nuts.Sample(target, options);
        NutsResult three = Nuts.Sample(target, options with { Threads = 3 });
        for (int c = 0; c < 3; c++)
        {
            Assert.Equal(one.Chains[c].Draws, three.Chains[c].Draws);
            Assert.Equal(one.Chains[c].StepSize, three.Chains[c].StepSize);
        }
        Assert.NotEqual(one.Chains[0].Draws, one.Chains[1].Draws);
    }

    [Fact]
    public void Dense_metric_learns_the_correlation_and_needs_far_fewer_leapfrogs()
    {
        const int d = 20;
        double[] mean = new double[d], scale = [.. Enumerable.Repeat(1.0, d)];
        var target = CorrelatedGaussian(mean, scale, 0.95);
        var options = new NutsOptions { Seed = 2, Chains = 2 };
        NutsResult diagonal = Nuts.Sample(target, options);
        NutsResult dense = Nuts.Sample(target, options with { DenseMetric = true });
        // Bulk ESS of the slow direction 1ᵀx per gradient evaluation: the diagonal metric's trajectories stop at the fast
        // directions' U-turns, so it needs many more gradients per effective draw.
        double EssPerGradient(NutsResult r)
        {
            var slow = new double[2 * 1000];
            for (int c = 0; c < 2; c++)
                for (int i = 0; i < 1000; i++)
                    for (int j = 0; j < d; j++) slow[c * 1000 + i] += r.Chains[c].Draws[i * d + j];
            return McmcDiagnostics.EssBulk(slow, 2) / r.Chains.Sum(c => c.Leapfrogs.Sum());
        }
        Assert.True(EssPerGradient(dense) > 5 * EssPerGradient(diagonal), $"ESS per gradient: dense {EssPerGradient(dense)} vs diagonal {EssPerGradient(diagonal)}");
        // The adapted inverse metric is the covariance: Σ₀₁ = 0.95 within sampling error of the last warmup window's
        // 500 correlated draws. Over 30 seeds that estimate measured mean 0.958, sd 0.084 (seed 2: 1.170): within 4 sd.
        Assert.InRange(dense.Chains[0].InverseMetric[1], 0.95 - 4 * 0.084, 0.95 + 4 * 0.084);
        for (int j = 0; j < d; j++)
        {
            McmcParameterSummary s = McmcDiagnostics.Summarise("x", dense.Coordinate(j), 2);
            Assert.True(Math.Abs(s.Mean) < 4 * s.McseMean && Math.Abs(s.Sd - 1) < 4 * s.McseSd, $"x[{j}] mean {s.Mean} sd {s.Sd}");
        }
    }

    [Fact]
    public void Funnel_is_flagged_by_divergences_or_rhat()
    {
        // Neal's funnel (log-scale sd 3, 9 more coordinates): NUTS with a diagonal metric cannot enter the neck; its
        // diagnostics must say so (Stan's behaviour: divergences and/or R̂ above 1.01 on the log-scale coordinate).
        NutsResult result = Nuts.Sample(new FunnelTarget(10, 9), new NutsOptions { Seed = 1, Threads = 2 });
        double rhat = McmcDiagnostics.Rhat(result.Coordinate(0), 4);
        Assert.True(result.Divergences > 0 || rhat > 1.01, $"{result.Divergences} divergences, R̂ {rhat}");
        Assert.True(result.Chains.All(c => c.Divergent.Length == 1000));
    }

    [Fact]
    public void Bad_targets_and_settings_get_clear_messages()
    {
        var flat = new DelegateTarget(2, _ => 0, (_, g) => { g.Clear(); return 0; }, "flat", validateGradient: false);
        var improper = Assert.Throws<TargetEvaluationException>(() => Nuts.Sample(flat, new NutsOptions { Warmup = 10, Draws = 10 }));
        Assert.Contains("improper", improper.Message, StringComparison.Ordinal);
        var nowhere = new NowhereTarget();
        var start = Assert.Throws<TargetEvaluationException>(() => Nuts.Sample(nowhere, new NutsOptions { Warmup = 10, Draws = 10 }));
        Assert.Contains("no point with a finite log density", start.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => Nuts.Sample(flat, new NutsOptions { TargetAcceptance = 1 }));
        Assert.Throws<ArgumentException>(() => Nuts.Sample(flat, new NutsOptions { Initial = [1.0] }));
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => Nuts.Sample(CorrelatedGaussian([0], [1], 0), new NutsOptions(), cancellationToken: cancel.Token));
    }

    private sealed class NowhereTarget : ITarget
    {
        public int Dimension => 1;
        public string Name => "nowhere";
        public double? LogNormalizer => null;
        public double LogDensity(ReadOnlySpan<double> x) => double.NegativeInfinity;
        public double LogDensityAndGradient(ReadOnlySpan<double> x, Span<double> gradient) => double.NegativeInfinity;
    }
}

public class NutsPosteriorDbTests
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "TestData", "posteriordb");

    // posteriordb's reference moments (from the published 10,000 draws; TestData/posteriordb/reference-moments.csv).
    private static Dictionary<string, Wasserflow.Models.ReferenceMoments> Moments(string posterior)
    {
        var result = new Dictionary<string, Wasserflow.Models.ReferenceMoments>();
        foreach (string line in File.ReadLines(Path.Combine(Folder, "reference-moments.csv")).Skip(1))
        {
            string[] f = line.Split(',');
            if (f[0] != posterior) continue;
            double P(int i) => double.Parse(f[i], System.Globalization.CultureInfo.InvariantCulture);
            result[f[1]] = new Wasserflow.Models.ReferenceMoments(P(2), P(3), P(4), P(5));
        }
        return result;
    }

    public static TheoryData<string> Posteriors => [.. Wasserflow.Models.PosteriorDb.Names.Where(n => n != "diamonds-diamonds")]; // diamonds: the repo keeps 40 of its 5,000 rows

    [Theory]
    [MemberData(nameof(Posteriors))]
    public void Every_mean_and_sd_agrees_with_the_reference_within_4_combined_mcse(string posterior)
    {
        Wasserflow.Models.UnconstrainedPosterior model = Wasserflow.Models.PosteriorDb.Load(posterior, Folder);
        // 2,000 draws per chain: with Stan's 1,000, R̂ of sblri's σ (bulk ESS ≈ 700) exceeded 1.01 on 2 of 10 seeds
        // (1.0124, 1.0102; measured), a false alarm of the bound's own noise; with 2,000 the largest of 8 seeds is 1.0041.
        NutsResult result = Nuts.Sample(model, new NutsOptions { Seed = 11, Threads = 2, Draws = 2000 });
        int k = model.ReportedNames.Count, n = result.Options.Draws;
        var reported = new double[4 * n * k];
        for (int c = 0; c < 4; c++) model.ReportDraws(result.Chains[c].Draws, n, reported.AsSpan(c * n * k, n * k));
        var summaries = new List<McmcParameterSummary>();
        var column = new double[4 * n];
        for (int j = 0; j < k; j++)
        {
            for (int s = 0; s < column.Length; s++) column[s] = reported[s * k + j];
            summaries.Add(McmcDiagnostics.Summarise(model.ReportedNames[j], column, 4));
        }
        foreach (McmcParameterSummary s in summaries) Assert.True(s.Rhat < 1.01, $"{posterior} {s.Name}: R̂ {s.Rhat}");
        foreach (Wasserflow.Models.McmcAgreement a in Wasserflow.Models.PosteriorDb.CompareMcmc(summaries, Moments(posterior)))
        {
            Assert.True(Math.Abs(a.MeanZ) < 4, $"{posterior} {a.Name}: mean {a.Mean} vs {a.ReferenceMean} (z {a.MeanZ:F2})");
            Assert.True(Math.Abs(a.SdZ) < 4, $"{posterior} {a.Name}: sd {a.Sd} vs {a.ReferenceSd} (z {a.SdZ:F2})");
        }
        if (posterior.StartsWith("eight_schools", StringComparison.Ordinal))
            Assert.True(result.Divergences <= 4000 / 100, $"eight schools (non-centred): {result.Divergences} divergences");
    }
}
