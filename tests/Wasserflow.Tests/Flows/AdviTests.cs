using Wasserflow.Families;
using Wasserflow.Flows;
using Wasserflow.Running;
using Wasserflow.Targets;

namespace Wasserflow.Tests.Flows;

/// <summary>ADVI against closed forms on Gaussian targets, and its optimiser memory across continued runs.</summary>
public sealed class AdviTests
{
    // N(m, Σ) with Σ = [[2, 0.9], [0.9, 1]]: precision Λ = Σ⁻¹.
    private static GaussianMixtureTarget Target() => GaussianMixtureTarget.Create([1.0], [1.0, -2.0], CovarianceKind.Full, [2.0, 0.9, 0.9, 1.0]);

    private static Gaussian Fit(AdviFamily family, int iterations = 4000)
    {
        var flow = new AdviFlow(Target(), new AdviOptions(family, Eta: 0.5, GradientDraws: 20));
        var run = VariationalRunner.Run(flow, GaussianParticleState.Start(Gaussian.Isotropic([0.0, 0.0], 1.0), seed: 3), new RunOptions(iterations, TraceEvery: 0));
        Assert.Equal(RunStatus.Completed, run.Status);
        return run.FinalState.Particle();
    }

    [Fact]
    public void Full_rank_ADVI_recovers_a_Gaussian_target()
    {
        Gaussian q = Fit(AdviFamily.FullRank);
        double[] s = q.Covariance();
        // An iterate of stochastic ascent, not an estimator: after 4000 steps Stan's sequence has ρ ≈ η/√k/(1 + √s) ≈ 0.005,
        // so its stationary noise is about 1% of the target's scale and a wrong gradient (a missing entropy term, a
        // transposed L) moves the covariance by tens of per cent. Bounds: means within 0.05 sd, variances within 8%.
        Assert.InRange(q.Mean[0], 1 - 0.05 * Math.Sqrt(2), 1 + 0.05 * Math.Sqrt(2));
        Assert.InRange(q.Mean[1], -2 - 0.05, -2 + 0.05);
        Assert.InRange(s[0], 2 * 0.92, 2 * 1.08);
        Assert.InRange(s[3], 0.92, 1.08);
        Assert.InRange(s[1], 0.9 * 0.92, 0.9 * 1.08);
    }

    [Fact]
    public void Mean_field_ADVI_finds_the_mean_field_optimum_variances_one_over_the_precision_diagonal()
    {
        // For a Gaussian target the mean-field optimum has the target's mean and variances 1/Λ_ii:
        // Λ = Σ⁻¹ = [[1, −0.9], [−0.9, 2]]/(2 − 0.81), so 1/Λ₁₁ = 1.19 and 1/Λ₂₂ = 0.595, below the marginals 2 and 1.
        Gaussian q = Fit(AdviFamily.MeanField);
        double[] s = q.Covariance();
        Assert.Equal(0.0, s[1]);
        Assert.InRange(s[0], 1.19 * 0.92, 1.19 * 1.08);
        Assert.InRange(s[3], 0.595 * 0.92, 0.595 * 1.08);
        Assert.InRange(q.Mean[0], 1 - 0.05 * Math.Sqrt(2), 1 + 0.05 * Math.Sqrt(2));
    }

    [Fact]
    public void Continuing_a_run_keeps_the_optimiser_memory_so_halves_equal_the_whole()
    {
        var flow = new AdviFlow(Target(), new AdviOptions(AdviFamily.FullRank, Eta: 0.5));
        var start = GaussianParticleState.Start(Gaussian.Isotropic([0.0, 0.0], 1.0), seed: 5);
        var whole = VariationalRunner.Run(flow, start, new RunOptions(200, TraceEvery: 0)).FinalState;
        var half = VariationalRunner.Run(flow, start, new RunOptions(100, TraceEvery: 0)).FinalState;
        var twice = VariationalRunner.Run(flow, half, new RunOptions(100, TraceEvery: 0)).FinalState;
        Assert.Equal(whole.Means, twice.Means);
        Assert.Equal(whole.Factors, twice.Factors);
        Assert.Equal(whole.Optimizer, twice.Optimizer);
        // And a checkpoint round trip keeps it too.
        using var buffer = new MemoryStream();
        using (var w = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true)) half.Write(w);
        buffer.Position = 0;
        using var r = new BinaryReader(buffer);
        Assert.Equal(half.Optimizer, GaussianParticleState.Read(r).Optimizer);
    }

    // Stan's selection, re-derived from the trials: it stops at the first η whose ELBO is below the previous one while
    // that one beat the start, keeping the previous; otherwise it runs out and keeps the last if it beats the start.
    private static void AssertStansChoice(AdviEtaSearch search)
    {
        var t = search.Trials;
        for (int j = 1; j < t.Count - 1; j++)
            Assert.False(t[j].Elbo < t[j - 1].Elbo && t[j - 1].Elbo > search.InitialElbo, $"the search should have stopped at trial {j}");
        int last = t.Count - 1;
        if (last >= 1 && t[last].Elbo < t[last - 1].Elbo && t[last - 1].Elbo > search.InitialElbo)
            Assert.Equal(t[last - 1].Eta, search.Eta);
        else
        {
            Assert.Equal(AdviFlow.EtaSequence.Count, t.Count);
            Assert.Equal(t[last].Eta, search.Eta);
            Assert.True(t[last].Elbo > search.InitialElbo);
        }
    }

    [Theory]
    [InlineData(AdviFamily.MeanField)]
    [InlineData(AdviFamily.FullRank)]
    public void Stans_eta_search_follows_its_rule_is_reproducible_and_its_eta_fits_the_target(AdviFamily family)
    {
        // Stan's start: means in (−2, 2), unit scales; the target's mean (1, −2) is off it, so the trials have work to do.
        var start = GaussianParticleState.Start(Gaussian.Isotropic([0.5, 0.5], 1.0), seed: 7);
        double[] means = (double[])start.Means.Clone(), factors = (double[])start.Factors.Clone();
        var options = new AdviOptions(family);
        AdviEtaSearch search = AdviFlow.AdaptEta(Target(), options, start, seed: 21);
        AssertStansChoice(search);
        Assert.Contains(search.Eta, AdviFlow.EtaSequence);
        Assert.Equal(means, start.Means);
        Assert.Equal(factors, start.Factors);
        Assert.Equal(search.Trials, AdviFlow.AdaptEta(Target(), options, start, seed: 21).Trials);
        Assert.True(search.Trials.Max(t => t.Elbo) > search.InitialElbo);

        // The chosen η then fits the target with Stan's one gradient draw (means within 0.2 sd after 5,000 steps).
        var run = VariationalRunner.Run(new AdviFlow(Target(), options with { Eta = search.Eta }), start, new RunOptions(5000, TraceEvery: 0));
        Assert.Equal(RunStatus.Completed, run.Status);
        Gaussian q = run.FinalState.Particle();
        Assert.InRange(q.Mean[0], 1 - 0.2 * Math.Sqrt(2), 1 + 0.2 * Math.Sqrt(2));
        Assert.InRange(q.Mean[1], -2 - 0.2, -2 + 0.2);
    }

    [Fact]
    public void A_trial_where_the_target_fails_counts_zero_gradients_as_Stan_does_and_a_start_that_fails_is_an_error()
    {
        // log π throws beyond |x₀| > 3 (as a Stan model throws a domain error): the large-η trials step there, and must not
        // abort the search.
        static double Walled(ReadOnlySpan<double> x)
        {
            if (Math.Abs(x[0]) > 3) throw new TargetEvaluationException("outside the support");
            return -0.5 * (x[0] * x[0] + x[1] * x[1]);
        }
        var walled = new DelegateTarget(2, Walled, (x, g) =>
        {
            double value = Walled(x);
            g[0] = -x[0];
            g[1] = -x[1];
            return value;
        }, "walled", validateGradient: false);
        var start = GaussianParticleState.Start(Gaussian.Isotropic([0.0, 0.0], 0.25), seed: 1);
        AdviEtaSearch search = AdviFlow.AdaptEta(walled, new AdviOptions(), start, seed: 2);
        AssertStansChoice(search);
        Assert.Equal(double.NegativeInfinity, search.Trials[0].Elbo); // η = 100 leaves the support

        var nowhere = new DelegateTarget(2, x => double.NaN, (x, g) => double.NaN, "nowhere", validateGradient: false);
        var ex = Assert.Throws<TargetEvaluationException>(() => AdviFlow.AdaptEta(nowhere, new AdviOptions(), start, seed: 2));
        Assert.Contains("initial Gaussian", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Stans_relative_tolerance_stops_early_on_a_mixture_posterior_well_before_the_optimum()
    {
        // posteriordb's low_dim_gauss_mix (d = 5, 1,000 points), mean-field ADVI run as Stan runs it (η by trials, one
        // gradient draw, ELBO every 100 iterations from 100 draws, tol_rel_obj 0.01, window 10). The median of the first
        // three relative changes (1, then two small ones) fires within a few hundred iterations; running on to 10,000
        // lowers KL − log Z by many standard errors in every seed: the stop measured the ELBO's scale, not convergence.
        var model = Wasserflow.Models.PosteriorDb.Load("low_dim_gauss_mix-low_dim_gauss_mix", Path.Combine(AppContext.BaseDirectory, "TestData", "posteriordb"));
        for (ulong seed = 1; seed <= 4; seed++)
        {
            var rng = new Wasserflow.Randomness.Xoshiro256StarStar(seed);
            var mean = new double[model.Dimension];
            for (int i = 0; i < mean.Length; i++) mean[i] = 4 * rng.NextDouble() - 2;
            var start = GaussianParticleState.Start(Gaussian.Isotropic(mean, 1.0), seed: seed);
            AdviEtaSearch search = AdviFlow.AdaptEta(model, new AdviOptions(), start, seed);
            var flow = new AdviFlow(model, new AdviOptions(Eta: search.Eta));
            var stopped = VariationalRunner.Run(flow, start, new RunOptions(10_000, TraceEvery: 100, KlDraws: 100, StopRule: new RelativeToleranceRule(0.01, 10)));
            Assert.Equal(RunStatus.Converged, stopped.Status);
            Assert.True(stopped.FinalState.Iteration <= 1000, $"seed {seed}: stopped at {stopped.FinalState.Iteration}");
            var full = VariationalRunner.Run(flow, stopped.FinalState, new RunOptions(10_000 - stopped.FinalState.Iteration, TraceEvery: 0));
            var early = Wasserflow.Diagnostics.KlEstimator.Estimate(stopped.FinalState.ToMixture(), model, new Wasserflow.Randomness.Xoshiro256StarStar(99), 4000);
            var late = Wasserflow.Diagnostics.KlEstimator.Estimate(full.FinalState.ToMixture(), model, new Wasserflow.Randomness.Xoshiro256StarStar(99), 4000);
            double se = Math.Sqrt(early.StandardError * early.StandardError + late.StandardError * late.StandardError);
            Assert.True(early.Value - late.Value > 4 * se, $"seed {seed}: KL − log Z {early.Value:F2} ± {early.StandardError:F2} at the stop (iteration {stopped.FinalState.Iteration}), {late.Value:F2} ± {late.StandardError:F2} at 10,000");
        }
    }
}
