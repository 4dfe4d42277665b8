using Wasserflow.Diagnostics;
using Wasserflow.Families;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Tests.Diagnostics;

public class KlEstimatorTests
{
    [Fact]
    public void Isotropic_Gaussian_against_a_Gaussian_matches_the_closed_form_within_four_standard_errors()
    {
        // KL(N(m, εI) ‖ N(μ, Σ)) = ½[ε tr(Σ⁻¹) + (μ − m)ᵀΣ⁻¹(μ − m) − d + log det Σ − d log ε].
        var target = GaussianMixtureTarget.Gaussian([1.0, -1.0], [2.0, 0.6, 0.6, 1.0]);
        var q = IsotropicGaussianMixture.FromMeansVariances([0.5, 0.0], [0.8]);
        double det = 2.0 * 1.0 - 0.36;
        double[] inv = [1.0 / det, -0.6 / det, -0.6 / det, 2.0 / det];
        double dx = 0.5, dy = -1.0; // μ − m
        double quad = inv[0] * dx * dx + 2 * inv[1] * dx * dy + inv[3] * dy * dy;
        double exact = 0.5 * (0.8 * (inv[0] + inv[3]) + quad - 2 + Math.Log(det) - 2 * Math.Log(0.8));
        KlEstimate estimate = KlEstimator.Estimate(q, target, new Xoshiro256StarStar(1), 20_000);
        Assert.True(Math.Abs(estimate.Value - exact) < 4 * estimate.StandardError, $"{estimate} vs {exact}");
        Assert.True(estimate.StandardError < 0.02 * exact);
    }

    [Theory]
    [InlineData(2, 20, 1000)]   // blocks of 50 points
    [InlineData(30, 3, 900)]    // blocks of 256 and a partial one
    public void Batched_and_point_by_point_targets_give_the_same_estimate(int d, int n, int draws)
    {
        // The same mixture seen through the batched kernels and through plain delegates (point by point): same draws,
        // so the estimates agree to round-off.
        var batched = GaussianMixtureTarget.Random(new Xoshiro256StarStar(11), d, 4, 3, 2, CovarianceKind.Full);
        var pointwise = new DelegateTarget(d, x => batched.LogDensity(x), (x, g) => batched.LogDensityAndGradient(x, g), "copy", 0.0);
        var q = IsotropicGaussianMixture.Initialize(new Xoshiro256StarStar(12), n, d, 3, 1.5);
        KlEstimate a = KlEstimator.Estimate(q, batched, new Xoshiro256StarStar(13), draws);
        KlEstimate b = KlEstimator.Estimate(q, pointwise, new Xoshiro256StarStar(13), draws);
        Assert.Equal(a.Draws, b.Draws);
        Assert.True(Math.Abs(a.Value - b.Value) <= 1e-10 * (1 + Math.Abs(b.Value)), $"{a} vs {b}");
        Assert.True(Math.Abs(a.StandardError - b.StandardError) <= 1e-8 * b.StandardError, $"{a} vs {b}");
    }

    [Fact]
    public void Grid_KL_agrees_with_Monte_Carlo_on_a_normalised_2D_target()
    {
        var target = TestSupport.FigureOneTarget();
        var q = IsotropicGaussianMixture.Initialize(new Xoshiro256StarStar(4), 5, 2, 8, 3);
        KlEstimate mc = KlEstimator.Estimate(q, target, new Xoshiro256StarStar(5), 100_000);
        GridKlResult grid = GridKl.Compute(q, target, new Box2D(-30, 30, -30, 30), 600);
        Assert.Equal(0.0, grid.LogNormalizer, 4); // the target is normalised
        Assert.Equal(1.0, grid.MassOfQ, 4);
        Assert.True(Math.Abs(mc.Value - grid.Kl) < 4 * mc.StandardError + 1e-3, $"MC {mc} vs grid {grid.Kl}");
    }

    [Fact]
    public void Unknown_log_normalizer_gives_KL_minus_log_Z_and_grid_recovers_log_Z()
    {
        // Shift a normalised Gaussian's log density by +3: log Z = 3, so the MC value is KL − 3.
        var gaussian = GaussianMixtureTarget.Gaussian([0.0, 0.0], [1.0, 0.0, 0.0, 1.0]);
        var shifted = new DelegateTarget(2, x => gaussian.LogDensity(x) + 3, (x, g) => gaussian.LogDensityAndGradient(x, g) + 3);
        var q = IsotropicGaussianMixture.FromMeansVariances([0.3, 0.0], [1.5]);
        KlEstimate normalised = KlEstimator.Estimate(q, gaussian, new Xoshiro256StarStar(8), 2000);
        KlEstimate unnormalised = KlEstimator.Estimate(q, shifted, new Xoshiro256StarStar(8), 2000);
        Assert.False(unnormalised.IsExact);
        Assert.Equal(normalised.Value - 3, unnormalised.Value, 10);
        Assert.Equal(3.0, GridKl.Compute(q, shifted, new Box2D(-12, 12, -12, 12), 400).LogNormalizer, 6);
    }
}
