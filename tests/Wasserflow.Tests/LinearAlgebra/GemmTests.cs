using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;

namespace Wasserflow.Tests.LinearAlgebra;

public class GemmTests
{
    // Shapes that hit the 4×4 / 4×12 blocks and every remainder path (rows, columns and depth not multiples of 4 or 12).
    public static TheoryData<int, int, int> Shapes => new() { { 1, 1, 1 }, { 4, 4, 4 }, { 5, 7, 3 }, { 9, 20, 13 }, { 8, 27, 64 }, { 13, 31, 17 } };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MultiplyTransposed_equals_the_naive_product(int m, int n, int k)
    {
        var rng = new Xoshiro256StarStar((ulong)(m * 1000 + n * 10 + k));
        double[] a = Random(rng, m * k), b = Random(rng, n * k), c = new double[m * n];
        Gemm.MultiplyTransposed(a, m, b, n, k, c);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double expected = 0;
                for (int p = 0; p < k; p++) expected += a[i * k + p] * b[j * k + p];
                Assert.True(Math.Abs(c[i * n + j] - expected) <= 1e-12 * (1 + Math.Abs(expected)), $"C[{i},{j}] = {c[i * n + j]}, expected {expected}");
                // Bit for bit the one-row kernel's sum, whatever block of rows the entry was computed in (4 rows with
                // AVX-512's 32 registers, 2 with AVX2's 16): the same bits on either machine.
                Assert.Equal(VectorKernels.Dot(a.AsSpan(i * k, k), b.AsSpan(j * k, k)), c[i * n + j]);
            }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Skipping_leading_zeros_of_A_gives_the_same_bits(int m, int n, int k)
    {
        // A's row i is zero before column i − 1 (the shape of [m; c_1 … c_d] in the Gaussian flow's linear-predictor
        // path), with negative entries in B so that skipped products would have been −0.
        var rng = new Xoshiro256StarStar((ulong)(m * 7 + n * 3 + k));
        double[] a = Random(rng, m * k), b = Random(rng, n * k), plain = new double[m * n], skipped = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int p = 0; p < Math.Min(k, i - 1); p++) a[i * k + p] = 0.0;
        Gemm.MultiplyTransposed(a, m, b, n, k, plain);
        Gemm.MultiplyTransposed(a, m, b, n, k, skipped, skipLeadingZeros: true);
        DenseTests.AssertSameBits(plain, skipped);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void AddProduct_adds_and_Multiply_writes_A_times_B_and_A_transposed_times_B(int m, int n, int depth)
    {
        var rng = new Xoshiro256StarStar((ulong)(m * 1000 + n * 10 + depth + 7));
        double[] a = Random(rng, m * depth), b = Random(rng, depth * n), start = Random(rng, m * n);
        // A stored m×depth (strides depth, 1) and the same matrix stored transposed, depth×m (strides 1, m).
        var transposed = new double[depth * m];
        for (int i = 0; i < m; i++)
            for (int p = 0; p < depth; p++) transposed[p * m + i] = a[i * depth + p];
        var c1 = (double[])start.Clone();
        var c2 = (double[])start.Clone();
        var c3 = (double[])start.Clone(); // overwritten: the start values must not leak into it
        Gemm.AddProduct(a, depth, 1, m, depth, b, n, c1);
        Gemm.AddProduct(transposed, 1, m, m, depth, b, n, c2);
        Gemm.Multiply(a, depth, 1, m, depth, b, n, c3);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double expected = start[i * n + j];
                for (int p = 0; p < depth; p++) expected += a[i * depth + p] * b[p * n + j];
                Assert.True(Math.Abs(c1[i * n + j] - expected) <= 1e-12 * (1 + Math.Abs(expected)), $"A·B [{i},{j}] = {c1[i * n + j]}, expected {expected}");
                Assert.True(Math.Abs(c2[i * n + j] - expected) <= 1e-12 * (1 + Math.Abs(expected)), $"(Aᵀ)ᵀ·B [{i},{j}] = {c2[i * n + j]}, expected {expected}");
                double product = expected - start[i * n + j];
                Assert.True(Math.Abs(c3[i * n + j] - product) <= 1e-12 * (1 + Math.Abs(expected)), $"A·B (overwrite) [{i},{j}] = {c3[i * n + j]}, expected {product}");
            }
    }

    [Fact]
    public void Undersized_buffers_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => Gemm.MultiplyTransposed(new double[5], 2, new double[6], 2, 3, new double[4]));
        Assert.Throws<ArgumentException>(() => Gemm.AddProduct(new double[5], 3, 1, 2, 3, new double[6], 2, new double[4]));
    }

    private static double[] Random(Xoshiro256StarStar rng, int n)
    {
        var v = new double[n];
        rng.FillStandardNormal(v);
        return v;
    }
}
