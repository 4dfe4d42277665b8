using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;

namespace Wasserflow.Tests.LinearAlgebra;

/// <summary>
/// The four-points-per-vector mixture kernel against a plain scalar log-sum-exp, against finite differences of its own
/// log density, with far components cut exactly, and with the same bits for a point wherever it sits in a batch.
/// </summary>
public sealed class DiagonalMixtureKernelTests
{
    private sealed record Mixture(int D, int K, double[] Means, double[] Precisions, bool Isotropic, double[] Constants)
    {
        public double Lambda(int k, int i) => Isotropic ? Precisions[k] : Precisions[k * D + i];
    }

    private static Mixture Random(Xoshiro256StarStar rng, int d, int k, bool isotropic)
    {
        var means = new double[k * d];
        for (int i = 0; i < means.Length; i++) means[i] = rng.NextDouble(-3, 3);
        var precisions = new double[isotropic ? k : k * d];
        for (int i = 0; i < precisions.Length; i++) precisions[i] = rng.NextDouble(0.3, 3);
        var constants = new double[k];
        for (int j = 0; j < k; j++) constants[j] = rng.NextDouble(-2, 0);
        return new Mixture(d, k, means, precisions, isotropic, constants);
    }

    // log p(x) = log Σ_k exp(ℓ_k) and ∇log p = Σ_k ρ_k λ_k ⊙ (μ_k − x), straight from the definition.
    private static double Reference(Mixture m, ReadOnlySpan<double> x, Span<double> gradient)
    {
        var terms = new double[m.K];
        for (int k = 0; k < m.K; k++)
        {
            double s = 0;
            for (int i = 0; i < m.D; i++) s += m.Lambda(k, i) * (x[i] - m.Means[k * m.D + i]) * (x[i] - m.Means[k * m.D + i]);
            terms[k] = m.Constants[k] - 0.5 * s;
        }
        double max = terms.Max(), sum = terms.Sum(t => Math.Exp(t - max));
        gradient.Clear();
        for (int k = 0; k < m.K; k++)
        {
            double rho = Math.Exp(terms[k] - max) / sum;
            for (int i = 0; i < m.D; i++) gradient[i] += rho * m.Lambda(k, i) * (m.Means[k * m.D + i] - x[i]);
        }
        return max + Math.Log(sum);
    }

    private static void Evaluate(Mixture m, double[] points, int count, double[] logDensities, double[] gradients) =>
        DiagonalMixtureKernel.LogDensityAndGradient(points, count, m.D, m.Means, m.Precisions, m.Isotropic, m.Constants, logDensities, gradients);

    [Theory]
    [InlineData(1, 1, false)]
    [InlineData(2, 5, false)]
    [InlineData(2, 20, true)]
    [InlineData(3, 7, true)]
    [InlineData(8, 3, false)]
    [InlineData(5, 40, true)]
    public void Log_density_and_gradient_match_the_definition_for_every_batch_length(int d, int k, bool isotropic)
    {
        var rng = new Xoshiro256StarStar((ulong)(100 * d + k));
        Mixture m = Random(rng, d, k, isotropic);
        for (int count = 1; count <= 9; count++)
        {
            var points = new double[count * d];
            for (int i = 0; i < points.Length; i++) points[i] = rng.NextDouble(-4, 4);
            double[] logDensities = new double[count], gradients = new double[count * d], expected = new double[d];
            Evaluate(m, points, count, logDensities, gradients);
            for (int p = 0; p < count; p++)
            {
                double reference = Reference(m, points.AsSpan(p * d, d), expected);
                Assert.True(Math.Abs(logDensities[p] - reference) <= 1e-13 * (1 + Math.Abs(reference)), $"count {count}, point {p}: {logDensities[p]} vs {reference}");
                for (int i = 0; i < d; i++)
                    Assert.True(Math.Abs(gradients[p * d + i] - expected[i]) <= 1e-12 * (1 + Math.Abs(expected[i])), $"count {count}, point {p}, coordinate {i}");
            }
        }
    }

    [Fact]
    public void The_gradient_is_the_derivative_of_the_log_density()
    {
        var rng = new Xoshiro256StarStar(7);
        Mixture m = Random(rng, 3, 6, isotropic: false);
        double[] x = [0.3, -1.2, 2.0], logDensity = new double[1], gradient = new double[3], plus = new double[1], minus = new double[1];
        Evaluate(m, x, 1, logDensity, gradient);
        const double h = 1e-5;
        for (int i = 0; i < 3; i++)
        {
            double[] xp = [.. x], xm = [.. x];
            xp[i] += h;
            xm[i] -= h;
            Evaluate(m, xp, 1, plus, new double[3]);
            Evaluate(m, xm, 1, minus, new double[3]);
            // Central differences: error O(h²·|f'''|) ≈ 1e-10 here, far above round-off (1e-16/h ≈ 1e-11).
            Assert.True(Math.Abs((plus[0] - minus[0]) / (2 * h) - gradient[i]) < 1e-8, $"coordinate {i}");
        }
    }

    [Fact]
    public void A_far_component_gets_weight_exactly_zero_and_changes_nothing()
    {
        // Component 1 sits 40 sd away: ℓ_1 − ℓ_0 ≈ −800 at these points, far below the cut, so every lane of its vector
        // is cut and the kernel skips its exponential and gradient pass; p must be component 0's alone.
        var m = new Mixture(2, 2, [0, 0, 40, 0], [1, 1], Isotropic: true, [-1.0, -1.0]);
        double[] logDensity = new double[4], gradient = new double[8];
        double[] points = [0, 0, 0.5, -0.5, -1, 2, 0.1, 0.1];
        Evaluate(m, points, 4, logDensity, gradient);
        for (int p = 0; p < 4; p++)
        {
            double x = points[2 * p], y = points[2 * p + 1];
            Assert.Equal(-1.0 - 0.5 * (x * x + y * y), logDensity[p], 15);
            Assert.Equal(-x, gradient[2 * p], 15);
            Assert.Equal(-y, gradient[2 * p + 1], 15);
        }
    }

    [Fact]
    public void A_point_gets_the_same_bits_wherever_it_sits_in_a_batch()
    {
        var rng = new Xoshiro256StarStar(9);
        Mixture m = Random(rng, 2, 20, isotropic: true);
        var points = new double[11 * 2];
        for (int i = 0; i < points.Length; i++) points[i] = rng.NextDouble(-30, 30); // far points: some lanes cut, others not
        double[] alone = new double[1], aloneGradient = new double[2];
        for (int p = 0; p < 11; p++)
        {
            Evaluate(m, points[(2 * p)..(2 * p + 2)], 1, alone, aloneGradient);
            foreach (int count in (int[])[11, p + 1])
            {
                double[] logDensities = new double[count], gradients = new double[2 * count];
                Evaluate(m, points, count, logDensities, gradients);
                Assert.Equal(alone[0], logDensities[p]);
                Assert.Equal(aloneGradient, gradients[(2 * p)..(2 * p + 2)]);
            }
        }
    }
}
