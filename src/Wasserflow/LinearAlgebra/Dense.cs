using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
namespace Wasserflow.LinearAlgebra;

/// <summary>
/// Small dense kernels on row-major d×d matrices stored in flat spans: Cholesky factorisation and triangular solves.
/// One facade for the factorisations the library needs (docs/STYLE.md section 2).
/// </summary>
internal static class Dense
{
    /// <summary>
    /// Overwrites the lower triangle of the symmetric positive-definite <paramref name="a"/> (d×d, row-major) with its
    /// Cholesky factor L (A = L Lᵀ) and zeroes the strict upper triangle.
    /// </summary>
    /// <returns>false when a pivot is not positive (A is not positive definite); <paramref name="a"/> is then partly overwritten.</returns>
    public static bool TryCholesky(Span<double> a, int d)
    {
        for (int j = 0; j < d; j++)
        {
            double diag = a[j * d + j];
            for (int k = 0; k < j; k++)
                diag -= a[j * d + k] * a[j * d + k];
            if (!(diag > 0.0))
                return false;
            double ljj = Math.Sqrt(diag);
            a[j * d + j] = ljj;
            for (int i = j + 1; i < d; i++)
            {
                double s = a[i * d + j];
                for (int k = 0; k < j; k++)
                    s -= a[i * d + k] * a[j * d + k];
                a[i * d + j] = s / ljj;
            }
            for (int i = 0; i < j; i++)
                a[i * d + j] = 0.0;
        }
        return true;
    }

    /// <summary>Solves L y = b for lower-triangular L (row-major d×d); <paramref name="y"/> may alias <paramref name="b"/>.</summary>
    public static void SolveLower(ReadOnlySpan<double> l, int d, ReadOnlySpan<double> b, Span<double> y)
    {
        for (int i = 0; i < d; i++)
        {
            double s = b[i];
            ReadOnlySpan<double> row = l.Slice(i * d, i);
            for (int k = 0; k < i; k++)
                s -= row[k] * y[k];
            y[i] = s / l[i * d + i];
        }
    }

    /// <summary>Solves Lᵀ x = y for lower-triangular L (row-major d×d); <paramref name="x"/> may alias <paramref name="y"/>.</summary>
    public static void SolveLowerTransposed(ReadOnlySpan<double> l, int d, ReadOnlySpan<double> y, Span<double> x)
    {
        for (int i = d - 1; i >= 0; i--)
        {
            double s = y[i];
            for (int k = i + 1; k < d; k++)
                s -= l[k * d + i] * x[k];
            x[i] = s / l[i * d + i];
        }
    }

    /// <summary>
    /// The lower triangle of L·Lᵀ for lower-triangular L (d×d): result[row·d + col] = Σ_{k ≤ col} L[row, k] L[col, k]
    /// for row ≥ col; the strict upper triangle of <paramref name="result"/> is not written. O(d³/6): each entry's dot
    /// stops at the first group of four past col (L[col, k] = 0 beyond col). Per entry one four-lane FMA chain, then the
    /// pairwise lane sum and the scalar tail in order: the same bits on every machine.
    /// </summary>
    public static void LowerGram(ReadOnlySpan<double> l, int d, Span<double> result)
    {
        if (l.Length < d * d || result.Length < d * d) throw new ArgumentException("matrix buffers are smaller than d×d.");
        ref double l0 = ref MemoryMarshal.GetReference(l);
        for (int col0 = 0; col0 < d; col0 += 4)
        {
            int width = Math.Min(4, d - col0), length = Math.Min(d, col0 + 4), vectorEnd = length - length % 4;
            int c0 = col0 * d, c1 = c0 + d * Math.Min(1, width - 1), c2 = c0 + d * Math.Min(2, width - 1), c3 = c0 + d * Math.Min(3, width - 1);
            for (int row = col0; row < d; row++)
            {
                int rr = row * d;
                Vector256<double> s0 = Vector256<double>.Zero, s1 = s0, s2 = s0, s3 = s0;
                for (int p = 0; p < vectorEnd; p += 4)
                {
                    Vector256<double> x = Vector256.LoadUnsafe(ref l0, (nuint)(rr + p));
                    s0 = Vector256.FusedMultiplyAdd(x, Vector256.LoadUnsafe(ref l0, (nuint)(c0 + p)), s0);
                    s1 = Vector256.FusedMultiplyAdd(x, Vector256.LoadUnsafe(ref l0, (nuint)(c1 + p)), s1);
                    s2 = Vector256.FusedMultiplyAdd(x, Vector256.LoadUnsafe(ref l0, (nuint)(c2 + p)), s2);
                    s3 = Vector256.FusedMultiplyAdd(x, Vector256.LoadUnsafe(ref l0, (nuint)(c3 + p)), s3);
                }
                double t0 = Gemm.HorizontalSum(s0), t1 = Gemm.HorizontalSum(s1), t2 = Gemm.HorizontalSum(s2), t3 = Gemm.HorizontalSum(s3);
                for (int p = vectorEnd; p < length; p++)
                {
                    double x = l[rr + p];
                    t0 += x * l[c0 + p]; t1 += x * l[c1 + p]; t2 += x * l[c2 + p]; t3 += x * l[c3 + p];
                }
                // Columns past the last (width < 4) repeat the last column's numbers and are not stored.
                result[rr + col0] = t0;
                if (width > 1 && row >= col0 + 1) result[rr + col0 + 1] = t1;
                if (width > 2 && row >= col0 + 2) result[rr + col0 + 2] = t2;
                if (width > 3 && row >= col0 + 3) result[rr + col0 + 3] = t3;
            }
        }
    }

    /// <summary>
    /// result = L·T for lower-triangular L and T (d×d), reading only T's lower triangle (its strict upper triangle may
    /// hold anything: it counts as zero) and writing every entry of result (zeros above the diagonal). O(d³/6). Entry
    /// (row, col) is Σ_{k = col … row} T[k, col]·L[row, k], added in that order with a separate multiply and add —
    /// the arithmetic of one multiply-add pass per k over the row — four columns per vector.
    /// </summary>
    public static void MultiplyLowerLower(ReadOnlySpan<double> l, ReadOnlySpan<double> t, int d, Span<double> result)
    {
        if (l.Length < d * d || t.Length < d * d || result.Length < d * d) throw new ArgumentException("matrix buffers are smaller than d×d.");
        ref double l0 = ref MemoryMarshal.GetReference(l);
        ref double t0 = ref MemoryMarshal.GetReference(t);
        ref double r0 = ref MemoryMarshal.GetReference(result);
        int vectorColumns = d - d % 4;
        for (int row = 0; row < d; row++)
        {
            int rr = row * d;
            int col0 = 0;
            for (; col0 < vectorColumns && col0 <= row; col0 += 4)
                ColumnGroupSum(ref t0, d, col0, ref Unsafe.Add(ref l0, rr), row + 1).StoreUnsafe(ref r0, (nuint)(rr + col0));
            for (; col0 < d; col0++)
            {
                double acc = 0;
                for (int k = col0; k <= row; k++) acc = t[k * d + col0] * l[rr + k] + acc;
                result[rr + col0] = acc;
            }
        }
    }

    // Σ_{k = col0 … end − 1} T[k, col0 … col0 + 3]·c[k] for lower-triangular T, added in order of k with a separate
    // multiply and add, starting from +0; in the diagonal block (k < col0 + 3) the lanes right of column k count as zero
    // whatever T holds there.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> ColumnGroupSum(ref double t0, int d, int col0, ref double c0, int end)
    {
        Vector256<double> acc = Vector256<double>.Zero;
        int k = col0;
        for (; k < col0 + 3 && k < end; k++)
            acc = (Vector256.LoadUnsafe(ref t0, (nuint)(k * d + col0)) & LowerMask(k - col0)) * Vector256.Create(Unsafe.Add(ref c0, k)) + acc;
        for (; k < end; k++)
            acc = Vector256.LoadUnsafe(ref t0, (nuint)(k * d + col0)) * Vector256.Create(Unsafe.Add(ref c0, k)) + acc;
        return acc;
    }

    // Lanes 0 … last all ones, the rest zero.
    private static Vector256<double> LowerMask(int last) => Vector256.LessThanOrEqual(Vector256.Create(0.0, 1.0, 2.0, 3.0), Vector256.Create((double)last));

    /// <summary>y = L z for lower-triangular L; <paramref name="y"/> may alias <paramref name="z"/> (rows are done last to first).</summary>
    public static void MultiplyLower(ReadOnlySpan<double> l, int d, ReadOnlySpan<double> z, Span<double> y)
    {
        for (int i = d - 1; i >= 0; i--)
        {
            double s = 0.0;
            if (d > 8)
                s = LinearAlgebra.Reductions.Dot(l.Slice(i * d, i + 1), z[..(i + 1)]);
            else
                for (int k = 0; k <= i; k++)
                    s += l[i * d + k] * z[k];
            y[i] = s;
        }
    }

    /// <summary>log det(L Lᵀ) = 2 Σ log L_ii.</summary>
    public static double LogDeterminantFromCholesky(ReadOnlySpan<double> l, int d)
    {
        double s = 0.0;
        for (int i = 0; i < d; i++)
            s += Math.Log(l[i * d + i]);
        return 2.0 * s;
    }

    /// <summary>Writes L⁻¹ (lower triangular) into <paramref name="inverse"/> for lower-triangular L with a nonzero diagonal.</summary>
    /// <remarks>
    /// Row by row: (L⁻¹)_i = (e_i − Σ_{k&lt;i} L_ik (L⁻¹)_k) / L_ii, where row k of L⁻¹ is zero beyond column k. Entry
    /// (i, col) accumulates (L⁻¹)_{k,col}·(−L_ik) for k = col … i − 1 in that order (a separate multiply and add), then
    /// is scaled by 1/L_ii; four columns per vector.
    /// </remarks>
    public static void InvertLower(ReadOnlySpan<double> l, int d, Span<double> inverse)
    {
        if (l.Length < d * d || inverse.Length < d * d) throw new ArgumentException("matrix buffers are smaller than d×d.");
        ref double v0 = ref MemoryMarshal.GetReference(inverse);
        ref double l0 = ref MemoryMarshal.GetReference(l);
        for (int i = 0; i < d; i++)
        {
            int ri = i * d;
            double scale = 1.0 / l[ri + i];
            int col0 = 0;
            // Full groups of four columns that start left of the diagonal; their lanes at or right of i get no terms.
            // Σ x·(−c) accumulated is exactly 0 − Σ x·c accumulated (rounding is symmetric; a zero sum is +0 either way).
            for (; col0 + 4 <= d && col0 < i; col0 += 4)
                ((Vector256<double>.Zero - ColumnGroupSum(ref v0, d, col0, ref Unsafe.Add(ref l0, ri), i)) * Vector256.Create(scale))
                    .StoreUnsafe(ref v0, (nuint)(ri + col0));
            for (int col = col0; col < i; col++)
            {
                double acc = 0;
                for (int k = col; k < i; k++) acc = inverse[k * d + col] * -l[ri + k] + acc;
                inverse[ri + col] = acc * scale;
            }
            // The diagonal (1·(1/L_ii)) and zeros to its right, including lanes a vector group above wrote.
            inverse[ri + i] = scale;
            inverse.Slice(ri + i + 1, d - i - 1).Clear();
        }
    }

    /// <summary>C = A B for row-major d×d matrices (C must not alias A or B).</summary>
    public static void Multiply(ReadOnlySpan<double> a, ReadOnlySpan<double> b, int d, Span<double> c)
    {
        c[..(d * d)].Clear();
        for (int i = 0; i < d; i++)
        {
            Span<double> ci = c.Slice(i * d, d);
            for (int k = 0; k < d; k++)
            {
                double aik = a[i * d + k];
                if (aik != 0.0)
                    System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(b.Slice(k * d, d), aik, ci, ci);
            }
        }
    }

    /// <summary>
    /// Overwrites the square d×d matrix <paramref name="a"/> (row-major) with the orthogonal factor of its Householder
    /// QR factorisation A = Q R, with the signs fixed so that R has a non-negative diagonal: Q·diag(sign R_jj), sign 0
    /// counted as +1. This is the retraction onto O(d) of rotational VI (docs/specs/rovi-mfvi.md §5): without the sign
    /// fix the columns would flip at random.
    /// </summary>
    public static void OrthogonalFactor(Span<double> a, int d)
    {
        // Householder vectors, one per column (v_j in rows j.. of column j), and the signs of R's diagonal (0: no reflection).
        Span<double> v = d <= 32 ? stackalloc double[d * d] : new double[d * d];
        Span<double> sign = d <= 32 ? stackalloc double[d] : new double[d];
        Span<bool> reflected = d <= 32 ? stackalloc bool[d] : new bool[d];
        v.Clear();
        reflected.Clear();
        for (int j = 0; j < d; j++)
        {
            double norm = 0;
            for (int i = j; i < d; i++) norm += a[i * d + j] * a[i * d + j];
            norm = Math.Sqrt(norm);
            if (norm == 0) { sign[j] = 1; continue; }
            double alpha = a[j * d + j] > 0 ? -norm : norm;  // R_jj = α; reflect away from x to avoid cancellation
            sign[j] = alpha < 0 ? -1 : 1;
            reflected[j] = true;
            double vnorm = 0;
            for (int i = j; i < d; i++)
            {
                double vi = a[i * d + j] - (i == j ? alpha : 0);
                v[i * d + j] = vi;
                vnorm += vi * vi;
            }
            vnorm = Math.Sqrt(vnorm);
            for (int i = j; i < d; i++) v[i * d + j] /= vnorm;
            for (int c = j; c < d; c++)
            {
                double dot = 0;
                for (int i = j; i < d; i++) dot += v[i * d + j] * a[i * d + c];
                for (int i = j; i < d; i++) a[i * d + c] -= 2 * dot * v[i * d + j];
            }
        }
        // Q = H_0 H_1 … H_{d−1}: apply the reflections to I from the last one back.
        a[..(d * d)].Clear();
        for (int i = 0; i < d; i++) a[i * d + i] = 1;
        for (int j = d - 1; j >= 0; j--)
        {
            if (!reflected[j]) continue;
            for (int c = 0; c < d; c++)
            {
                double dot = 0;
                for (int i = j; i < d; i++) dot += v[i * d + j] * a[i * d + c];
                for (int i = j; i < d; i++) a[i * d + c] -= 2 * dot * v[i * d + j];
            }
        }
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) a[i * d + j] *= sign[j];
    }

    /// <summary>
    /// Null when the columns of the d×d matrix <paramref name="o"/> are orthonormal to <paramref name="tolerance"/>;
    /// otherwise a phrase naming the first pair of columns whose dot product is off ("column 0 · column 1 = 0.3").
    /// </summary>
    public static string? OrthogonalityDefect(ReadOnlySpan<double> o, int d, double tolerance = 1e-8)
    {
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++)
            {
                double dot = 0;
                for (int r = 0; r < d; r++) dot += o[r * d + a] * o[r * d + b];
                if (!(Math.Abs(dot - (a == b ? 1 : 0)) <= tolerance)) return $"column {a} · column {b} = {dot}";
            }
        return null;
    }

    /// <summary>S = L Lᵀ for lower-triangular L (row-major d×d).</summary>
    public static void LowerTimesTranspose(ReadOnlySpan<double> l, int d, Span<double> s)
    {
        for (int i = 0; i < d; i++)
            for (int j = 0; j <= i; j++)
            {
                double v = LinearAlgebra.Reductions.Dot(l.Slice(i * d, j + 1), l.Slice(j * d, j + 1));
                s[i * d + j] = v;
                s[j * d + i] = v;
            }
    }

    /// <summary>
    /// Eigen-decomposition of the symmetric d×d matrix <paramref name="a"/> by cyclic Jacobi rotations: writes the
    /// eigenvalues (ascending) into <paramref name="values"/> and the eigenvectors as the columns of
    /// <paramref name="vectors"/> (row-major), so A = V diag(λ) Vᵀ. <paramref name="a"/> is overwritten.
    /// Accurate to a few ulps relative to ‖A‖ for the small matrices (d ≤ a few hundred) the library meets.
    /// </summary>
    public static void SymmetricEigen(Span<double> a, int d, Span<double> values, Span<double> vectors)
    {
        vectors[..(d * d)].Clear();
        for (int i = 0; i < d; i++) vectors[i * d + i] = 1.0;
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0.0, total = 0.0;
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++)
                {
                    double v = a[i * d + j] * a[i * d + j];
                    total += v;
                    if (i != j) off += v;
                }
            if (off <= 1e-30 * total || off == 0.0) break;
            for (int p = 0; p < d - 1; p++)
                for (int q = p + 1; q < d; q++)
                {
                    double apq = a[p * d + q];
                    if (apq == 0.0) continue;
                    double app = a[p * d + p], aqq = a[q * d + q];
                    double theta = (aqq - app) / (2.0 * apq);
                    double t = Math.Sign(theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1.0));
                    if (theta == 0.0) t = 1.0;
                    double c = 1.0 / Math.Sqrt(t * t + 1.0), s = t * c;
                    for (int k = 0; k < d; k++)
                    {
                        double akp = a[k * d + p], akq = a[k * d + q];
                        a[k * d + p] = c * akp - s * akq;
                        a[k * d + q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < d; k++)
                    {
                        double apk = a[p * d + k], aqk = a[q * d + k];
                        a[p * d + k] = c * apk - s * aqk;
                        a[q * d + k] = s * apk + c * aqk;
                    }
                    for (int k = 0; k < d; k++)
                    {
                        double vkp = vectors[k * d + p], vkq = vectors[k * d + q];
                        vectors[k * d + p] = c * vkp - s * vkq;
                        vectors[k * d + q] = s * vkp + c * vkq;
                    }
                }
        }
        for (int i = 0; i < d; i++) values[i] = a[i * d + i];
        // Sort ascending, permuting the eigenvector columns alongside (selection sort: d is small).
        for (int i = 0; i < d - 1; i++)
        {
            int min = i;
            for (int j = i + 1; j < d; j++)
                if (values[j] < values[min]) min = j;
            if (min == i) continue;
            (values[i], values[min]) = (values[min], values[i]);
            for (int k = 0; k < d; k++)
                (vectors[k * d + i], vectors[k * d + min]) = (vectors[k * d + min], vectors[k * d + i]);
        }
    }

    /// <summary>
    /// Writes V diag(f(λ)) Vᵀ into <paramref name="result"/> for the eigen-decomposition of symmetric
    /// <paramref name="a"/> (not modified): the matrix function used for square roots and eigenvalue clipping.
    /// </summary>
    public static void SymmetricFunction(ReadOnlySpan<double> a, int d, Func<double, double> f, Span<double> result)
    {
        double[] work = new double[d * d], vectors = new double[d * d], values = new double[d];
        a[..(d * d)].CopyTo(work);
        SymmetricEigen(work, d, values, vectors);
        for (int i = 0; i < d; i++) values[i] = f(values[i]);
        for (int i = 0; i < d; i++)
            for (int j = 0; j <= i; j++)
            {
                double s = 0.0;
                for (int k = 0; k < d; k++) s += vectors[i * d + k] * values[k] * vectors[j * d + k];
                result[i * d + j] = s;
                result[j * d + i] = s;
            }
    }

    /// <summary>
    /// result[k·rows + r] = A_r · b_k for the rows of A (rows × length, row-major) and m ≤ 4 vectors b_k (rows of b,
    /// each of the given length). Register-blocked: two rows of A × four vectors per pass (8 System.Runtime.Intrinsics.Vector256 accumulators), so
    /// each loaded chunk of A and of b feeds several multiply-adds.
    /// </summary>
    public static void RowDots(ReadOnlySpan<double> a, int rows, int length, ReadOnlySpan<double> b, int m, Span<double> result)
    {
        int vectorEnd = VectorKernels.FixedLanes && m == 4 ? length - length % 4 : 0;
        int r = 0;
        if (vectorEnd > 0)
        {
            ReadOnlySpan<double> b0 = b[..length], b1 = b.Slice(length, length), b2 = b.Slice(2 * length, length), b3 = b.Slice(3 * length, length);
            for (; r + 1 < rows; r += 2)
            {
                ReadOnlySpan<double> x0 = a.Slice(r * length, length), x1 = a.Slice((r + 1) * length, length);
                System.Runtime.Intrinsics.Vector256<double> p0 = System.Runtime.Intrinsics.Vector256<double>.Zero, p1 = p0, p2 = p0, p3 = p0, q0 = p0, q1 = p0, q2 = p0, q3 = p0;
                for (int j = 0; j < vectorEnd; j += 4)
                {
                    var u = System.Runtime.Intrinsics.Vector256.Create(x0.Slice(j, 4));
                    var v = System.Runtime.Intrinsics.Vector256.Create(x1.Slice(j, 4));
                    var c = System.Runtime.Intrinsics.Vector256.Create(b0.Slice(j, 4));
                    p0 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(u, c, p0);
                    q0 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(v, c, q0);
                    c = System.Runtime.Intrinsics.Vector256.Create(b1.Slice(j, 4));
                    p1 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(u, c, p1);
                    q1 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(v, c, q1);
                    c = System.Runtime.Intrinsics.Vector256.Create(b2.Slice(j, 4));
                    p2 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(u, c, p2);
                    q2 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(v, c, q2);
                    c = System.Runtime.Intrinsics.Vector256.Create(b3.Slice(j, 4));
                    p3 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(u, c, p3);
                    q3 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(v, c, q3);
                }
                double s0 = Gemm.HorizontalSum(p0), s1 = Gemm.HorizontalSum(p1), s2 = Gemm.HorizontalSum(p2), s3 = Gemm.HorizontalSum(p3);
                double t0 = Gemm.HorizontalSum(q0), t1 = Gemm.HorizontalSum(q1), t2 = Gemm.HorizontalSum(q2), t3 = Gemm.HorizontalSum(q3);
                for (int j = vectorEnd; j < length; j++)
                {
                    s0 += x0[j] * b0[j]; s1 += x0[j] * b1[j]; s2 += x0[j] * b2[j]; s3 += x0[j] * b3[j];
                    t0 += x1[j] * b0[j]; t1 += x1[j] * b1[j]; t2 += x1[j] * b2[j]; t3 += x1[j] * b3[j];
                }
                result[r] = s0; result[rows + r] = s1; result[2 * rows + r] = s2; result[3 * rows + r] = s3;
                result[r + 1] = t0; result[rows + r + 1] = t1; result[2 * rows + r + 1] = t2; result[3 * rows + r + 1] = t3;
            }
        }
        for (; r < rows; r++)
        {
            ReadOnlySpan<double> x = a.Slice(r * length, length);
            for (int k = 0; k < m; k++)
                result[k * rows + r] = LinearAlgebra.Reductions.Dot(x, b.Slice(k * length, length));
        }
    }
}
