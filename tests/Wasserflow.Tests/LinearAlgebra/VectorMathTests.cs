using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;

namespace Wasserflow.Tests.LinearAlgebra;

/// <summary>
/// The fixed exp and log: within one ulp of the C library over their whole ranges (normal, subnormal, near overflow),
/// IEEE special values, and the same bits for an element wherever it sits in a span (tails included).
/// </summary>
public sealed class VectorMathTests
{
    // Distance in units in the last place between two finite doubles of the same sign (0 when equal).
    private static long Ulps(double a, double b)
    {
        if (a == b) return 0;
        long ia = BitConverter.DoubleToInt64Bits(a), ib = BitConverter.DoubleToInt64Bits(b);
        return Math.Abs(ia - ib);
    }

    private static double[] Uniform(int n, double low, double high, ulong seed)
    {
        var rng = new Xoshiro256StarStar(seed);
        var x = new double[n];
        for (int i = 0; i < n; i++) x[i] = low + (high - low) * rng.NextDouble();
        return x;
    }

    [Theory]
    [InlineData(-1.0, 1.0)]
    [InlineData(-40.0, 40.0)]
    [InlineData(-708.0, 709.7)]
    [InlineData(-745.0, -708.5)] // subnormal results
    [InlineData(-1e-10, 1e-10)]
    public void Exp_is_within_one_ulp_of_the_c_library(double low, double high)
    {
        double[] x = Uniform(200_003, low, high, 11);
        var y = new double[x.Length];
        VectorMath.Exp(x, y);
        for (int i = 0; i < x.Length; i++)
        {
            double expected = Math.Exp(x[i]);
            // A subnormal result has fewer bits; one unit of its last place is still the bar.
            long u = Ulps(y[i], expected);
            Assert.True(u <= 1, $"exp({x[i]:R}) = {y[i]:R}, C library {expected:R}: {u} ulp");
        }
    }

    [Theory]
    [InlineData(0.5, 2.0)]
    [InlineData(1e-300, 1e-200)]
    [InlineData(1e-5, 1e5)]
    [InlineData(1e200, 1.7e308)]
    [InlineData(0.999, 1.001)]
    public void Log_is_within_one_ulp_of_the_c_library(double low, double high)
    {
        // Log-uniform over wide ranges so that every exponent is visited; uniform over a narrow one.
        double[] x = high - low < 1 ? Uniform(200_003, low, high, 13)
            : [.. Uniform(200_003, Math.Log(low), Math.Log(high), 12).Select(v => Math.Min(high, Math.Max(low, Math.Exp(v))))];
        var y = new double[x.Length];
        VectorMath.Log(x, y);
        for (int i = 0; i < x.Length; i++)
        {
            double expected = Math.Log(x[i]);
            Assert.True(Ulps(y[i], expected) <= 1, $"log({x[i]:R}) = {y[i]:R}, C library {expected:R}");
        }
    }

    [Fact]
    public void Log_of_subnormals_is_within_one_ulp()
    {
        double[] x = [double.Epsilon, 2 * double.Epsilon, 1e-320, 3.3e-310, 2.2250738585072014e-308 * 0.999, BitConverter.Int64BitsToDouble(0x000F_FFFF_FFFF_FFFFL)];
        var y = new double[x.Length];
        VectorMath.Log(x, y);
        for (int i = 0; i < x.Length; i++) Assert.True(Ulps(y[i], Math.Log(x[i])) <= 1, $"log({x[i]:R}) = {y[i]:R}, C library {Math.Log(x[i]):R}");
    }

    [Fact]
    public void Special_values_follow_ieee()
    {
        double[] x = [double.NaN, double.PositiveInfinity, double.NegativeInfinity, 0.0, -0.0, 709.78, 709.79, 710, 1000, -745.2, -746, -1e6, 1.0];
        var e = new double[x.Length];
        VectorMath.Exp(x, e);
        Assert.True(double.IsNaN(e[0]));
        Assert.Equal(double.PositiveInfinity, e[1]);
        Assert.Equal(0.0, e[2]);
        Assert.Equal(1.0, e[3]);
        Assert.Equal(1.0, e[4]);
        Assert.True(Ulps(e[5], Math.Exp(709.78)) <= 1 && double.IsFinite(e[5]));
        Assert.Equal(double.PositiveInfinity, e[6]); // e^709.79 > double.MaxValue
        Assert.Equal(double.PositiveInfinity, e[7]);
        Assert.Equal(double.PositiveInfinity, e[8]);
        Assert.Equal(Math.Exp(-745.2), e[9]);
        Assert.Equal(0.0, e[10]);
        Assert.Equal(0.0, e[11]);
        Assert.True(Ulps(e[12], Math.E) <= 1);

        double[] v = [double.NaN, double.PositiveInfinity, double.NegativeInfinity, 0.0, -0.0, -1.0, 1.0, 2.0, double.MaxValue, double.Epsilon];
        var l = new double[v.Length];
        VectorMath.Log(v, l);
        Assert.True(double.IsNaN(l[0]));
        Assert.Equal(double.PositiveInfinity, l[1]);
        Assert.True(double.IsNaN(l[2]));
        Assert.Equal(double.NegativeInfinity, l[3]);
        Assert.Equal(double.NegativeInfinity, l[4]);
        Assert.True(double.IsNaN(l[5]));
        Assert.Equal(0.0, l[6]);
        Assert.Equal(Math.Log(2.0), l[7]);
        Assert.Equal(Math.Log(double.MaxValue), l[8]);
        Assert.Equal(Math.Log(double.Epsilon), l[9]);
    }

    [Fact]
    public void An_element_gets_the_same_bits_wherever_it_sits_in_a_span()
    {
        double[] x = Uniform(37, -30, 30, 14);
        var single = x.Select(VectorMath.Exp).ToArray();
        var singleLog = x.Select(v => VectorMath.Log(Math.Abs(v))).ToArray();
        for (int offset = 0; offset < 8; offset++)
            for (int length = 0; offset + length <= x.Length; length++)
            {
                var y = new double[length];
                VectorMath.Exp(x.AsSpan(offset, length), y);
                Assert.Equal(single.AsSpan(offset, length).ToArray(), y);
                double[] a = [.. x.Skip(offset).Take(length).Select(Math.Abs)];
                VectorMath.Log(a, a); // in place
                Assert.Equal(singleLog.AsSpan(offset, length).ToArray(), a);
            }
        Assert.Throws<ArgumentException>(() => VectorMath.Exp(new double[3], new double[2]));
    }
}
