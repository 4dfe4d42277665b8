using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;

namespace Wasserflow.Tests.LinearAlgebra;

public class DenseTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(33)]
    public void Inverse_of_a_lower_triangular_matrix_times_the_matrix_is_the_identity(int d)
    {
        var rng = new Xoshiro256StarStar((ulong)d);
        var l = new double[d * d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j <= i; j++)
                l[i * d + j] = i == j ? 1.0 + rng.NextDouble() : rng.NextDouble() - 0.5;
        var inverse = new double[d * d];
        Dense.InvertLower(l, d, inverse);
        var product = new double[d * d];
        Dense.Multiply(l, inverse, d, product);
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
                Assert.True(Math.Abs(product[i * d + j] - (i == j ? 1 : 0)) < 1e-12, $"(L L⁻¹)[{i},{j}] = {product[i * d + j]}");
        for (int i = 0; i < d; i++)
            for (int j = i + 1; j < d; j++)
                Assert.Equal(0.0, inverse[i * d + j]);
    }

    internal static void AssertSameBits(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.DoubleToInt64Bits(expected[i]) == BitConverter.DoubleToInt64Bits(actual[i]), $"entry {i}: {actual[i]} vs {expected[i]}");
    }

    // A random lower-triangular matrix (zeros above the diagonal), a few exact zeros below it, positive or negative diagonal.
    private static double[] RandomLower(int d, ulong seed)
    {
        var rng = new Xoshiro256StarStar(seed);
        var l = new double[d * d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j <= i; j++)
                l[i * d + j] = i == j ? (1.0 + rng.NextDouble()) * (rng.NextDouble() < 0.2 ? -1 : 1) : rng.NextDouble() < 0.1 ? 0.0 : rng.NextDouble() - 0.5;
        return l;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(6)]
    [InlineData(13)]
    [InlineData(32)]
    public void Triangular_inverse_gives_the_bits_of_row_by_row_multiply_adds(int d)
    {
        // The arithmetic of the row-by-row form this kernel replaced: row i accumulates −L_ik·(row k of L⁻¹) for
        // k = 0 … i − 1 (a separate multiply and add), sets the diagonal to 1 and scales by 1/L_ii.
        double[] l = RandomLower(d, (ulong)(100 + d)), expected = new double[d * d], inverse = new double[d * d];
        for (int i = 0; i < d; i++)
        {
            for (int k = 0; k < i; k++)
                for (int col = 0; col <= k; col++) expected[i * d + col] = expected[k * d + col] * -l[i * d + k] + expected[i * d + col];
            expected[i * d + i] = 1.0;
            for (int col = 0; col <= i; col++) expected[i * d + col] *= 1.0 / l[i * d + i];
        }
        Array.Fill(inverse, double.NaN); // whatever the buffer held
        Dense.InvertLower(l, d, inverse);
        AssertSameBits(expected, inverse);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(7)]
    [InlineData(16)]
    [InlineData(30)]
    public void Product_of_two_lower_triangular_matrices_gives_the_bits_of_row_by_row_multiply_adds(int d)
    {
        double[] l = RandomLower(d, (ulong)(200 + d)), t = RandomLower(d, (ulong)(300 + d)), expected = new double[d * d], result = new double[d * d];
        for (int i = 0; i < d; i++)
            for (int j = i + 1; j < d; j++) t[i * d + j] = double.NaN; // T's upper triangle is never read
        for (int row = 0; row < d; row++)
            for (int k = 0; k <= row; k++)
                for (int col = 0; col <= k; col++) expected[row * d + col] = t[k * d + col] * l[row * d + k] + expected[row * d + col];
        Array.Fill(result, double.NaN);
        Dense.MultiplyLowerLower(l, t, d, result);
        AssertSameBits(expected, result);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(8)]
    [InlineData(21)]
    [InlineData(40)]
    public void Lower_gram_matrix_matches_dot_products_and_leaves_the_upper_triangle(int d)
    {
        double[] l = RandomLower(d, (ulong)(400 + d)), result = new double[d * d];
        Array.Fill(result, -7.0);
        Dense.LowerGram(l, d, result);
        for (int row = 0; row < d; row++)
            for (int col = 0; col < d; col++)
            {
                if (col > row)
                {
                    Assert.Equal(-7.0, result[row * d + col]);
                    continue;
                }
                double dot = 0, magnitude = 0;
                for (int k = 0; k <= col; k++)
                {
                    dot += l[row * d + k] * l[col * d + k];
                    magnitude += Math.Abs(l[row * d + k] * l[col * d + k]);
                }
                Assert.True(Math.Abs(result[row * d + col] - dot) <= 4e-16 * d * magnitude, $"({row}, {col}): {result[row * d + col]} vs {dot}");
            }
    }

    [Fact]
    public void Symmetric_eigen_decomposition_reconstructs_the_matrix()
    {
        const int d = 9;
        double[] a = Families.GaussianTests.RandomSpd(new Xoshiro256StarStar(2), d);
        double[] work = (double[])a.Clone(), values = new double[d], vectors = new double[d * d];
        Dense.SymmetricEigen(work, d, values, vectors);
        for (int i = 1; i < d; i++) Assert.True(values[i - 1] <= values[i]);
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
            {
                double s = 0;
                for (int k = 0; k < d; k++) s += vectors[i * d + k] * values[k] * vectors[j * d + k];
                Assert.True(Math.Abs(s - a[i * d + j]) < 1e-12, $"[{i},{j}]: {s} vs {a[i * d + j]}");
            }
    }

    [Theory]
    [InlineData(7, 13, 4)]
    [InlineData(8, 16, 4)]
    [InlineData(5, 3, 2)]
    public void Row_dots_equal_naive_dot_products(int rows, int length, int m)
    {
        var rng = new Xoshiro256StarStar(3);
        var a = new double[rows * length];
        var b = new double[m * length];
        rng.FillStandardNormal(a);
        rng.FillStandardNormal(b);
        var result = new double[m * rows];
        Dense.RowDots(a, rows, length, b, m, result);
        for (int k = 0; k < m; k++)
            for (int r = 0; r < rows; r++)
            {
                double s = 0;
                for (int j = 0; j < length; j++) s += a[r * length + j] * b[k * length + j];
                Assert.Equal(s, result[k * rows + r], 12);
            }
    }
}
