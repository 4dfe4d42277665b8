using Wasserflow.Baselines;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Tests.Baselines;

/// <summary>The RealNVP baseline: parameter count, inverse and log-determinant against a finite-difference Jacobian, the reverse-KL gradient against finite differences, and training lowering the KL.</summary>
public sealed class RealNvpTests
{
    private static GaussianMixtureTarget Target() =>
        GaussianMixtureTarget.Create([0.3, 0.7], [-1.0, 0.5, 1.5, -0.5], CovarianceKind.Full, [1.0, 0.3, 0.3, 0.5, 0.6, -0.2, -0.2, 1.2]);

    [Fact]
    public void The_papers_architecture_has_4976_parameters()
    {
        Assert.Equal(4976, new RealNvp(2, blocks: 2, hidden: 124, new Xoshiro256StarStar(1)).ParameterCount);
    }

    [Fact]
    public void Inverse_undoes_the_transform_and_the_log_determinant_matches_a_finite_difference_jacobian()
    {
        var flow = new RealNvp(2, blocks: 2, hidden: 7, new Xoshiro256StarStar(2));
        var rng = new Xoshiro256StarStar(3);
        for (int trial = 0; trial < 5; trial++)
        {
            double[] z = [rng.NextStandardNormal() * 1.5, rng.NextStandardNormal() * 1.5];
            var x = new double[2];
            var logDet = new double[1];
            flow.Transform(z, 1, x, logDet);
            var back = new double[2];
            double inverseLogDet = flow.Inverse(x, back);
            Assert.Equal(z[0], back[0], 10);
            Assert.Equal(z[1], back[1], 10);
            Assert.Equal(logDet[0], inverseLogDet, 10);
            // det of ∂T/∂z by central differences.
            var j = new double[4];
            const double h = 1e-6;
            for (int c = 0; c < 2; c++)
            {
                double[] up = [.. z], down = [.. z];
                up[c] += h;
                down[c] -= h;
                var xu = new double[2];
                var xd = new double[2];
                flow.Transform(up, 1, xu, new double[1]);
                flow.Transform(down, 1, xd, new double[1]);
                for (int r = 0; r < 2; r++) j[r * 2 + c] = (xu[r] - xd[r]) / (2 * h);
            }
            Assert.Equal(Math.Log(Math.Abs(j[0] * j[3] - j[1] * j[2])), logDet[0], 6);
        }
    }

    [Fact]
    public void The_reverse_KL_gradient_matches_finite_differences_in_every_parameter()
    {
        var flow = new RealNvp(2, blocks: 1, hidden: 5, new Xoshiro256StarStar(4));
        var target = Target();
        var rng = new Xoshiro256StarStar(5);
        var z = new double[2 * 4];
        rng.FillStandardNormal(z);
        flow.LossAndGradient(target, z, 4);
        var analytic = flow.Parameters.Select(p => (double[])p.Gradient.Clone()).ToList();
        const double h = 1e-6;
        for (int b = 0; b < flow.Parameters.Count; b++)
        {
            double[] values = flow.Parameters[b].Values;
            for (int i = 0; i < values.Length; i++)
            {
                double keep = values[i];
                values[i] = keep + h;
                double up = flow.LossAndGradient(target, z, 4);
                values[i] = keep - h;
                double down = flow.LossAndGradient(target, z, 4);
                values[i] = keep;
                Assert.True(Math.Abs((up - down) / (2 * h) - analytic[b][i]) < 1e-6 * Math.Max(1, Math.Abs(analytic[b][i])),
                    $"block {flow.Parameters[b].Name} #{b}, entry {i}: finite differences {(up - down) / (2 * h)}, analytic {analytic[b][i]}");
            }
        }
    }

    [Fact]
    public void Adam_on_the_reverse_KL_brings_the_flow_close_to_a_two_component_target()
    {
        var flow = new RealNvp(2, blocks: 2, hidden: 32, new Xoshiro256StarStar(6));
        var target = Target();
        var adam = new Adam(flow.Parameters, 3e-3);
        var rng = new Xoshiro256StarStar(7);
        var z = new double[2 * 128];
        for (int t = 0; t < 1500; t++)
        {
            rng.FillStandardNormal(z);
            flow.LossAndGradient(target, z, 128);
            adam.Step();
        }
        // The target is normalised, so the loss is the KL itself: estimate it on 20,000 fresh draws with its standard error.
        var big = new double[2 * 20_000];
        rng.FillStandardNormal(big);
        var x = new double[big.Length];
        var logDet = new double[20_000];
        flow.Transform(big, 20_000, x, logDet);
        var terms = new double[20_000];
        for (int i = 0; i < terms.Length; i++)
        {
            double logN = -0.5 * (big[2 * i] * big[2 * i] + big[2 * i + 1] * big[2 * i + 1]) - Math.Log(2 * Math.PI);
            terms[i] = logN - logDet[i] - target.LogDensity(x.AsSpan(2 * i, 2));
            Assert.Equal(logN - logDet[i], flow.LogDensity(x.AsSpan(2 * i, 2)), 8);
        }
        double kl = terms.Average(), se = Math.Sqrt(terms.Select(v => (v - kl) * (v - kl)).Sum() / (terms.Length - 1) / terms.Length);
        // A standard normal pushed forward by the untrained flow sits ≈ 0.9 nats away; a trained flow is within 0.05.
        Assert.True(kl + 4 * se < 0.05 && kl > -4 * se, $"KL {kl} ± {se}");
    }
}
