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
