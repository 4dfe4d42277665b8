using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Wasserflow.LinearAlgebra;

/// <summary>
/// Fused per-row kernels of the batched density and score evaluations: one pass over short vectors (d = 2 … 20 is
/// common) where a chain of <see cref="TensorPrimitives"/> calls would cost more in call overhead than in arithmetic.
/// Each sum is one <see cref="Vector256{T}"/> accumulator reduced by <see cref="Gemm.HorizontalSum"/>, then a
/// sequential scalar tail, so results do not depend on the JIT tier or on where a row sits in a batch.
/// </summary>
internal static class VectorKernels
{
    /// <summary>
    /// Always true: the kernels take their Vector256 paths on every machine. Where Vector256 is not accelerated
    /// (no AVX2) .NET runs those operations in software lane by lane with the same IEEE results (fused multiply-adds
    /// included), so a seed gives the same bits there too, more slowly, instead of switching to scalar loops that sum
    /// in another order.
    /// </summary>
    public const bool FixedLanes = true;

    /// <summary>Σ_i w_i (x_i − m_i)².</summary>
    public static double WeightedSquaredDistance(ReadOnlySpan<double> x, ReadOnlySpan<double> m, ReadOnlySpan<double> w)
    {
        int n = x.Length;
        if (m.Length < n || w.Length < n) throw new ArgumentException("vectors differ in length.");
        ref double x0 = ref MemoryMarshal.GetReference(x);
        ref double m0 = ref MemoryMarshal.GetReference(m);
        ref double w0 = ref MemoryMarshal.GetReference(w);
        double s = 0;
        int i = 0;
        if (FixedLanes && n >= 4)
        {
            Vector256<double> acc = Vector256<double>.Zero;
            for (; i + 3 < n; i += 4)
            {
                Vector256<double> t = Vector256.LoadUnsafe(ref x0, (nuint)i) - Vector256.LoadUnsafe(ref m0, (nuint)i);
                acc = Vector256.FusedMultiplyAdd(t * t, Vector256.LoadUnsafe(ref w0, (nuint)i), acc);
            }
            s = Gemm.HorizontalSum(acc);
        }
        for (; i < n; i++)
        {
            double t = Unsafe.Add(ref x0, i) - Unsafe.Add(ref m0, i);
            s += t * t * Unsafe.Add(ref w0, i);
        }
        return s;
    }

    /// <summary>Σ_i (x_i − m_i)².</summary>
    public static double SquaredDistance(ReadOnlySpan<double> x, ReadOnlySpan<double> m)
    {
        int n = x.Length;
        if (m.Length < n) throw new ArgumentException("vectors differ in length.");
        ref double x0 = ref MemoryMarshal.GetReference(x);
        ref double m0 = ref MemoryMarshal.GetReference(m);
        double s = 0;
        int i = 0;
        if (FixedLanes && n >= 4)
        {
            Vector256<double> acc = Vector256<double>.Zero;
            for (; i + 3 < n; i += 4)
            {
                Vector256<double> t = Vector256.LoadUnsafe(ref x0, (nuint)i) - Vector256.LoadUnsafe(ref m0, (nuint)i);
                acc = Vector256.FusedMultiplyAdd(t, t, acc);
            }
            s = Gemm.HorizontalSum(acc);
        }
        for (; i < n; i++)
        {
            double t = Unsafe.Add(ref x0, i) - Unsafe.Add(ref m0, i);
            s += t * t;
        }
        return s;
    }

    /// <summary>
    /// ℓ_j = c_j − ½ s_j Σ_i w_ji (x_i − m_ji)² for every row m_j of <paramref name="means"/> (K × d): w_j = 1 when
    /// <paramref name="weights"/> is empty, else its row j (K × d); s_j = <paramref name="scales"/>_j, or 1 when empty.
    /// Each distance has the bits of <see cref="SquaredDistance"/> or <see cref="WeightedSquaredDistance"/> and each
    /// term those of <c>c_j − 0.5 * s_j * distance</c> (or <c>c_j − 0.5 * distance</c>); with AVX, four rows at a time
    /// (four accumulators, one load of x per group of coordinates, the four horizontal sums as one transpose).
    /// </summary>
    public static void MixtureLogTerms(ReadOnlySpan<double> x, ReadOnlySpan<double> means, ReadOnlySpan<double> weights,
        ReadOnlySpan<double> constants, ReadOnlySpan<double> scales, Span<double> terms)
    {
        int d = x.Length, k = terms.Length;
        bool weighted = !weights.IsEmpty, scaled = !scales.IsEmpty;
        if (means.Length < k * d || constants.Length < k || (weighted && weights.Length < k * d) || (scaled && scales.Length < k))
            throw new ArgumentException("buffers are smaller than their shapes.");
        int j = 0;
        if (System.Runtime.Intrinsics.X86.Avx.IsSupported && d >= 4)
        {
            ref double x0 = ref MemoryMarshal.GetReference(x);
            ref double m0 = ref MemoryMarshal.GetReference(means);
            ref double w0 = ref weighted ? ref MemoryMarshal.GetReference(weights) : ref m0; // unread when unweighted
            for (; j + 4 <= k; j += 4)
            {
                Vector256<double> distances = FourDistances(ref x0, d, ref Unsafe.Add(ref m0, j * d), ref Unsafe.Add(ref w0, weighted ? j * d : 0), weighted);
                Vector256<double> half = Vector256.Create(0.5);
                if (scaled) half *= Vector256.Create(scales.Slice(j, 4));
                (Vector256.Create(constants.Slice(j, 4)) - half * distances).CopyTo(terms.Slice(j, 4));
            }
        }
        for (; j < k; j++)
        {
            ReadOnlySpan<double> m = means.Slice(j * d, d);
            double distance = weighted ? WeightedSquaredDistance(x, m, weights.Slice(j * d, d)) : SquaredDistance(x, m);
            terms[j] = constants[j] - (scaled ? 0.5 * scales[j] : 0.5) * distance;
        }
    }

    // The (weighted) squared distances from x to four consecutive rows at m (and w), lane r for row r: per row the
    // accumulation of SquaredDistance / WeightedSquaredDistance, (v0 + v2) + (v1 + v3) as Gemm.HorizontalSum, then the
    // scalar tail — the same bits as four separate calls.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> FourDistances(ref double x0, int d, ref double m0, ref double w0, bool weighted)
    {
        Vector256<double> a = Vector256<double>.Zero, b = a, c = a, e = a;
        int vectorEnd = d & ~3;
        for (int i = 0; i < vectorEnd; i += 4)
        {
            Vector256<double> xi = Vector256.LoadUnsafe(ref x0, (nuint)i);
            Vector256<double> ta = xi - Vector256.LoadUnsafe(ref m0, (nuint)i), tb = xi - Vector256.LoadUnsafe(ref m0, (nuint)(d + i));
            Vector256<double> tc = xi - Vector256.LoadUnsafe(ref m0, (nuint)(2 * d + i)), te = xi - Vector256.LoadUnsafe(ref m0, (nuint)(3 * d + i));
            if (weighted)
            {
                a = Vector256.FusedMultiplyAdd(ta * ta, Vector256.LoadUnsafe(ref w0, (nuint)i), a);
                b = Vector256.FusedMultiplyAdd(tb * tb, Vector256.LoadUnsafe(ref w0, (nuint)(d + i)), b);
                c = Vector256.FusedMultiplyAdd(tc * tc, Vector256.LoadUnsafe(ref w0, (nuint)(2 * d + i)), c);
                e = Vector256.FusedMultiplyAdd(te * te, Vector256.LoadUnsafe(ref w0, (nuint)(3 * d + i)), e);
            }
            else
            {
                a = Vector256.FusedMultiplyAdd(ta, ta, a);
                b = Vector256.FusedMultiplyAdd(tb, tb, b);
                c = Vector256.FusedMultiplyAdd(tc, tc, c);
                e = Vector256.FusedMultiplyAdd(te, te, e);
            }
        }
        Vector256<double> ac = System.Runtime.Intrinsics.X86.Avx.Permute2x128(a, c, 0x20) + System.Runtime.Intrinsics.X86.Avx.Permute2x128(a, c, 0x31);
        Vector256<double> be = System.Runtime.Intrinsics.X86.Avx.Permute2x128(b, e, 0x20) + System.Runtime.Intrinsics.X86.Avx.Permute2x128(b, e, 0x31);
        Vector256<double> distances = System.Runtime.Intrinsics.X86.Avx.UnpackLow(ac, be) + System.Runtime.Intrinsics.X86.Avx.UnpackHigh(ac, be);
        for (int i = vectorEnd; i < d; i++)
        {
            Vector256<double> t = Vector256.Create(Unsafe.Add(ref x0, i)) - Vector256.Create(Unsafe.Add(ref m0, i), Unsafe.Add(ref m0, d + i),
                Unsafe.Add(ref m0, 2 * d + i), Unsafe.Add(ref m0, 3 * d + i));
            Vector256<double> square = t * t;
            if (weighted)
                square *= Vector256.Create(Unsafe.Add(ref w0, i), Unsafe.Add(ref w0, d + i), Unsafe.Add(ref w0, 2 * d + i), Unsafe.Add(ref w0, 3 * d + i));
            distances += square;
        }
        return distances;
    }

    /// <summary>u ← y − c (in place allowed: u may be y), and returns Σ_i (x_i − m_i) u_i.</summary>
    public static double ShiftAndDot(ReadOnlySpan<double> x, ReadOnlySpan<double> m, ReadOnlySpan<double> y, ReadOnlySpan<double> c, Span<double> u)
    {
        int n = x.Length;
        if (m.Length < n || y.Length < n || c.Length < n || u.Length < n) throw new ArgumentException("vectors differ in length.");
        ref double x0 = ref MemoryMarshal.GetReference(x);
        ref double m0 = ref MemoryMarshal.GetReference(m);
        ref double y0 = ref MemoryMarshal.GetReference(y);
        ref double c0 = ref MemoryMarshal.GetReference(c);
        ref double u0 = ref MemoryMarshal.GetReference(u);
        double s = 0;
        int i = 0;
        if (FixedLanes && n >= 4)
        {
            Vector256<double> acc = Vector256<double>.Zero;
            for (; i + 3 < n; i += 4)
            {
                Vector256<double> t = Vector256.LoadUnsafe(ref y0, (nuint)i) - Vector256.LoadUnsafe(ref c0, (nuint)i);
                t.StoreUnsafe(ref u0, (nuint)i);
                acc = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref x0, (nuint)i) - Vector256.LoadUnsafe(ref m0, (nuint)i), t, acc);
            }
            s = Gemm.HorizontalSum(acc);
        }
        for (; i < n; i++)
        {
            double t = Unsafe.Add(ref y0, i) - Unsafe.Add(ref c0, i);
            Unsafe.Add(ref u0, i) = t;
            s += (Unsafe.Add(ref x0, i) - Unsafe.Add(ref m0, i)) * t;
        }
        return s;
    }

    /// <summary>g_i += a · w_i (m_i − x_i).</summary>
    public static void AddWeightedDifference(Span<double> g, double a, ReadOnlySpan<double> w, ReadOnlySpan<double> m, ReadOnlySpan<double> x)
    {
        int n = g.Length;
        if (w.Length < n || m.Length < n || x.Length < n) throw new ArgumentException("vectors differ in length.");
        ref double g0 = ref MemoryMarshal.GetReference(g);
        ref double w0 = ref MemoryMarshal.GetReference(w);
        ref double m0 = ref MemoryMarshal.GetReference(m);
        ref double x0 = ref MemoryMarshal.GetReference(x);
        int i = 0;
        if (FixedLanes)
        {
            Vector256<double> av = Vector256.Create(a);
            for (; i + 3 < n; i += 4)
            {
                Vector256<double> t = (Vector256.LoadUnsafe(ref m0, (nuint)i) - Vector256.LoadUnsafe(ref x0, (nuint)i)) * Vector256.LoadUnsafe(ref w0, (nuint)i);
                Vector256.FusedMultiplyAdd(av, t, Vector256.LoadUnsafe(ref g0, (nuint)i)).StoreUnsafe(ref g0, (nuint)i);
            }
        }
        for (; i < n; i++)
            Unsafe.Add(ref g0, i) += a * ((Unsafe.Add(ref m0, i) - Unsafe.Add(ref x0, i)) * Unsafe.Add(ref w0, i));
    }

    /// <summary>g_i += a · u_i.</summary>
    public static void AddScaled(Span<double> g, double a, ReadOnlySpan<double> u)
    {
        int n = g.Length;
        if (u.Length < n) throw new ArgumentException("vectors differ in length.");
        ref double g0 = ref MemoryMarshal.GetReference(g);
        ref double u0 = ref MemoryMarshal.GetReference(u);
        int i = 0;
        if (FixedLanes)
        {
            Vector256<double> av = Vector256.Create(a);
            for (; i + 3 < n; i += 4)
                Vector256.FusedMultiplyAdd(av, Vector256.LoadUnsafe(ref u0, (nuint)i), Vector256.LoadUnsafe(ref g0, (nuint)i)).StoreUnsafe(ref g0, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref g0, i) += a * Unsafe.Add(ref u0, i);
    }

    // Terms more than 700 below their row's maximum are raised to −700 before the exponential: exp(−700) ≈ 1e−304
    // is as invisible next to the maximum's 1 as the true value, and the flush below turns them into exact zeros that
    // callers skip. (The floor was introduced when the exponential was TensorPrimitives.Exp, whose vectors with an
    // underflowing lane took the C library's slow path; VectorMath.Exp has no such path.)
    public const double ExpFloor = -700;

    // exp(−699): weights below it (those raised to the floor, and the few just above it) become exact zeros after the
    // exponential, as they would by underflow, so that callers can skip them.
    internal static readonly double FlushBelow = Math.Exp(ExpFloor + 1);

    /// <summary>
    /// exp(x), flushed to 0 below <see cref="ExpFloor"/> (for log-sum-exp weights relative to their maximum, where such
    /// a term is below double resolution anyway): the C library's exp takes a slow error-reporting path on underflow.
    /// </summary>
    public static double ExpFlushed(double x) => x < ExpFloor ? 0.0 : Math.Exp(x);

    /// <summary>
    /// Turns each row of an m×n block of log terms into its softmax in place and writes the row's log-sum-exp.
    /// The exponentials are taken in one vectorised call over the whole block (<see cref="VectorMath.Exp(ReadOnlySpan{double}, Span{double})"/>:
    /// the same bits for every element wherever it sits).
    /// </summary>
    /// <param name="terms">m·n log terms, row-major.</param>
    /// <param name="m">Rows.</param>
    /// <param name="n">Terms per row.</param>
    /// <param name="logSumExp">m outputs.</param>
    public static void SoftmaxRows(Span<double> terms, int m, int n, Span<double> logSumExp)
    {
        if (terms.Length < m * n || logSumExp.Length < m) throw new ArgumentException("buffers are smaller than their shapes.");
        for (int r = 0; r < m; r++)
        {
            Span<double> row = terms.Slice(r * n, n);
            double max = Max(row);
            // A row of −∞ (a point no component reaches) keeps its −∞ log density; the non-finite check reports it.
            double shift = double.IsNegativeInfinity(max) ? 0 : max;
            AddAndClamp(row, -shift, ExpFloor);
            logSumExp[r] = shift;
        }
        ExpAboveFloor(terms[..(m * n)]);
        for (int r = 0; r < m; r++)
        {
            Span<double> row = terms.Slice(r * n, n);
            double sum = FlushAndSum(row, FlushBelow);
            logSumExp[r] += Math.Log(sum);
            Scale(row, 1.0 / sum);
        }
    }

    // v ← exp(v) for terms clamped at ExpFloor, by VectorMath.Exp, except that a vector whose four terms are all at the
    // floor becomes four zeros without the exponential: exp(−700) is below FlushBelow, so the flush that follows would
    // zero them anyway (the same result; many terms when components are far apart: 40% of the vectors in IBW at d = 20).
    // The last length mod 4 in a padded vector: the same lane arithmetic.
    private static void ExpAboveFloor(Span<double> v)
    {
        ref double v0 = ref MemoryMarshal.GetReference(v);
        Vector256<double> floor = Vector256.Create(ExpFloor);
        int i = 0;
        for (; i + 3 < v.Length; i += 4)
        {
            Vector256<double> t = Vector256.LoadUnsafe(ref v0, (nuint)i);
            (Vector256.EqualsAll(t, floor) ? Vector256<double>.Zero : VectorMath.Exp(t)).StoreUnsafe(ref v0, (nuint)i);
        }
        if (i < v.Length) VectorMath.Exp(v[i..], v[i..]);
    }

    /// <summary>max_i v_i (−∞ for an empty span).</summary>
    public static double Max(ReadOnlySpan<double> v)
    {
        int n = v.Length, i = 0;
        double max = double.NegativeInfinity;
        if (FixedLanes && n >= 4)
        {
            ref double v0 = ref MemoryMarshal.GetReference(v);
            Vector256<double> acc = Vector256.LoadUnsafe(ref v0);
            for (i = 4; i + 3 < n; i += 4) acc = Vector256.Max(acc, Vector256.LoadUnsafe(ref v0, (nuint)i));
            Vector128<double> pair = Vector128.Max(acc.GetLower(), acc.GetUpper());
            max = Math.Max(pair.ToScalar(), pair.GetElement(1));
        }
        for (; i < n; i++) if (v[i] > max) max = v[i];
        return max;
    }

    /// <summary>Σ_i a_i b_i, one vector accumulator then the scalar tail.</summary>
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        int n = a.Length, i = 0;
        if (b.Length < n) throw new ArgumentException("vectors differ in length.");
        double s = 0;
        if (FixedLanes && n >= 4)
        {
            ref double a0 = ref MemoryMarshal.GetReference(a);
            ref double b0 = ref MemoryMarshal.GetReference(b);
            Vector256<double> acc = Vector256<double>.Zero;
            for (; i + 3 < n; i += 4) acc = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a0, (nuint)i), Vector256.LoadUnsafe(ref b0, (nuint)i), acc);
            s = Gemm.HorizontalSum(acc);
        }
        for (; i < n; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>Σ_i v_i, one vector accumulator then the scalar tail.</summary>
    public static double Sum(ReadOnlySpan<double> v)
    {
        int n = v.Length, i = 0;
        double s = 0;
        if (FixedLanes && n >= 4)
        {
            ref double v0 = ref MemoryMarshal.GetReference(v);
            Vector256<double> acc = Vector256<double>.Zero;
            for (; i + 3 < n; i += 4) acc += Vector256.LoadUnsafe(ref v0, (nuint)i);
            s = Gemm.HorizontalSum(acc);
        }
        for (; i < n; i++) s += v[i];
        return s;
    }

    /// <summary>Sets every v_i below <paramref name="threshold"/> to 0 and returns Σ_i v_i of what remains.</summary>
    public static double FlushAndSum(Span<double> v, double threshold)
    {
        int n = v.Length, i = 0;
        double s = 0;
        if (FixedLanes && n >= 4)
        {
            ref double v0 = ref MemoryMarshal.GetReference(v);
            Vector256<double> acc = Vector256<double>.Zero, t = Vector256.Create(threshold);
            for (; i + 3 < n; i += 4)
            {
                Vector256<double> x = Vector256.LoadUnsafe(ref v0, (nuint)i);
                x = Vector256.ConditionalSelect(Vector256.LessThan(x, t), Vector256<double>.Zero, x);
                x.StoreUnsafe(ref v0, (nuint)i);
                acc += x;
            }
            s = Gemm.HorizontalSum(acc);
        }
        for (; i < n; i++)
        {
            if (v[i] < threshold) v[i] = 0;
            s += v[i];
        }
        return s;
    }

    /// <summary>v_i ← max(v_i + a, floor).</summary>
    public static void AddAndClamp(Span<double> v, double a, double floor)
    {
        int n = v.Length, i = 0;
        if (FixedLanes)
        {
            ref double v0 = ref MemoryMarshal.GetReference(v);
            Vector256<double> av = Vector256.Create(a), fv = Vector256.Create(floor);
            for (; i + 3 < n; i += 4) Vector256.Max(Vector256.LoadUnsafe(ref v0, (nuint)i) + av, fv).StoreUnsafe(ref v0, (nuint)i);
        }
        for (; i < n; i++) v[i] = Math.Max(v[i] + a, floor);
    }

    /// <summary>v_i ← a · v_i.</summary>
    public static void Scale(Span<double> v, double a)
    {
        int n = v.Length, i = 0;
        if (FixedLanes)
        {
            ref double v0 = ref MemoryMarshal.GetReference(v);
            Vector256<double> av = Vector256.Create(a);
            for (; i + 3 < n; i += 4) (Vector256.LoadUnsafe(ref v0, (nuint)i) * av).StoreUnsafe(ref v0, (nuint)i);
        }
        for (; i < n; i++) v[i] *= a;
    }
}
