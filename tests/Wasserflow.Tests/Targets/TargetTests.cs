using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Tests.Targets;

public class TargetTests
{
    public static TheoryData<string> Kinds => new() { "Isotropic", "Diagonal", "Full" };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Gaussian_mixture_gradient_matches_finite_differences(string kind)
    {
        var rng = new Xoshiro256StarStar(11);
        var target = GaussianMixtureTarget.Random(rng, 4, 3, 3, 2, Enum.Parse<CovarianceKind>(kind));
        for (int t = 0; t < 5; t++)
        {
            var x = new double[4];
            target.Sample(rng, x);
            TestSupport.AssertGradientMatchesFiniteDifferences(target, x);
        }
    }

    [Fact]
    public void Gaussian_mixture_log_density_matches_a_naive_sum_of_densities()
    {
        // Slow reference: Σ_k w_k N(x; μ_k, Σ_k) with an explicit inverse and determinant (2-D closed forms).
        var target = TestSupport.FigureOneTarget(5);
        var x = new[] { 0.7, -1.3 };
        double sum = 0;
        for (int k = 0; k < target.ComponentCount; k++)
        {
            double[] c = target.ComponentCovariance(k);
            double det = c[0] * c[3] - c[1] * c[2];
            double dx = x[0] - target.ComponentMean(k)[0], dy = x[1] - target.ComponentMean(k)[1];
            double quad = (c[3] * dx * dx - 2 * c[1] * dx * dy + c[0] * dy * dy) / det;
            sum += target.Weights[k] * Math.Exp(-0.5 * quad) / (2 * Math.PI * Math.Sqrt(det));
        }
        Assert.Equal(Math.Log(sum), target.LogDensity(x), 12);
    }

    [Fact]
    public void Gaussian_mixture_stays_finite_far_from_every_mode()
    {
        // Where every component underflows exp(), log-sum-exp keeps log pi finite (clip-then-exp would give −∞).
        var target = TestSupport.FigureOneTarget();
        var g = new double[2];
        double lp = target.LogDensityAndGradient([500.0, -800.0], g);
        Assert.True(double.IsFinite(lp) && lp < -1000);
        Assert.True(double.IsFinite(g[0]) && double.IsFinite(g[1]));
    }

    [Fact]
    public void Random_mixture_follows_appendix_E2()
    {
        var target = GaussianMixtureTarget.Random(new Xoshiro256StarStar(2), 3, 6, 8, 5, CovarianceKind.Diagonal);
        Assert.Equal(1.0, target.Weights.Sum(), 12);
        for (int k = 0; k < 6; k++)
        {
            Assert.All(target.ComponentMean(k).ToArray(), m => Assert.InRange(m, -8, 8));
            double max = Enumerable.Range(0, 3).Max(i => target.ComponentVariance(k, i));
            Assert.Equal(5.0, max, 12);
        }
        // Raw weights are integers in {1..12}: the ratio of any two weights is a ratio of such integers.
        double smallest = target.Weights.Min();
        Assert.All(target.Weights, w => Assert.InRange(w / smallest, 1 - 1e-12, 12 + 1e-12));
    }

    [Fact]
    public void Corner_mixtures_put_four_components_at_plus_minus_pt_with_equal_or_the_c3_weights()
    {
        var equal = GaussianMixtureTarget.Corners(new Xoshiro256StarStar(3), 4, 1, CovarianceKind.Full);
        var c3 = GaussianMixtureTarget.Corners(new Xoshiro256StarStar(3), 3, 2, CovarianceKind.Full, firstWeight: 0.1);
        Assert.Equal([0.25, 0.25, 0.25, 0.25], equal.Weights);
        Assert.Equal(0.1, c3.Weights[0], 12);
        Assert.All(c3.Weights.Skip(1), w => Assert.Equal(0.3, w, 12));
        var corners = new HashSet<(double, double)>();
        for (int k = 0; k < 4; k++)
        {
            corners.Add((equal.ComponentMean(k)[0], equal.ComponentMean(k)[1]));
            // Scaled as the random mixtures: the largest covariance entry (a diagonal one, Σ being SPD) is r_tg (+1e-6).
            Assert.InRange(Math.Max(c3.ComponentVariance(k, 0), c3.ComponentVariance(k, 1)), 2 - 1e-9, 2 + 2e-6);
        }
        Assert.Equal(new HashSet<(double, double)> { (4, 4), (4, -4), (-4, 4), (-4, -4) }, corners);
        Assert.Equal([3.0, 3.0], c3.ComponentMean(0).ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => GaussianMixtureTarget.Corners(new Xoshiro256StarStar(1), 3, 2, CovarianceKind.Full, firstWeight: 1));
    }

    [Fact]
    public void Funnel_gradient_matches_finite_differences_and_density_integrates_to_one()
    {
        var funnel = new FunnelTarget();
        TestSupport.AssertGradientMatchesFiniteDifferences(funnel, [0.3, -0.8]);
        TestSupport.AssertGradientMatchesFiniteDifferences(funnel, [-2.0, 0.1]);
        TestSupport.AssertGradientMatchesFiniteDifferences(new FunnelTarget(4), [0.5, 1.0, -0.2, 0.4]);
        // ∫∫ pi = 1: integrate x2 analytically-free by midpoint rule on a wide box; funnel mass outside is < 1e-6.
        Assert.Equal(1.0, Integrate2D(funnel, -7, 7, -40, 40, 1400), 3);
    }

    [Fact]
    public void Sinh_arcsinh_gradient_matches_finite_differences_and_density_integrates_to_one()
    {
        var target = SinhArcsinhTarget.Paper(-0.2, -0.5);
        TestSupport.AssertGradientMatchesFiniteDifferences(target, [0.4, -1.1]);
        TestSupport.AssertGradientMatchesFiniteDifferences(target, [-3.0, 2.5]);
        Assert.Equal(1.0, Integrate2D(target, -60, 60, -60, 60, 2400), 2);
    }

    [Fact]
    public void Delegate_target_with_a_wrong_gradient_is_rejected_on_first_use()
    {
        var target = new DelegateTarget(2, x => -0.5 * (x[0] * x[0] + x[1] * x[1]),
            (x, g) => { g[0] = x[0]; g[1] = -x[1]; return -0.5 * (x[0] * x[0] + x[1] * x[1]); }, "wrong-sign");
        var ex = Assert.Throws<TargetEvaluationException>(() => target.LogDensityAndGradient([1.0, 2.0], new double[2]));
        Assert.Contains("gradient[0]", ex.Message);
        Assert.Contains("wrong-sign", ex.Message);
    }

    [Fact]
    public void Delegate_target_returning_NaN_is_reported_with_the_point()
    {
        var target = new DelegateTarget(1, x => double.NaN, (x, g) => { g[0] = 0; return double.NaN; }, "nan-model");
        var ex = Assert.Throws<TargetEvaluationException>(() => target.LogDensityAndGradient([0.5], new double[1]));
        Assert.Contains("nan-model", ex.Message);
        Assert.Contains("0.5", ex.Message);
    }

    [Fact]
    public void Delegate_target_rejects_a_point_of_the_wrong_dimension()
    {
        var target = new DelegateTarget(3, x => 0, (x, g) => 0);
        Assert.Throws<TargetEvaluationException>(() => target.LogDensity([1.0, 2.0]));
    }

    private static double Integrate2D(ITarget target, double x0, double x1, double y0, double y1, int n)
    {
        double hx = (x1 - x0) / n, hy = (y1 - y0) / n, s = 0;
        var p = new double[2];
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++)
            {
                p[0] = x0 + (a + 0.5) * hx;
                p[1] = y0 + (b + 0.5) * hy;
                s += Math.Exp(target.LogDensity(p));
            }
        return s * hx * hy;
    }

    [Theory]
    [InlineData(CovarianceKind.Full, 2, 5, 9)]
    [InlineData(CovarianceKind.Full, 7, 3, 13)]
    [InlineData(CovarianceKind.Full, 20, 10, 40)]
    [InlineData(CovarianceKind.Full, 3, 1, 2)]
    [InlineData(CovarianceKind.Diagonal, 2, 5, 9)]
    [InlineData(CovarianceKind.Diagonal, 11, 4, 13)]
    [InlineData(CovarianceKind.Diagonal, 1, 1, 1)]
    [InlineData(CovarianceKind.Isotropic, 2, 5, 9)]
    [InlineData(CovarianceKind.Isotropic, 9, 3, 7)]
    public void Batched_mixture_equals_point_by_point(CovarianceKind kind, int d, int components, int count)
    {
        var rng = new Xoshiro256StarStar((ulong)(d * 100 + components));
        var target = GaussianMixtureTarget.Random(rng, d, components, 10, 2, kind);
        var points = new double[count * d];
        rng.FillStandardNormal(points);
        for (int i = 0; i < points.Length; i++) points[i] *= 8; // far from some modes: tiny responsibilities
        double[] logDensities = new double[count], gradients = new double[count * d], g = new double[d];
        target.LogDensityAndGradientBatch(points, count, logDensities, gradients);
        for (int p = 0; p < count; p++)
        {
            double lp = target.LogDensityAndGradient(points.AsSpan(p * d, d), g);
            Assert.True(Math.Abs(lp - logDensities[p]) <= 1e-11 * (1 + Math.Abs(lp)), $"point {p}: log density {logDensities[p]} vs {lp}");
            double scale = 1 + g.Max(Math.Abs);
            for (int i = 0; i < d; i++)
                Assert.True(Math.Abs(g[i] - gradients[p * d + i]) <= 1e-11 * scale, $"point {p}, coordinate {i}: gradient {gradients[p * d + i]} vs {g[i]}");
        }
    }
}
