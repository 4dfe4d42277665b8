using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Wasserflow.Randomness;

/// <summary>
/// The xoshiro256** pseudo-random generator of Blackman and Vigna [Blackman2021]: 256 bits of state, period 2^256 − 1,
/// the same numbers on every machine and every .NET version (unlike <see cref="System.Random"/>).
/// </summary>
/// <remarks>
/// Seeding expands a 64-bit seed with SplitMix64, as the authors recommend. <see cref="Fork"/> derives an independent
/// stream from the current state and a stream id, so that each component or thread gets its own stream and the numbers
/// do not depend on how work is scheduled. Standard normals come from <see cref="NextStandardNormal"/> (Box–Muller on
/// two 53-bit uniforms; the sine branch is used by <see cref="FillStandardNormal"/> so no draw is wasted there).
/// Not thread-safe: give each thread its own instance.
/// </remarks>
public sealed class Xoshiro256StarStar
{
    private ulong _s0, _s1, _s2, _s3;

    /// <summary>Creates a generator whose state is the SplitMix64 expansion of <paramref name="seed"/>.</summary>
    public Xoshiro256StarStar(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    private Xoshiro256StarStar(ulong s0, ulong s1, ulong s2, ulong s3)
    {
        _s0 = s0; _s1 = s1; _s2 = s2; _s3 = s3;
    }

    /// <summary>Restores a generator from a state captured by <see cref="GetState"/>.</summary>
    /// <exception cref="ArgumentException">The state is not four words or is all zero (xoshiro's one forbidden state).</exception>
    public static Xoshiro256StarStar FromState(ReadOnlySpan<ulong> state)
    {
        if (state.Length != 4)
            throw new ArgumentException($"A xoshiro256** state has 4 words, not {state.Length}.", nameof(state));
        if ((state[0] | state[1] | state[2] | state[3]) == 0)
            throw new ArgumentException("The all-zero state is not a valid xoshiro256** state.", nameof(state));
        return new Xoshiro256StarStar(state[0], state[1], state[2], state[3]);
    }

    /// <summary>The generator's position: four 64-bit words that <see cref="FromState"/> turns back into a generator.</summary>
    public ulong[] GetState() => [_s0, _s1, _s2, _s3];

    /// <summary>An independent copy at the same position.</summary>
    public Xoshiro256StarStar Clone() => new(_s0, _s1, _s2, _s3);

    /// <summary>Moves this generator to <paramref name="other"/>'s position, without allocating.</summary>
    public void CopyFrom(Xoshiro256StarStar other)
    {
        ArgumentNullException.ThrowIfNull(other);
        (_s0, _s1, _s2, _s3) = (other._s0, other._s1, other._s2, other._s3);
    }

    /// <summary>
    /// A new generator for stream <paramref name="streamId"/>, seeded from this generator's current state (which is not
    /// advanced). The same state and id always give the same stream; different ids give unrelated streams.
    /// </summary>
    public Xoshiro256StarStar Fork(ulong streamId)
    {
        ulong key = _s0 ^ BitOperations.RotateLeft(_s1, 17) ^ BitOperations.RotateLeft(_s2, 31) ^ BitOperations.RotateLeft(_s3, 47);
        return new Xoshiro256StarStar(Mix(key, streamId));
    }

    /// <summary>Re-seeds this instance in place as <c>new Xoshiro256StarStar(Mix(key, streamId))</c> would, without allocating.</summary>
    public void Reseed(ulong key, ulong streamId)
    {
        ulong x = Mix(key, streamId);
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    /// <summary>Mixes a key and a stream id into a 64-bit seed (two SplitMix64 rounds).</summary>
    public static ulong Mix(ulong key, ulong streamId)
    {
        ulong x = key ^ (streamId * 0xD1B54A32D192ED03UL);
        _ = SplitMix64(ref x);
        return SplitMix64(ref x);
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64() => Next(ref _s0, ref _s1, ref _s2, ref _s3);

    // One step of the generator on the given state (fields, or locals a loop keeps in registers).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Next(ref ulong s0, ref ulong s1, ref ulong s2, ref ulong s3)
    {
        ulong result = BitOperations.RotateLeft(s1 * 5, 7) * 9;
        ulong t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = BitOperations.RotateLeft(s3, 45);
        return result;
    }

    // The 53-bit uniform in [0, 1) of one output, as NextDouble forms it.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double ToUnit(ulong bits) => (long)(bits >> 11) * (1.0 / (1UL << 53)); // through long: one conversion instruction, the same value

    /// <summary>A uniform double in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => ToUnit(NextUInt64());

    /// <summary>A uniform double in [<paramref name="low"/>, <paramref name="high"/>).</summary>
    public double NextDouble(double low, double high) => low + (high - low) * NextDouble();

    /// <summary>A uniform integer in [0, <paramref name="maxExclusive"/>), without modulo bias (Lemire's method).</summary>
    public int NextInt(int maxExclusive)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxExclusive);
        ulong range = (ulong)maxExclusive;
        while (true)
        {
            ulong high = Math.BigMul(NextUInt64(), range, out ulong low);
            if (low >= (0UL - range) % range)
                return (int)high;
        }
    }

    /// <summary>Fills <paramref name="order"/> with a uniformly random permutation of 0 … n − 1 (Fisher–Yates from the end, one <see cref="NextInt"/> per position).</summary>
    public void Permutation(Span<int> order)
    {
        for (int i = 0; i < order.Length; i++) order[i] = i;
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
    }

    /// <summary>One standard normal draw (Box–Muller, cosine branch).</summary>
    public double NextStandardNormal()
    {
        double u1 = 1.0 - NextDouble(); // (0, 1]: log is finite
        double u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>
    /// Fills <paramref name="destination"/> with independent standard normals, two per pair of uniforms (Box–Muller:
    /// r = √(−2 log u₁), θ = 2πu₂, the pair (r cos θ, r sin θ)); an odd length uses the cosine branch alone for the last
    /// element. Blocks of 128 pairs are transformed with vector code.
    /// </summary>
    /// <remarks>
    /// sin and cos of 2πu come from <c>SinCosTwoPi</c>, explicit fused multiply-adds, because
    /// TensorPrimitives.Sin and Cos gave different last bits for about 1% of inputs before and after the JIT optimised
    /// them, which made a seeded run depend on JIT timing. TensorPrimitives.Log and Sqrt gave the same bits at every tier.
    /// </remarks>
    public void FillStandardNormal(Span<double> destination)
    {
        const int block = 128;
        int pairs = destination.Length / 2;
        // Sized to the need, rounded up to whole vectors (C# zeroes stackalloc'd memory: four full blocks cost more
        // than the draws for short spans).
        int size = (Math.Min(block, pairs) + 3) & ~3;
        Span<double> radius = stackalloc double[size];
        Span<double> turns = stackalloc double[size];
        for (int start = 0; start < pairs; start += block)
        {
            int count = Math.Min(block, pairs - start);
            // The same draws as NextDouble in turn, with the state in locals for the loop.
            ulong s0 = _s0, s1 = _s1, s2 = _s2, s3 = _s3;
            for (int i = 0; i < count; i++)
            {
                radius[i] = 1.0 - ToUnit(Next(ref s0, ref s1, ref s2, ref s3)); // (0, 1]: the log is finite
                turns[i] = ToUnit(Next(ref s0, ref s1, ref s2, ref s3));
            }
            (_s0, _s1, _s2, _s3) = (s0, s1, s2, s3);
            // A short last vector is padded with u₁ = 1, u₂ = 0 (lanes are independent: the others' bits do not change).
            int padded = (count + 3) & ~3;
            radius[count..padded].Fill(1.0);
            turns[count..padded].Clear();
            TransformPairs(radius[..padded], turns[..padded], destination.Slice(2 * start, 2 * count));
        }
        if ((destination.Length & 1) == 1)
            destination[^1] = NextStandardNormal();
    }

    // Box–Muller on a vector of pairs: r = √(−2 log u₁), (r cos 2πu₂, r sin 2πu₂).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BoxMuller(Vector256<double> u1, Vector256<double> u2, out Vector256<double> first, out Vector256<double> second)
    {
        Vector256<double> r = Vector256.Sqrt(LinearAlgebra.VectorMath.Log(u1) * -2.0);
        SinCosTwoPi(u2, out Vector256<double> sin, out Vector256<double> cos);
        first = r * cos;
        second = r * sin;
    }

    // Box–Muller on four pairs per vector: r = √(−2 log u₁), (r cos 2πu₂, r sin 2πu₂) written interleaved to the first
    // target.Length / 2 pairs. One pass, each lane's arithmetic as in the separate log, scale, root and sine passes.
    private static void TransformPairs(ReadOnlySpan<double> radius, ReadOnlySpan<double> turns, Span<double> target)
    {
        ref double t0 = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(target);
        int count = target.Length / 2;
        for (int i = 0; i < radius.Length; i += 4)
        {
            BoxMuller(Vector256.Create(radius.Slice(i, 4)), Vector256.Create(turns.Slice(i, 4)), out Vector256<double> a, out Vector256<double> b);
            if (i + 4 <= count && System.Runtime.Intrinsics.X86.Avx.IsSupported)
            {
                // [a0 b0 a2 b2], [a1 b1 a3 b3], then their 128-bit halves in order: a0 b0 a1 b1 | a2 b2 a3 b3.
                Vector256<double> low = System.Runtime.Intrinsics.X86.Avx.UnpackLow(a, b);
                Vector256<double> high = System.Runtime.Intrinsics.X86.Avx.UnpackHigh(a, b);
                System.Runtime.Intrinsics.X86.Avx.Permute2x128(low, high, 0x20).StoreUnsafe(ref t0, (nuint)(2 * i));
                System.Runtime.Intrinsics.X86.Avx.Permute2x128(low, high, 0x31).StoreUnsafe(ref t0, (nuint)(2 * i + 4));
                continue;
            }
            for (int l = 0; l < 4 && i + l < count; l++)
            {
                Unsafe.Add(ref t0, 2 * (i + l)) = a.GetElement(l);
                Unsafe.Add(ref t0, 2 * (i + l) + 1) = b.GetElement(l);
            }
        }
    }

    // Taylor coefficients of sin y (y, y³, …, y¹⁵) and cos y (1, y², …, y¹⁶) for |y| ≤ π/4: truncation below 1e-16.
    private const double S1 = -1.0 / 6, S2 = 1.0 / 120, S3 = -1.0 / 5040, S4 = 1.0 / 362880, S5 = -1.0 / 39916800,
        S6 = 1.0 / 6227020800, S7 = -1.0 / 1307674368000;
    private const double C1 = -1.0 / 2, C2 = 1.0 / 24, C3 = -1.0 / 720, C4 = 1.0 / 40320, C5 = -1.0 / 3628800,
        C6 = 1.0 / 479001600, C7 = -1.0 / 87178291200, C8 = 1.0 / 20922789888000;

    /// <summary>
    /// sin(2πu) and cos(2πu) for u ∈ [0, 1): the quadrant k = round(4u), y = 2π(u − k/4) ∈ [−π/4, π/4] (u − k/4 is
    /// exact), Taylor polynomials in y by fused multiply-adds (Horner), then the quadrant's signs and swap. Accurate to
    /// a few ulp; the same bits at every JIT tier and in the vector and scalar paths.
    /// </summary>
    internal static void SinCosTwoPi(ReadOnlySpan<double> u, Span<double> sin, Span<double> cos)
    {
        int i = 0;
        if (LinearAlgebra.VectorKernels.FixedLanes)
        {
            for (; i + 4 <= u.Length; i += 4)
            {
                SinCosTwoPi(Vector256.Create(u.Slice(i, 4)), out Vector256<double> s, out Vector256<double> c);
                s.CopyTo(sin.Slice(i, 4));
                c.CopyTo(cos.Slice(i, 4));
            }
        }
        for (; i < u.Length; i++)
        {
            double k = Math.Round(u[i] * 4.0);
            double y = (u[i] - k * 0.25) * (2.0 * Math.PI), y2 = y * y;
            double ps = Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(
                Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(S7, y2, S6), y2, S5), y2, S4), y2, S3), y2, S2), y2, S1), y2, 1.0);
            double pc = Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(
                Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(C8, y2, C7), y2, C6), y2, C5), y2, C4), y2, C3), y2, C2),
                y2, C1), y2, 1.0);
            double sy = ps * y;
            long q = (long)k;
            double a = (q & 1) != 0 ? pc : sy, b = (q & 1) != 0 ? sy : pc;
            sin[i] = (q & 2) != 0 ? -a : a;
            cos[i] = ((q + 1) & 2) != 0 ? -b : b;
        }
    }

    // The vector form of the above, lane by lane the same operations.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SinCosTwoPi(Vector256<double> x, out Vector256<double> sin, out Vector256<double> cos)
    {
        var k = Vector256.Round(x * 4.0);
        var y = (x - k * 0.25) * (2.0 * Math.PI);
        var y2 = y * y;
        var ps = Fma(Fma(Fma(Fma(Fma(Fma(Fma(Vector256.Create(S7), y2, S6), y2, S5), y2, S4), y2, S3), y2, S2), y2, S1), y2, 1.0);
        var pc = Fma(Fma(Fma(Fma(Fma(Fma(Fma(Fma(Vector256.Create(C8), y2, C7), y2, C6), y2, C5), y2, C4), y2, C3), y2, C2), y2, C1), y2, 1.0);
        var sy = ps * y;
        // k ∈ {0, …, 4} as an integer in the low bits of k + 1.5·2⁵² (no double-to-integer conversion, which AVX2 lacks).
        var q = (k + Vector256.Create(6755399441055744.0)).AsInt64();
        Vector256<long> one = Vector256.Create(1L), two = Vector256.Create(2L);
        var swap = Vector256.Equals(q & one, one).AsDouble();
        var a = Vector256.ConditionalSelect(swap, pc, sy);
        var b = Vector256.ConditionalSelect(swap, sy, pc);
        var negSin = Vector256.Equals(q & two, two).AsDouble();
        var negCos = Vector256.Equals((q + one) & two, two).AsDouble();
        sin = Vector256.ConditionalSelect(negSin, -a, a);
        cos = Vector256.ConditionalSelect(negCos, -b, b);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Fma(Vector256<double> a, Vector256<double> b, double c) =>
        Vector256.FusedMultiplyAdd(a, b, Vector256.Create(c));

    private static ulong SplitMix64(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
