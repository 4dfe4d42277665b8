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
}
