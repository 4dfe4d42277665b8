using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;

namespace Wasserflow.Tests.LinearAlgebra;

public class VectorKernelsTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 4)]
    [InlineData(4, 1)]
    [InlineData(4, 4)]
    [InlineData(5, 3)]
    [InlineData(7, 9)]
    [InlineData(8, 8)]
    [InlineData(9, 5)]
    [InlineData(13, 12)]
    [InlineData(20, 20)]
    [InlineData(33, 10)]
    public void Mixture_log_terms_have_the_bits_of_one_distance_per_component(int d, int k)
    {
        // Four components at a time (with AVX) must sum each distance exactly as the one-component kernels do.
        var rng = new Xoshiro256StarStar((ulong)(100 * d + k));
        double[] x = Draw(rng, d, 3.0), means = Draw(rng, k * d, 3.0), constants = Draw(rng, k, 5.0);
        double[] weights = Draw(rng, k * d, 1.0).Select(w => 0.1 + w * w).ToArray();
        double[] scales = Draw(rng, k, 1.0).Select(s => 0.2 + s * s).ToArray();
        foreach (bool weighted in new[] { false, true })
            foreach (bool scaled in new[] { false, true })
            {
                var expected = new double[k];
                for (int j = 0; j < k; j++)
                {
                    ReadOnlySpan<double> m = means.AsSpan(j * d, d);
                    double distance = weighted ? VectorKernels.WeightedSquaredDistance(x, m, weights.AsSpan(j * d, d)) : VectorKernels.SquaredDistance(x, m);
                    expected[j] = constants[j] - (scaled ? 0.5 * scales[j] : 0.5) * distance;
                }
                var terms = new double[k];
                VectorKernels.MixtureLogTerms(x, means, weighted ? weights : default, constants, scaled ? scales : default, terms);
                DenseTests.AssertSameBits(expected, terms);
                // and the value itself, summed plainly: ½·Σ w (x − m)² up to rounding
                for (int j = 0; j < k; j++)
                {
                    double plain = 0;
                    for (int i = 0; i < d; i++) plain += (weighted ? weights[j * d + i] : 1) * (x[i] - means[j * d + i]) * (x[i] - means[j * d + i]);
                    double value = constants[j] - 0.5 * (scaled ? scales[j] : 1) * plain;
                    Assert.True(Math.Abs(terms[j] - value) <= 1e-12 * (1 + Math.Abs(value)), $"component {j}: {terms[j]} vs {value}");
                }
            }
    }

    [Fact]
    public void Mixture_log_terms_reject_short_buffers()
    {
        Assert.Throws<ArgumentException>(() => VectorKernels.MixtureLogTerms(new double[4], new double[7], default, new double[2], default, new double[2]));
        Assert.Throws<ArgumentException>(() => VectorKernels.MixtureLogTerms(new double[4], new double[8], new double[4], new double[2], default, new double[2]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(10)]
    [InlineData(20)]
    public void Softmax_rows_match_the_plain_formula_and_zero_the_terms_far_below_their_row_maximum(int n)
    {
        var rng = new Xoshiro256StarStar((ulong)n);
        int m = 7;
        double[] terms = Draw(rng, m * n, 30.0);
        // Row 1: every term but one far below (whole vectors at the floor, whose exponential is skipped); row 2: all −∞.
        for (int j = 0; j < n; j++) terms[n + j] = j == n / 2 ? 3.0 : -2000.0 - j;
        for (int j = 0; j < n; j++) terms[2 * n + j] = double.NegativeInfinity;
        double[] original = (double[])terms.Clone();
        var logSumExp = new double[m];
        VectorKernels.SoftmaxRows(terms, m, n, logSumExp);
        for (int r = 0; r < m; r++)
        {
            ReadOnlySpan<double> row = original.AsSpan(r * n, n);
            double max = double.NegativeInfinity;
            foreach (double t in row) max = Math.Max(max, t);
            if (double.IsNegativeInfinity(max))
            {
                Assert.Equal(double.NegativeInfinity, logSumExp[r]);
                continue;
            }
            double sum = 0;
            foreach (double t in row) sum += Math.Exp(t - max);
            Assert.True(Math.Abs(logSumExp[r] - (max + Math.Log(sum))) <= 1e-14 * (1 + Math.Abs(logSumExp[r])), $"row {r}: {logSumExp[r]} vs {max + Math.Log(sum)}");
            double total = 0;
            for (int j = 0; j < n; j++)
            {
                double expected = Math.Exp(row[j] - max) / sum, weight = terms[r * n + j];
                total += weight;
                if (row[j] - max < -699.5) Assert.Equal(0.0, weight); // exact zeros that callers skip
                else Assert.True(Math.Abs(weight - expected) <= 1e-14 * expected + 1e-300, $"row {r}, term {j}: {weight} vs {expected}");
            }
            Assert.True(Math.Abs(total - 1) <= 1e-14, $"row {r}: weights sum to {total}");
        }
        Assert.Equal(1.0, terms[n + n / 2]);
    }

    private static double[] Draw(Xoshiro256StarStar rng, int n, double scale)
    {
        var v = new double[n];
        rng.FillStandardNormal(v);
        for (int i = 0; i < n; i++) v[i] *= scale;
        return v;
    }
}
