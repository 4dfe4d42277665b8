using Wasserflow.Randomness;

namespace Wasserflow.Tests.Randomness;

public class Xoshiro256StarStarTests
{
    [Fact]
    public void Given_the_reference_state_1_2_3_4_When_drawing_Then_the_published_outputs_appear()
    {
        // Reference outputs of the authors' C implementation xoshiro256starstar.c with s = {1, 2, 3, 4}.
        var rng = Xoshiro256StarStar.FromState([1UL, 2UL, 3UL, 4UL]);
        Assert.Equal(11520UL, rng.NextUInt64());
        Assert.Equal(0UL, rng.NextUInt64());
        Assert.Equal(1509978240UL, rng.NextUInt64());
        Assert.Equal(1215971899390074240UL, rng.NextUInt64());
    }

    [Fact]
    public void State_round_trips_and_clones_continue_identically()
    {
        var a = new Xoshiro256StarStar(42);
        a.NextUInt64();
        var b = Xoshiro256StarStar.FromState(a.GetState());
        var c = a.Clone();
        for (int i = 0; i < 10; i++)
        {
            ulong v = a.NextUInt64();
            Assert.Equal(v, b.NextUInt64());
            Assert.Equal(v, c.NextUInt64());
        }
    }

    [Fact]
    public void Standard_normals_have_mean_zero_and_variance_one_within_four_standard_errors()
    {
        // n = 200 000: SE(mean) = 1/√n ≈ 0.0022; SE(variance) = √(2/n) ≈ 0.0032. z = 4 gives a false-failure rate < 1e-4.
        var rng = new Xoshiro256StarStar(7);
        var x = new double[200_000];
        rng.FillStandardNormal(x);
        double mean = x.Average();
        double variance = x.Select(v => (v - mean) * (v - mean)).Sum() / (x.Length - 1);
        Assert.InRange(mean, -4 / Math.Sqrt(x.Length), 4 / Math.Sqrt(x.Length));
        Assert.InRange(variance, 1 - 4 * Math.Sqrt(2.0 / x.Length), 1 + 4 * Math.Sqrt(2.0 / x.Length));
    }

    [Fact]
    public void NextInt_is_in_range_and_covers_every_value()
    {
        var rng = new Xoshiro256StarStar(3);
        var seen = new int[7];
        for (int i = 0; i < 7000; i++) seen[rng.NextInt(7)]++;
        Assert.All(seen, count => Assert.InRange(count, 800, 1200)); // mean 1000, sd ≈ 29.
    }

    [Fact]
    public void All_zero_state_is_rejected()
    {
        Assert.Throws<ArgumentException>(() => Xoshiro256StarStar.FromState([0UL, 0UL, 0UL, 0UL]));
    }

    [Fact]
    public void Sin_and_cos_of_two_pi_u_agree_with_the_runtime_and_the_vector_path_with_the_scalar_one()
    {
        var rng = new Xoshiro256StarStar(42);
        var u = new double[4099];
        for (int i = 0; i < u.Length; i++) u[i] = rng.NextDouble();
        u[0] = 0; u[1] = 0.125; u[2] = 0.25; u[3] = 0.375; u[4] = 0.5; u[5] = 0.875; u[6] = 1 - 1e-16; // quadrant edges
        double[] sin = new double[u.Length], cos = new double[u.Length], s1 = new double[1], c1 = new double[1];
        Xoshiro256StarStar.SinCosTwoPi(u, sin, cos);
        for (int i = 0; i < u.Length; i++)
        {
            var (s, c) = Math.SinCos(2 * Math.PI * u[i]);
            // 2πu itself carries a rounding of up to 4.4e-16 that the exact reduction avoids; allow 1e-15.
            Assert.True(Math.Abs(s - sin[i]) <= 1e-15 && Math.Abs(c - cos[i]) <= 1e-15, $"u = {u[i]:R}: ({sin[i]}, {cos[i]}) vs ({s}, {c})");
            Xoshiro256StarStar.SinCosTwoPi(u.AsSpan(i, 1), s1, c1); // the scalar tail path
            Assert.Equal(sin[i], s1[0]);
            Assert.Equal(cos[i], c1[0]);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(10)]
    [InlineData(258)]
    [InlineData(263)]
    [InlineData(1001)]
    public void Normals_are_the_box_muller_pairs_of_the_uniform_stream(int length)
    {
        // Lengths with a last block of 1, 2, 3 or 4·k pairs, and odd ones: the fused pass pads its last vector.
        var rng = new Xoshiro256StarStar(42);
        var reference = rng.Clone();
        var v = new double[length];
        rng.FillStandardNormal(v);
        // Blocks of 128 pairs: u₁ and u₂ alternate in the stream; the logs are taken over the block.
        for (int start = 0; start < v.Length / 2; start += 128)
        {
            int count = Math.Min(128, v.Length / 2 - start);
            double[] r = new double[count], u = new double[count], s = new double[count], c = new double[count];
            for (int i = 0; i < count; i++)
            {
                r[i] = 1.0 - reference.NextDouble();
                u[i] = reference.NextDouble();
            }
            Wasserflow.LinearAlgebra.VectorMath.Log(r, r);
            Xoshiro256StarStar.SinCosTwoPi(u, s, c);
            for (int i = 0; i < count; i++)
            {
                double radius = Math.Sqrt(-2.0 * r[i]);
                Assert.Equal(radius * c[i], v[2 * (start + i)]);
                Assert.Equal(radius * s[i], v[2 * (start + i) + 1]);
            }
        }
        if (length % 2 == 1) Assert.Equal(reference.NextStandardNormal(), v[^1]);
        Assert.Equal(reference.NextUInt64(), rng.NextUInt64()); // both streams at the same place
    }
}
