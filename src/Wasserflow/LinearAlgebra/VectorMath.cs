using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Wasserflow.LinearAlgebra;

/// <summary>
/// Elementwise exp and log over spans with the same bits on every x64 machine. Every element, wherever it sits in a
/// span (the tail included, which is padded into a full vector), goes through one sequence of IEEE operations —
/// additions, multiplications, fused multiply-adds, rounding and bit moves — in <see cref="Vector256{T}"/> lanes.
/// Those are exactly rounded, so the result is the same whether the CPU runs them with AVX-512, AVX2 or (without
/// AVX2) in software lane by lane. <c>TensorPrimitives.Exp</c> and <c>Log</c> are not: they take fused
/// multiply-adds only where the CPU has FMA, compute spans shorter than a vector with the C library's scalar routine,
/// and handle a vector with an underflowing lane apart.
/// </summary>
/// <remarks>
/// exp: x = k ln 2 + r with k = round(x / ln 2) and |r| ≤ ½ ln 2 (Cody–Waite, two constants), e^r by its Taylor
/// polynomial to r¹³ (truncation below 2⁻⁵⁷ relative), scaled by 2^k in two exact halves so that results down into the
/// subnormal range and up to overflow come out right. log: x = 2^e m with m ∈ [√½, √2), f = m − 1,
/// s = f / (2 + f), log(1 + f) = f − f²/2 + s (f²/2 + R(s²)) with fdlibm's minimax R, plus e ln 2 in two parts.
/// Both agree with the C library to within 1 ulp (tested over their whole ranges); special values follow IEEE:
/// exp(NaN) = NaN, exp(+∞) = +∞, exp(−∞) = 0; log(0) = −∞, log(x &lt; 0) = NaN, log(+∞) = +∞.
/// </remarks>
public static class VectorMath
{
    private const double InvLn2 = 1.4426950408889634;
    private const double Ln2Hi = 6.93147180369123816490e-01; // ln 2 with its last 32 bits zero
    private const double Ln2Lo = 1.90821492927058770002e-10; // ln 2 − Ln2Hi
    private const double Shifter = 6755399441055744.0; // 1.5·2⁵²: x + Shifter rounds x to an integer in the low bits
    private const double ExpHigh = 710.0; // above: +∞ (e^709.79 is the largest double)
    private const double ExpLow = -746.0; // below: 0 (e^−745.13 is the smallest subnormal)
    private const double NormalHigh = 709.0; // e^x for x in [NormalLow, NormalHigh] is normal, k in [−1021, 1023]
    private const double NormalLow = -707.0;

    // fdlibm's log(1 + f) polynomial in s² (Lg1 … Lg7).
    private const double Lg1 = 6.666666666666735130e-01;
    private const double Lg2 = 3.999999999940941908e-01;
    private const double Lg3 = 2.857142874366239149e-01;
    private const double Lg4 = 2.222219843214978396e-01;
    private const double Lg5 = 1.818357216161805012e-01;
    private const double Lg6 = 1.531383769920937332e-01;
    private const double Lg7 = 1.479819860511658591e-01;
    private const double Sqrt2 = 1.4142135623730951;
    private const double TwoTo54 = 18014398509481984.0;
    private const double MinNormal = 2.2250738585072014e-308; // 2⁻¹⁰²²

    /// <summary>destination_i = e^{x_i}; destination may be x.</summary>
    public static void Exp(ReadOnlySpan<double> x, Span<double> destination) => Apply<ExpOp>(x, destination);

    /// <summary>destination_i = log x_i (natural); destination may be x.</summary>
    public static void Log(ReadOnlySpan<double> x, Span<double> destination) => Apply<LogOp>(x, destination);

    /// <summary>e^x for one value, by the same lane arithmetic as <see cref="Exp(ReadOnlySpan{double}, Span{double})"/>.</summary>
    public static double Exp(double x) => Exp(Vector256.Create(x)).ToScalar();

    /// <summary>log x for one value, by the same lane arithmetic as <see cref="Log(ReadOnlySpan{double}, Span{double})"/>.</summary>
    public static double Log(double x) => Log(Vector256.Create(x)).ToScalar();

    private interface IOp
    {
        static abstract Vector256<double> Invoke(Vector256<double> x);
    }

    private readonly struct ExpOp : IOp
    {
        public static Vector256<double> Invoke(Vector256<double> x) => Exp(x);
    }

    private readonly struct LogOp : IOp
    {
        public static Vector256<double> Invoke(Vector256<double> x) => Log(x);
    }

    private static void Apply<TOp>(ReadOnlySpan<double> x, Span<double> destination) where TOp : IOp
    {
        int n = x.Length;
        if (destination.Length < n) throw new ArgumentException("destination is shorter than the input.", nameof(destination));
        ref double x0 = ref MemoryMarshal.GetReference(x);
        ref double d0 = ref MemoryMarshal.GetReference(destination);
        int i = 0;
        for (; i + 7 < n; i += 8)
        {
            // Two vectors per pass: independent chains for the core to overlap.
            Vector256<double> a = TOp.Invoke(Vector256.LoadUnsafe(ref x0, (nuint)i));
            Vector256<double> b = TOp.Invoke(Vector256.LoadUnsafe(ref x0, (nuint)(i + 4)));
            a.StoreUnsafe(ref d0, (nuint)i);
            b.StoreUnsafe(ref d0, (nuint)(i + 4));
        }
        for (; i + 3 < n; i += 4)
            TOp.Invoke(Vector256.LoadUnsafe(ref x0, (nuint)i)).StoreUnsafe(ref d0, (nuint)i);
        if (i < n)
        {
            // The last one to three elements in a zero-padded vector: the same lane arithmetic as the others.
            Span<double> tail = stackalloc double[4];
            tail.Clear();
            for (int j = i; j < n; j++) tail[j - i] = Unsafe.Add(ref x0, j);
            Vector256<double> result = TOp.Invoke(Vector256.Create((ReadOnlySpan<double>)tail));
            for (int j = i; j < n; j++) Unsafe.Add(ref d0, j) = result.GetElement(j - i);
        }
    }

    /// <summary>e^x in every lane (see the class remarks for the method).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Exp(Vector256<double> x)
    {
        // Where every lane's result is a normal number (the common case) 2^k is one exact scaling. Otherwise the
        // arguments are clamped (keeping k in range; NaN fails both tests, passes through and comes out NaN) and 2^k
        // is applied in two exact halves, so that subnormal results and overflow come out right; a normal result gets
        // the same bits either way (both scalings are exact).
        bool normal = Vector256.GreaterThanOrEqualAll(x, Vector256.Create(NormalLow)) && Vector256.LessThanOrEqualAll(x, Vector256.Create(NormalHigh));
        Vector256<double> c = x;
        if (!normal)
        {
            c = Vector256.ConditionalSelect(Vector256.GreaterThan(c, Vector256.Create(ExpHigh)), Vector256.Create(ExpHigh), c);
            c = Vector256.ConditionalSelect(Vector256.LessThan(c, Vector256.Create(ExpLow)), Vector256.Create(ExpLow), c);
        }
        Vector256<double> shifted = Vector256.FusedMultiplyAdd(c, Vector256.Create(InvLn2), Vector256.Create(Shifter));
        Vector256<double> k = shifted - Vector256.Create(Shifter);
        Vector256<double> r = Vector256.FusedMultiplyAdd(-k, Vector256.Create(Ln2Hi), c);
        r = Vector256.FusedMultiplyAdd(-k, Vector256.Create(Ln2Lo), r);

        // e^r = 1 + r + r² P(r), P(r) = Σ_{j=0}^{11} r^j/(j + 2)!, by Estrin's scheme (pairs, then r², r⁴, r⁸): a short
        // dependency chain instead of Horner's eleven fused multiply-adds in a row.
        Vector256<double> r2 = r * r;
        Vector256<double> r4 = r2 * r2;
        Vector256<double> a0 = Vector256.FusedMultiplyAdd(r, Vector256.Create(1.0 / 6), Vector256.Create(0.5));
        Vector256<double> a1 = Vector256.FusedMultiplyAdd(r, Vector256.Create(1.0 / 120), Vector256.Create(1.0 / 24));
        Vector256<double> a2 = Vector256.FusedMultiplyAdd(r, Vector256.Create(1.0 / 5040), Vector256.Create(1.0 / 720));
        Vector256<double> a3 = Vector256.FusedMultiplyAdd(r, Vector256.Create(1.0 / 362880), Vector256.Create(1.0 / 40320));
        Vector256<double> a4 = Vector256.FusedMultiplyAdd(r, Vector256.Create(1.0 / 39916800), Vector256.Create(1.0 / 3628800));
        Vector256<double> a5 = Vector256.FusedMultiplyAdd(r, Vector256.Create(1.0 / 6227020800), Vector256.Create(1.0 / 479001600));
        Vector256<double> b0 = Vector256.FusedMultiplyAdd(r2, a1, a0);
        Vector256<double> b1 = Vector256.FusedMultiplyAdd(r2, a3, a2);
        Vector256<double> b2 = Vector256.FusedMultiplyAdd(r2, a5, a4);
        Vector256<double> p = Vector256.FusedMultiplyAdd(r4 * r4, b2, Vector256.FusedMultiplyAdd(r4, b1, b0));
        p = Vector256.FusedMultiplyAdd(p, r2, r) + Vector256<double>.One; // the leading 1 last, for accuracy

        if (normal) return p * PowerOfTwo(k);
        // 2^k = 2^{k₁}·2^{k₂} with k₁ = ⌊k/2⌋, k₂ = k − k₁, each a normal power of two for |k| ≤ 1077.
        Vector256<double> k1 = Vector256.Floor(k * 0.5);
        Vector256<double> k2 = k - k1;
        return p * PowerOfTwo(k1) * PowerOfTwo(k2);
    }

    // 2^k for an integer-valued k in [−1022, 1023]: the exponent field built from the low bits of k + Shifter.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> PowerOfTwo(Vector256<double> k)
    {
        Vector256<long> bits = (k + Vector256.Create(Shifter)).AsInt64() + Vector256.Create(1023L);
        return Vector256.ShiftLeft(bits, 52).AsDouble();
    }

    /// <summary>log x in every lane (see the class remarks for the method).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Log(Vector256<double> x)
    {
        // Positive normal finite lanes take the core alone; a vector with any other lane takes the fix-ups too (the
        // normal lanes' bits are the same either way).
        if (Vector256.GreaterThanOrEqualAll(x, Vector256.Create(MinNormal)) && Vector256.LessThanAll(x, Vector256.Create(double.PositiveInfinity)))
            return LogCore(x, Vector256<double>.Zero);
        return LogSpecial(x);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector256<double> LogSpecial(Vector256<double> x)
    {
        // Subnormals are scaled into the normal range first (2⁵⁴ exactly), their exponent corrected after.
        Vector256<double> subnormal = Vector256.LessThan(x, Vector256.Create(MinNormal)) & Vector256.GreaterThan(x, Vector256<double>.Zero);
        Vector256<double> v = Vector256.ConditionalSelect(subnormal, x * TwoTo54, x);
        Vector256<double> result = LogCore(v, Vector256.ConditionalSelect(subnormal, Vector256.Create(54.0), Vector256<double>.Zero));
        // Special values: log 0 = −∞, log of a negative or NaN = NaN, log +∞ = +∞.
        result = Vector256.ConditionalSelect(Vector256.Equals(x, Vector256<double>.Zero), Vector256.Create(double.NegativeInfinity), result);
        result = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<double>.Zero) | ~Vector256.Equals(x, x), Vector256.Create(double.NaN), result);
        return Vector256.ConditionalSelect(Vector256.Equals(x, Vector256.Create(double.PositiveInfinity)), x, result);
    }

    // log v − correction·ln 2 for positive normal finite v.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> LogCore(Vector256<double> v, Vector256<double> correction)
    {
        Vector256<long> bits = v.AsInt64();
        Vector256<long> exponentBits = Vector256.ShiftRightLogical(bits, 52) & Vector256.Create(0x7FFL);
        Vector256<double> m = ((bits & Vector256.Create(0x000F_FFFF_FFFF_FFFFL)) | Vector256.Create(0x3FF0_0000_0000_0000L)).AsDouble();
        // e as a double through the shifter: the bits of Shifter + e are the bits of Shifter plus e.
        Vector256<double> e = (Vector256.Create(Shifter).AsInt64() + exponentBits - Vector256.Create(1023L)).AsDouble() - Vector256.Create(Shifter);
        Vector256<double> high = Vector256.GreaterThan(m, Vector256.Create(Sqrt2));
        m = Vector256.ConditionalSelect(high, m * 0.5, m);
        e = Vector256.ConditionalSelect(high, e + Vector256<double>.One, e) - correction;

        Vector256<double> f = m - Vector256<double>.One;
        Vector256<double> s = f / (Vector256.Create(2.0) + f);
        Vector256<double> z = s * s;
        Vector256<double> w = z * z;
        Vector256<double> t1 = w * Vector256.FusedMultiplyAdd(w, Vector256.FusedMultiplyAdd(w, Vector256.Create(Lg6), Vector256.Create(Lg4)), Vector256.Create(Lg2));
        Vector256<double> t2 = z * Vector256.FusedMultiplyAdd(w, Vector256.FusedMultiplyAdd(w, Vector256.FusedMultiplyAdd(w, Vector256.Create(Lg7), Vector256.Create(Lg5)), Vector256.Create(Lg3)), Vector256.Create(Lg1));
        Vector256<double> rPoly = t1 + t2;
        Vector256<double> hfsq = 0.5 * f * f;
        return e * Ln2Hi - ((hfsq - Vector256.FusedMultiplyAdd(s, hfsq + rPoly, e * Ln2Lo)) - f);
    }
}
