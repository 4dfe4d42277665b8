using Wasserflow.Families;
using Wasserflow.Randomness;

namespace Wasserflow.Tests.Families;

public class IsotropicGaussianMixtureTests
{
    private static readonly IsotropicGaussianMixture Q =
        IsotropicGaussianMixture.FromMeansVariances([0.0, 1.0, 3.0, -2.0, -1.0, 0.5], [0.5, 2.0, 1.0]);

    [Fact]
    public void Score_matches_finite_differences_of_the_log_density()
    {
        foreach (var x in new[] { new[] { 0.2, 0.3 }, new[] { 5.0, -4.0 }, new[] { -30.0, 40.0 } })
        {
            var score = new double[2];
            Q.LogDensityAndScore(x, score);
            double[] fd = TestSupport.FiniteDifferenceGradient(p => Q.LogDensity(p), x);
            for (int i = 0; i < 2; i++) Assert.True(Math.Abs(score[i] - fd[i]) < 1e-6 * (1 + Math.Abs(fd[i])), $"{score[i]} vs {fd[i]}");
        }
    }

    [Theory]
    [InlineData(2, 3, 9)]
    [InlineData(1, 1, 2)]
    [InlineData(13, 20, 7)]
    [InlineData(4, 6, 5)]
    public void Batched_density_and_score_equal_a_direct_sum_over_components(int d, int components, int count)
    {
        var rng = new Xoshiro256StarStar((ulong)(d + 31 * components));
        var q = IsotropicGaussianMixture.Initialize(rng, components, d, 5, 0.7);
        var points = new double[count * d];
        rng.FillStandardNormal(points);
        for (int i = 0; i < points.Length; i++) points[i] *= 6; // some points far from every component
        double[] logNormalisers = new double[components], precisions = new double[components];
        MixtureKernel.Prepare(q.Variances, d, logNormalisers, precisions);
        double[] logDensities = new double[count], scores = new double[count * d];
        MixtureKernel.LogDensityAndScoreBatch(q.Means, logNormalisers, precisions, d, points, count, logDensities, scores,
            new double[count * components + 4], new double[count]);
        for (int p = 0; p < count; p++)
        {
            // Written out: ℓ_j = −‖x − m_j‖²/(2ε_j) − (d/2) log(2πε_j), log q = logsumexp ℓ − log N,
            // ∇log q = Σ_j r_j (m_j − x)/ε_j with r = softmax(ℓ).
            double[] x = points[(p * d)..((p + 1) * d)], l = new double[components];
            for (int j = 0; j < components; j++)
            {
                double e = q.Variances[j], dist = 0;
                for (int i = 0; i < d; i++) dist += (x[i] - q.ComponentMean(j)[i]) * (x[i] - q.ComponentMean(j)[i]);
                l[j] = -dist / (2 * e) - 0.5 * d * Math.Log(2 * Math.PI * e);
            }
            double max = l.Max(), sum = l.Sum(v => Math.Exp(v - max));
            double lq = max + Math.Log(sum) - Math.Log(components);
            var score = new double[d];
            for (int j = 0; j < components; j++)
                for (int i = 0; i < d; i++) score[i] += Math.Exp(l[j] - max) / sum * (q.ComponentMean(j)[i] - x[i]) / q.Variances[j];
            Assert.True(Math.Abs(lq - logDensities[p]) <= 1e-12 * (1 + Math.Abs(lq)), $"point {p}: log density {logDensities[p]} vs {lq}");
            double single = q.LogDensity(x); // the public per-point path shares the kernel
            Assert.True(Math.Abs(lq - single) <= 1e-12 * (1 + Math.Abs(lq)), $"point {p}: LogDensity {single} vs {lq}");
            double scale = 1 + score.Max(Math.Abs);
            for (int i = 0; i < d; i++)
                Assert.True(Math.Abs(score[i] - scores[p * d + i]) <= 1e-12 * scale, $"point {p}, coordinate {i}: score {scores[p * d + i]} vs {score[i]}");
        }
    }

    [Fact]
    public void Log_density_is_the_log_of_the_average_component_density()
    {
        double[] x = [0.7, -0.4];
        double s = 0;
        for (int j = 0; j < 3; j++)
        {
            double e = Q.Variances[j];
            double d2 = Math.Pow(x[0] - Q.ComponentMean(j)[0], 2) + Math.Pow(x[1] - Q.ComponentMean(j)[1], 2);
            s += Math.Exp(-d2 / (2 * e)) / (2 * Math.PI * e) / 3;
        }
        Assert.Equal(Math.Log(s), Q.LogDensity(x), 12);
    }

    [Fact]
    public void Sample_mean_and_covariance_match_the_closed_forms_within_four_standard_errors()
    {
        const int n = 100_000;
        var draws = new double[n * 2];
        Q.Sample(new Xoshiro256StarStar(3), draws);
        double[] mean = Q.Mean();
        double[] cov = Q.Covariance();
        for (int i = 0; i < 2; i++)
        {
            double m = 0;
            for (int p = 0; p < n; p++) m += draws[2 * p + i] / n;
            double se = Math.Sqrt(cov[i * 2 + i] / n);
            Assert.True(Math.Abs(m - mean[i]) < 4 * se, $"coordinate {i}: {m} vs {mean[i]} ± {se}");
        }
        // Marginal density integrates to one.
        double integral = 0;
        for (int k = 0; k < 40_000; k++) integral += Q.MarginalDensity(1, -20 + (k + 0.5) * 0.001);
        Assert.Equal(1.0, integral * 0.001, 6);
    }

    [Fact]
    public void Bad_parameters_are_rejected_with_the_component_named()
    {
        var ex = Assert.Throws<ArgumentException>(() => IsotropicGaussianMixture.FromMeansVariances([0.0, 1.0], [1.0, -1.0]));
        Assert.Contains("component 1", ex.Message);
        Assert.Throws<ArgumentException>(() => IsotropicGaussianMixture.FromMeansVariances([0.0, 1.0, 2.0], [1.0, 1.0]));
    }
}
