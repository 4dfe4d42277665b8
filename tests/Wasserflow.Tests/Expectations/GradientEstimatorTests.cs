using Wasserflow.Expectations;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Tests.Expectations;

public class GradientEstimatorTests
{
    // 1-D target: 0.3 N(−1, 0.5) + 0.7 N(2, 1.5).
    private static readonly GaussianMixtureTarget Target1D =
        GaussianMixtureTarget.Create([0.3, 0.7], [-1.0, 2.0], CovarianceKind.Isotropic, [0.5, 1.5]);

    /// <summary>KL(q‖pi) for a 1-D uniform mixture by the midpoint rule on [−25, 25] with 100 001 points (error ≪ 1e-10).</summary>
    private static double ExactKl(double[] means, double[] variances)
    {
        var q = Wasserflow.Families.IsotropicGaussianMixture.FromMeansVariances(means, variances);
        const int n = 100_001;
        const double lo = -25, hi = 25;
        double h = (hi - lo) / n, kl = 0;
        var x = new double[1];
        for (int i = 0; i < n; i++)
        {
            x[0] = lo + (i + 0.5) * h;
            double logQ = q.LogDensity(x);
            double qv = Math.Exp(logQ);
            if (qv > 0) kl += qv * (logQ - Target1D.LogDensity(x));
        }
        return kl * h;
    }

    [Theory]
    [InlineData(new[] { 0.5 }, new[] { 1.2 })]
    [InlineData(new[] { -1.5, 0.2, 2.5 }, new[] { 0.4, 2.0, 0.9 })]
    public void Monte_Carlo_gradients_agree_with_finite_differences_of_the_quadrature_KL(double[] means, double[] variances)
    {
        int n = variances.Length;
        // Finite differences of the exact KL (central, h = 1e-4: truncation error O(h²) ≈ 1e-8, far below the MC error).
        const double h = 1e-4;
        var fdMeans = new double[n];
        var fdVariances = new double[n];
        for (int i = 0; i < n; i++)
        {
            double[] up = (double[])means.Clone(), down = (double[])means.Clone();
            up[i] += h; down[i] -= h;
            fdMeans[i] = (ExactKl(up, variances) - ExactKl(down, variances)) / (2 * h);
            double[] vUp = (double[])variances.Clone(), vDown = (double[])variances.Clone();
            vUp[i] += h; vDown[i] -= h;
            fdVariances[i] = (ExactKl(means, vUp) - ExactKl(means, vDown)) / (2 * h);
        }

        // R = 40 independent replications of the estimator with B = 5000 draws per component. The replication mean
        // has standard error s/√R; with z = 5 a single comparison fails by chance with probability < 1e-5 (t with 39
        // degrees of freedom: about 1.3e-5), so this 2–6 comparison test has a family-wise false-failure rate < 1e-4.
        const int replications = 40;
        var estimator = new IsotropicMixtureGradientEstimator(Target1D, n, 5000);
        var rng = new Xoshiro256StarStar(2024);
        var gm = new double[n];
        var gv = new double[n];
        var sumM = new double[n]; var sumSqM = new double[n]; var sumV = new double[n]; var sumSqV = new double[n];
        for (int r = 0; r < replications; r++)
        {
            estimator.Estimate(means, variances, rng, gm, gv);
            for (int i = 0; i < n; i++)
            {
                sumM[i] += gm[i]; sumSqM[i] += gm[i] * gm[i];
                sumV[i] += gv[i]; sumSqV[i] += gv[i] * gv[i];
            }
        }
        for (int i = 0; i < n; i++)
        {
            AssertWithin(fdMeans[i], sumM[i], sumSqM[i], replications, $"∂F/∂m_{i}");
            AssertWithin(fdVariances[i], sumV[i], sumSqV[i], replications, $"∂F/∂ε_{i}");
        }
    }

    private static void AssertWithin(double expected, double sum, double sumSq, int r, string what)
    {
        double mean = sum / r;
        double se = Math.Sqrt(Math.Max(0, (sumSq - r * mean * mean) / (r - 1)) / r);
        Assert.True(Math.Abs(mean - expected) <= 5 * se + 1e-7,
            $"{what}: Monte Carlo {mean} ± {se} vs finite differences {expected}");
        // The test must be able to fail: the standard error is small against the gradient itself.
        Assert.True(se < 0.05 * Math.Abs(expected) + 1e-3, $"{what}: standard error {se} too large to test {expected}");
    }

    // Each case has N²·B·d ≥ 2·10⁵, so the parallel estimator really splits the work (and the batched kernels see
    // chunks of different sizes, in both layouts of the mixture kernel: d ≤ 8 and above).
    [Theory]
    [InlineData(CovarianceKind.Diagonal, 50, 20)]
    [InlineData(CovarianceKind.Diagonal, 2, 101)]
    [InlineData(CovarianceKind.Full, 20, 33)]
    public void Same_key_gives_the_same_numbers_for_any_degree_of_parallelism(CovarianceKind kind, int d, int n)
    {
        var target = GaussianMixtureTarget.Random(new Xoshiro256StarStar(5), d, 4, 3, 2, kind);
        var q = Wasserflow.Families.IsotropicGaussianMixture.Initialize(new Xoshiro256StarStar(6), n, d, 3, 2);
        var serial = new IsotropicMixtureGradientEstimator(target, n, 10, maxDegreeOfParallelism: 1);
        var parallel = new IsotropicMixtureGradientEstimator(target, n, 10, maxDegreeOfParallelism: 4);
        double[] gm1 = new double[n * d], gv1 = new double[n], gm2 = new double[n * d], gv2 = new double[n];
        double o1 = serial.Estimate(q.Means, q.Variances, new Xoshiro256StarStar(9), gm1, gv1);
        double o2 = parallel.Estimate(q.Means, q.Variances, new Xoshiro256StarStar(9), gm2, gv2);
        Assert.Equal(gm1, gm2);
        Assert.Equal(gv1, gv2);
        Assert.Equal(o1, o2);
    }
}

public sealed class RandomizedCubatureTests
{
    [Fact]
    public void Points_are_antithetic_orthogonal_and_unbiased_for_a_fourth_moment_where_cubature_is_not()
    {
        const int d = 5, sets = 4000;
        var rule = Wasserflow.Expectations.GaussianExpectation.RandomizedCubature;
        Assert.Equal(2 * d, rule.PointCount(d));
        var rng = new Wasserflow.Randomness.Xoshiro256StarStar(12);
        var points = new double[2 * d * d];
        var estimates = new double[sets];
        for (int s = 0; s < sets; s++)
        {
            rule.FillStandardPoints(points, d, rng);
            for (int i = 0; i < d; i++)
                for (int row = 0; row < d; row++) Assert.Equal(-points[i * d + row], points[(d + i) * d + row]);
            // Directions orthogonal: ⟨ξ_i, ξ_j⟩ = 0 for i ≠ j.
            for (int i = 0; i < d; i++)
                for (int j = i + 1; j < d; j++)
                {
                    double dot = 0;
                    for (int row = 0; row < d; row++) dot += points[i * d + row] * points[j * d + row];
                    Assert.True(Math.Abs(dot) < 1e-9 * d, $"⟨ξ_{i}, ξ_{j}⟩ = {dot}");
                }
            double sum = 0;
            for (int n = 0; n < 2 * d; n++) sum += Math.Pow(points[n * d], 4);
            estimates[s] = sum / (2 * d);
        }
        // E[ξ₁⁴] = 3 under N(0, I); the fixed cubature rule gives (1/2d)·2·d² = d = 5.
        double mean = estimates.Average();
        double se = Math.Sqrt(estimates.Sum(e => (e - mean) * (e - mean)) / (sets - 1) / sets);
        Assert.InRange(mean, 3 - 4 * se, 3 + 4 * se);
        var cubature = new double[2 * d * d];
        Wasserflow.Expectations.GaussianExpectation.Cubature.FillStandardPoints(cubature, d, null!);
        Assert.Equal(d, Enumerable.Range(0, 2 * d).Sum(n => Math.Pow(cubature[n * d], 4)) / (2 * d), 10);
    }
}
