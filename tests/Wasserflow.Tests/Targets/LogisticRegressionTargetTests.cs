using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Tests.Targets;

public class LogisticRegressionTargetTests
{
    [Fact]
    public void Gradient_and_hessian_match_finite_differences()
    {
        var target = LogisticRegressionTarget.Synthetic(new Xoshiro256StarStar(4), 5, 40, 1.5);
        double[] z = [0.3, -1.2, 0.8, 2.0, -0.4];
        TestSupport.AssertGradientMatchesFiniteDifferences(target, z);
        AssertHessianMatchesFiniteDifferences(target, z);
        var mixture = GaussianMixtureTarget.Bimodal();
        AssertHessianMatchesFiniteDifferences(mixture, [0.4, -0.3]);
        AssertHessianMatchesFiniteDifferences(TestSupport.FigureOneTarget(), [1.0, 2.0]);
    }

    internal static void AssertHessianMatchesFiniteDifferences(ITargetWithHessian target, double[] x)
    {
        int d = x.Length;
        var g = new double[d];
        var h = new double[d * d];
        target.LogDensityGradientAndHessian(x, g, h);
        for (int i = 0; i < d; i++)
        {
            double[] column = TestSupport.FiniteDifferenceGradient(p =>
            {
                var gp = new double[d];
                target.LogDensityAndGradient(p, gp);
                return gp[i];
            }, x);
            for (int j = 0; j < d; j++)
                Assert.True(Math.Abs(h[i * d + j] - column[j]) <= 1e-6 * (1 + Math.Abs(column[j])),
                    $"{target.Name}: H[{i},{j}] = {h[i * d + j]}, finite differences {column[j]}");
        }
    }

    [Theory]
    [InlineData(2, 10, 0.0, 7)]
    [InlineData(7, 33, 0.5, 9)]
    [InlineData(100, 500, 0.0, 8)]
    public void Batched_evaluation_equals_point_by_point(int d, int n, double prior, int count)
    {
        var rng = new Xoshiro256StarStar((ulong)d);
        var target = LogisticRegressionTarget.Synthetic(rng, d, n, 1.0, priorPrecision: prior);
        var points = new double[count * d];
        rng.FillStandardNormal(points);
        for (int i = 0; i < points.Length; i++) points[i] *= 3; // reach saturated logits too
        var logDensities = new double[count];
        var gradients = new double[count * d];
        target.LogDensityAndGradientBatch(points, count, logDensities, gradients);
        var g = new double[d];
        for (int p = 0; p < count; p++)
        {
            double lp = target.LogDensityAndGradient(points.AsSpan(p * d, d), g);
            Assert.True(Math.Abs(lp - logDensities[p]) <= 1e-12 * (1 + Math.Abs(lp)), $"point {p}: {logDensities[p]} vs {lp}");
            double scale = 1 + Math.Sqrt(g.Sum(v => v * v));
            for (int i = 0; i < d; i++)
                Assert.True(Math.Abs(g[i] - gradients[p * d + i]) <= 1e-12 * scale, $"point {p}, coordinate {i}: {gradients[p * d + i]} vs {g[i]}");
        }
    }

    [Fact]
    public void Separable_data_with_a_flat_prior_is_reported_improper()
    {
        // Four points separated by the line x₁ = 0.
        var target = new LogisticRegressionTarget([1, 0.2, 2, -0.5, -1, 0.3, -1.5, -1], [1, 1, 0, 0]);
        Assert.False(target.CheckProper(out string? reason));
        Assert.Contains("improper", reason);
        var overlapping = new LogisticRegressionTarget([1, 0.2, 2, -0.5, -1, 0.3, -1.5, -1, 0.5, 0.5, -0.5, 0.1], [1, 0, 0, 1, 0, 1]);
        Assert.True(overlapping.CheckProper(out reason), reason);
        var withPrior = new LogisticRegressionTarget([1, 0.2, 2, -0.5, -1, 0.3, -1.5, -1], [1, 1, 0, 0], priorPrecision: 1.0);
        Assert.True(withPrior.CheckProper(out _));
    }

    [Fact]
    public void Log_density_stays_finite_for_huge_logits()
    {
        var target = new LogisticRegressionTarget([1.0, -1.0], [1, 0]);
        double[] g = new double[1];
        Assert.True(double.IsFinite(target.LogDensityAndGradient([1e6], g)));
        Assert.True(double.IsFinite(target.LogDensityAndGradient([-1e6], g)));
        Assert.Equal(-2e6, target.LogDensity([-1e6]), 6);
    }
}
