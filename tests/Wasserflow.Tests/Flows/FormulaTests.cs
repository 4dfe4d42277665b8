using Wasserflow.Diagnostics;
using Wasserflow.Families;
using Wasserflow.Flows;
using Wasserflow.Randomness;
using Wasserflow.Running;
using Wasserflow.Targets;

namespace Wasserflow.Tests.Flows;

/// <summary>
/// Tests that pin the formulas themselves (each written out here by hand from the paper), so that a changed factor or
/// sign fails a test of its own rather than only an end-to-end run that happens to notice.
/// </summary>
public class FormulaTests
{
    private const int N = 4, D = 3;
    private const double Gamma = 0.07;

    private static (double[] Mean, double Variance, double[] GradMean, double GradVariance) Inputs(int component)
    {
        var rng = new Xoshiro256StarStar(100 + (ulong)component);
        var mean = new double[D];
        var grad = new double[D];
        rng.FillStandardNormal(mean);
        rng.FillStandardNormal(grad);
        return (mean, 0.5 + rng.NextDouble(), grad, 0.8 * (rng.NextDouble() - 0.5));
    }

    [Fact]
    public void One_step_of_ibw_md_and_ngd_is_paper_000_eq_14_16_17_written_out()
    {
        for (int j = 0; j < N; j++)
        {
            var (m, eps, gm, ge) = Inputs(j);
            var next = new double[D];
            // IBW (Eq 14): m' = m − γN ∇_m F; ε' = (1 − (2Nγ/d) ∇_ε F)² ε.
            double v = new IbwUpdate().Update(m, eps, gm, ge, Gamma, N, next);
            Assert.Equal(Math.Pow(1 - 2 * N * Gamma / D * ge, 2) * eps, v, 14);
            for (int i = 0; i < D; i++) Assert.Equal(m[i] - Gamma * N * gm[i], next[i], 14);
            // MD (Eq 16): the same mean step; ε' = ε exp(−(2Nγ/d) ∇_ε F).
            v = new MirrorDescentUpdate().Update(m, eps, gm, ge, Gamma, N, next);
            Assert.Equal(eps * Math.Exp(-2 * N * Gamma / D * ge), v, 14);
            for (int i = 0; i < D; i++) Assert.Equal(m[i] - Gamma * N * gm[i], next[i], 14);
            // NGD (Eq 17): 1/ε' = 1/ε + (2Nγ/d) ∇_ε F; m' = m − γNε ∇_m F with the old ε.
            v = new NaturalGradientUpdate().Update(m, eps, gm, ge, Gamma, N, next);
            Assert.Equal(1 / (1 / eps + 2 * N * Gamma / D * ge), v, 14);
            for (int i = 0; i < D; i++) Assert.Equal(m[i] - Gamma * N * eps * gm[i], next[i], 14);
        }
    }

    [Theory]
    [InlineData("ibw")]
    [InlineData("md")]
    public void A_target_that_is_a_uniform_isotropic_mixture_is_recovered(string algorithm)
    {
        // π = (1/3) Σ N(μ_j, s_j² I) in d = 2 with well-separated means: the family holds π itself, so KL(q‖π) → 0 and
        // the parameters come back. Started 1 away from each mean with variance 1; γ = 0.02, B = 20, 3000 iterations.
        double[] means = [-6, 0, 6, 1, 0, -6], variances = [1.0, 0.5, 2.0];
        var target = GaussianMixtureTarget.Create([1, 1, 1], means, CovarianceKind.Isotropic, variances, "iso-3");
        double[] start = [-5, 1, 5, 0, 1, -5];
        var state = IsotropicMixtureState.Start(IsotropicGaussianMixture.FromMeansVariances(start, [1, 1, 1]), 3);
        var flow = new IsotropicMixtureFlow(target, IsotropicMixtureAlgorithms.Create(algorithm), 3, new IsotropicMixtureFlowOptions(0.02, 20));
        var r = VariationalRunner.Run(flow, state, new RunOptions(3000, 0));
        var q = r.FinalState;
        var kl = KlEstimator.Estimate(q.ToMixture(), target, new Xoshiro256StarStar(11), 20_000);
        // The estimator's noise vanishes as q → π (the log ratio tends to 0 everywhere); what remains is the iterate's
        // own jitter from B = 20 gradient draws, of order γ: KL below 4 SE + 0.01.
        Assert.True(kl.Value < 4 * kl.StandardError + 0.01, $"KL {kl.Value} ± {kl.StandardError}");
        for (int j = 0; j < 3; j++)
        {
            for (int i = 0; i < 2; i++) Assert.True(Math.Abs(q.Means[j * 2 + i] - means[j * 2 + i]) < 0.15, $"mean {j},{i}: {q.Means[j * 2 + i]}");
            Assert.True(Math.Abs(q.Variances[j] / variances[j] - 1) < 0.15, $"variance {j}: {q.Variances[j]}");
        }
    }

    [Fact]
    public void Mixture_covariance_matches_the_sample_covariance_within_four_standard_errors()
    {
        var rng = new Xoshiro256StarStar(21);
        var q = IsotropicGaussianMixture.Initialize(rng, 3, 2, 4, 1.5);
        double[] cov = q.Covariance();
        const int n = 200_000;
        var x = new double[n * 2];
        q.Sample(new Xoshiro256StarStar(22), x);
        double m0 = 0, m1 = 0;
        for (int p = 0; p < n; p++) { m0 += x[2 * p]; m1 += x[2 * p + 1]; }
        m0 /= n; m1 /= n;
        for (int a = 0; a < 2; a++)
        {
            for (int b = 0; b < 2; b++)
            {
                double ma = a == 0 ? m0 : m1, mb = b == 0 ? m0 : m1;
                var products = Enumerable.Range(0, n).Select(p => (x[2 * p + a] - ma) * (x[2 * p + b] - mb)).ToArray();
                double mean = products.Average();
                double se = Math.Sqrt(products.Sum(v => (v - mean) * (v - mean)) / (n - 1) / n);
                Assert.True(Math.Abs(mean - cov[a * 2 + b]) < 4 * se, $"Σ[{a},{b}] = {cov[a * 2 + b]} vs sample {mean} ± {se}");
            }
        }
    }

    [Fact]
    public void Logistic_gradient_with_a_prior_on_the_batched_path_matches_the_log_density_written_out()
    {
        // d = 12 ≥ 8 takes the blocked, vectorised path; λ = 0.7 so the prior's term is large enough to matter.
        const int d = 12, n = 40;
        const double lambda = 0.7;
        var rng = new Xoshiro256StarStar(31);
        var x = new double[n * d];
        var y = new double[n];
        rng.FillStandardNormal(x);
        for (int i = 0; i < n; i++) y[i] = rng.NextDouble() < 0.5 ? 0 : 1;
        var target = new LogisticRegressionTarget(x, y, lambda);
        // log π(z) = Σ_i [y_i t_i − log(1 + e^{t_i})] − (λ/2)|z|², t_i = x_iᵀ z.
        double LogPosterior(double[] z)
        {
            double s = -0.5 * lambda * z.Sum(v => v * v);
            for (int i = 0; i < n; i++)
            {
                double t = 0;
                for (int j = 0; j < d; j++) t += x[i * d + j] * z[j];
                s += y[i] * t - (Math.Max(t, 0) + Math.Log(1 + Math.Exp(-Math.Abs(t))));
            }
            return s;
        }
        const int count = 5;
        var points = new double[count * d];
        rng.FillStandardNormal(points);
        var logDensities = new double[count];
        var gradients = new double[count * d];
        target.LogDensityAndGradientBatch(points, count, logDensities, gradients);
        for (int p = 0; p < count; p++)
        {
            double[] z = points.AsSpan(p * d, d).ToArray();
            Assert.Equal(LogPosterior(z), logDensities[p], 10);
            double[] fd = TestSupport.FiniteDifferenceGradient(LogPosterior, z);
            for (int j = 0; j < d; j++)
                Assert.True(Math.Abs(fd[j] - gradients[p * d + j]) < 1e-6 * (1 + Math.Abs(fd[j])), $"point {p}, ∂{j}: {gradients[p * d + j]} vs {fd[j]}");
        }
    }
}
