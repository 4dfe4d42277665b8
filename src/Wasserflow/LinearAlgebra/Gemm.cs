using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Wasserflow.LinearAlgebra;

/// <summary>
/// Dense row-major matrix products for the neural-network layers, register-blocked over
/// <see cref="Vector256{T}"/> with fused multiply-adds. Two shapes cover every product of a GM layer's forward and
/// backward pass (docs/specs/gm-layer.md §4–§5):
/// <list type="bullet">
/// <item>MultiplyTransposed: C = A·Bᵀ with both operands' rows contiguous (dot-product form), used for
/// X·Wᵀ;</item>
/// <item>AddProduct: C += op(A)·B where op(A)(i, p) = a[i·strideI + p·strideP], so one kernel serves
/// A·B (strides (p, 1)) and Aᵀ·B (strides (1, m)) (outer-product form), used for Gᵀ·X and G·W.</item>
/// </list>
/// Lengths are checked once on entry; the inner loops read through references without bounds checks.
/// </summary>
internal static class Gemm
{
    /// <summary>
    /// C (m×n) = A (m×k) · Bᵀ where B is n×k; every matrix row-major and densely packed. With
    /// <paramref name="skipLeadingZeros"/>, the leading groups of four columns where a block of A's rows is exactly zero
    /// are skipped (for A with a triangular or banded start): the same bits (a product ±0 added to an accumulator that
    /// is still +0 leaves +0), provided B is finite there (0·∞ would have been NaN), so only for B known to be finite.
    /// </summary>
    public static void MultiplyTransposed(ReadOnlySpan<double> a, int m, ReadOnlySpan<double> b, int n, int k, Span<double> c, bool skipLeadingZeros = false)
    {
        if (a.Length < m * k || b.Length < n * k || c.Length < m * n) throw new ArgumentException("matrix buffers are smaller than their shapes.");
        ref double a0 = ref MemoryMarshal.GetReference(a);
        ref double b0 = ref MemoryMarshal.GetReference(b);
        int vectorEnd = VectorKernels.FixedLanes ? k - k % 4 : 0;
        // Four rows of B at a time (they stay in L1) against every block of rows of A (from L2), so B streams through
        // the cache once. Blocks of four rows of A need 16 accumulators + 5 operands: 21 vector registers, which x64
        // has only with AVX-512 (32 registers); with 16 (AVX2) the JIT keeps half the accumulators on the stack and the
        // kernel runs at a fraction of its speed, so there it takes two rows of A at a time (8 accumulators). Every C
        // entry is summed the same way either way (its own lane-wise FMA chain, then the same tail): same bits.
        int rowsPerBlock = Avx512F.VL.IsSupported ? 4 : 2;
        int blockedRows = m - m % rowsPerBlock, blockedColumns = n - n % 4;
        // Where each block of A's rows starts its vector loop: 0, or past its common leading zeros (found once per call).
        int blocks = skipLeadingZeros ? blockedRows / rowsPerBlock : 0;
        int[]? rented = blocks > 256 ? ArrayPool<int>.Shared.Rent(blocks) : null;
        Span<int> starts = rented is null ? stackalloc int[blocks] : rented.AsSpan(0, blocks);
        for (int block = 0; block < blocks; block++)
        {
            int start = vectorEnd;
            for (int r = block * rowsPerBlock; r < (block + 1) * rowsPerBlock && start > 0; r++)
            {
                int first = a.Slice(r * k, start).IndexOfAnyExcept(0.0);
                if (first >= 0) start = first - first % 4;
            }
            starts[block] = start;
        }
        for (int j = 0; j < blockedColumns; j += 4)
            for (int i = 0; i < blockedRows; i += rowsPerBlock)
            {
                int start = skipLeadingZeros ? starts[i / rowsPerBlock] : 0;
                if (rowsPerBlock == 4) Dots4x4(ref a0, i, ref b0, j, k, start, vectorEnd, c, n);
                else Dots2x4(ref a0, i, ref b0, j, k, start, vectorEnd, c, n);
            }
        if (rented is not null) ArrayPool<int>.Shared.Return(rented);
        for (int i = 0; i < blockedRows; i++)
            for (int j = blockedColumns; j < n; j++) c[i * n + j] = VectorKernels.Dot(a.Slice(i * k, k), b.Slice(j * k, k));
        for (int i = blockedRows; i < m; i++)
            for (int j = 0; j < n; j++) c[i * n + j] = VectorKernels.Dot(a.Slice(i * k, k), b.Slice(j * k, k));
    }

    /// <summary>
    /// C (m×n) += op(A) · B, where op(A)(i, p) = a[i·strideI + p·strideP] for p &lt; depth and B is depth×n; C and B
    /// row-major and densely packed. A·B: strides (depth, 1); Aᵀ·B with A stored depth×m: strides (1, m).
    /// </summary>
    public static void AddProduct(ReadOnlySpan<double> a, int strideI, int strideP, int m, int depth, ReadOnlySpan<double> b, int n, Span<double> c) =>
        Product(a, strideI, strideP, m, depth, b, n, c, accumulate: true);

    /// <summary>C (m×n) = op(A) · B, as <see cref="AddProduct"/> but overwriting C (no pass to clear it first).</summary>
    public static void Multiply(ReadOnlySpan<double> a, int strideI, int strideP, int m, int depth, ReadOnlySpan<double> b, int n, Span<double> c) =>
        Product(a, strideI, strideP, m, depth, b, n, c, accumulate: false);

    private static void Product(ReadOnlySpan<double> a, int strideI, int strideP, int m, int depth, ReadOnlySpan<double> b, int n, Span<double> c, bool accumulate)
    {
        if (b.Length < depth * n || c.Length < m * n) throw new ArgumentException("matrix buffers are smaller than their shapes.");
        if (m > 0 && depth > 0 && a.Length <= (m - 1) * strideI + (depth - 1) * strideP) throw new ArgumentException("A is smaller than its shape.");
        ref double a0 = ref MemoryMarshal.GetReference(a);
        ref double b0 = ref MemoryMarshal.GetReference(b);
        ref double c0 = ref MemoryMarshal.GetReference(c);
        int wideEnd = VectorKernels.FixedLanes ? n - n % 12 : 0;
        int vectorEnd = VectorKernels.FixedLanes ? n - n % 4 : 0;
        int i = 0;
        for (; i + 3 < m; i += 4)
        {
            for (int j = 0; j < wideEnd; j += 12) Outer4x12(ref a0, i, strideI, strideP, depth, ref b0, n, j, ref c0, accumulate);
            for (int j = wideEnd; j < vectorEnd; j += 4)
                for (int r = 0; r < 4; r++) OuterRowVector(ref a0, (i + r) * strideI, strideP, depth, ref b0, n, j, ref c0, (i + r) * n, accumulate);
            for (int j = vectorEnd; j < n; j++)
                for (int r = 0; r < 4; r++) OuterScalar(ref a0, (i + r) * strideI, strideP, depth, ref b0, n, j, ref c0, (i + r) * n, accumulate);
        }
        for (; i < m; i++)
        {
            for (int j = 0; j < vectorEnd; j += 4) OuterRowVector(ref a0, i * strideI, strideP, depth, ref b0, n, j, ref c0, i * n, accumulate);
            for (int j = vectorEnd; j < n; j++) OuterScalar(ref a0, i * strideI, strideP, depth, ref b0, n, j, ref c0, i * n, accumulate);
        }
    }

    /// <summary>
    /// (v0 + v2) + (v1 + v3), written out: Vector256.Sum's association differs between its JIT expansion and its
    /// managed fallback (used by unoptimised code), so results would depend on the JIT tier.
    /// </summary>
    internal static double HorizontalSum(Vector256<double> v)
    {
        Vector128<double> pair = v.GetLower() + v.GetUpper();
        return pair.ToScalar() + pair.GetElement(1);
    }

    // c[i..i+3, j..j+3] = A[i..i+3, :] · B[j..j+3, :]ᵀ with 16 accumulators.
    private static void Dots4x4(ref double a0, int i, ref double b0, int j, int k, int vectorStart, int vectorEnd, Span<double> c, int n)
    {
        int ra = i * k, rb = j * k;
        Vector256<double> c00 = Vector256<double>.Zero, c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        Vector256<double> c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
        for (int p = vectorStart; p < vectorEnd; p += 4)
        {
            Vector256<double> b0v = Vector256.LoadUnsafe(ref b0, (nuint)(rb + p));
            Vector256<double> b1v = Vector256.LoadUnsafe(ref b0, (nuint)(rb + k + p));
            Vector256<double> b2v = Vector256.LoadUnsafe(ref b0, (nuint)(rb + 2 * k + p));
            Vector256<double> b3v = Vector256.LoadUnsafe(ref b0, (nuint)(rb + 3 * k + p));
            Vector256<double> av = Vector256.LoadUnsafe(ref a0, (nuint)(ra + p));
            c00 = Vector256.FusedMultiplyAdd(av, b0v, c00); c01 = Vector256.FusedMultiplyAdd(av, b1v, c01);
            c02 = Vector256.FusedMultiplyAdd(av, b2v, c02); c03 = Vector256.FusedMultiplyAdd(av, b3v, c03);
            av = Vector256.LoadUnsafe(ref a0, (nuint)(ra + k + p));
            c10 = Vector256.FusedMultiplyAdd(av, b0v, c10); c11 = Vector256.FusedMultiplyAdd(av, b1v, c11);
            c12 = Vector256.FusedMultiplyAdd(av, b2v, c12); c13 = Vector256.FusedMultiplyAdd(av, b3v, c13);
            av = Vector256.LoadUnsafe(ref a0, (nuint)(ra + 2 * k + p));
            c20 = Vector256.FusedMultiplyAdd(av, b0v, c20); c21 = Vector256.FusedMultiplyAdd(av, b1v, c21);
            c22 = Vector256.FusedMultiplyAdd(av, b2v, c22); c23 = Vector256.FusedMultiplyAdd(av, b3v, c23);
            av = Vector256.LoadUnsafe(ref a0, (nuint)(ra + 3 * k + p));
            c30 = Vector256.FusedMultiplyAdd(av, b0v, c30); c31 = Vector256.FusedMultiplyAdd(av, b1v, c31);
            c32 = Vector256.FusedMultiplyAdd(av, b2v, c32); c33 = Vector256.FusedMultiplyAdd(av, b3v, c33);
        }
        Span<double> row = c.Slice(i * n + j, 4);
        Store(row, c00, c01, c02, c03, ref a0, ra, ref b0, rb, k, vectorEnd);
        Store(c.Slice((i + 1) * n + j, 4), c10, c11, c12, c13, ref a0, ra + k, ref b0, rb, k, vectorEnd);
        Store(c.Slice((i + 2) * n + j, 4), c20, c21, c22, c23, ref a0, ra + 2 * k, ref b0, rb, k, vectorEnd);
        Store(c.Slice((i + 3) * n + j, 4), c30, c31, c32, c33, ref a0, ra + 3 * k, ref b0, rb, k, vectorEnd);
    }

    // c[i..i+1, j..j+3] = A[i..i+1, :] · B[j..j+3, :]ᵀ with 8 accumulators (13 registers: fits AVX2's 16).
    private static void Dots2x4(ref double a0, int i, ref double b0, int j, int k, int vectorStart, int vectorEnd, Span<double> c, int n)
    {
        int ra = i * k, rb = j * k;
        Vector256<double> c00 = Vector256<double>.Zero, c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        for (int p = vectorStart; p < vectorEnd; p += 4)
        {
            Vector256<double> b0v = Vector256.LoadUnsafe(ref b0, (nuint)(rb + p));
            Vector256<double> b1v = Vector256.LoadUnsafe(ref b0, (nuint)(rb + k + p));
            Vector256<double> b2v = Vector256.LoadUnsafe(ref b0, (nuint)(rb + 2 * k + p));
            Vector256<double> b3v = Vector256.LoadUnsafe(ref b0, (nuint)(rb + 3 * k + p));
            Vector256<double> av = Vector256.LoadUnsafe(ref a0, (nuint)(ra + p));
            c00 = Vector256.FusedMultiplyAdd(av, b0v, c00); c01 = Vector256.FusedMultiplyAdd(av, b1v, c01);
            c02 = Vector256.FusedMultiplyAdd(av, b2v, c02); c03 = Vector256.FusedMultiplyAdd(av, b3v, c03);
            av = Vector256.LoadUnsafe(ref a0, (nuint)(ra + k + p));
            c10 = Vector256.FusedMultiplyAdd(av, b0v, c10); c11 = Vector256.FusedMultiplyAdd(av, b1v, c11);
            c12 = Vector256.FusedMultiplyAdd(av, b2v, c12); c13 = Vector256.FusedMultiplyAdd(av, b3v, c13);
        }
        Store(c.Slice(i * n + j, 4), c00, c01, c02, c03, ref a0, ra, ref b0, rb, k, vectorEnd);
        Store(c.Slice((i + 1) * n + j, 4), c10, c11, c12, c13, ref a0, ra + k, ref b0, rb, k, vectorEnd);
    }

    private static void Store(Span<double> row, Vector256<double> s0, Vector256<double> s1, Vector256<double> s2, Vector256<double> s3,
        ref double a0, int ra, ref double b0, int rb, int k, int vectorEnd)
    {
        double t0 = HorizontalSum(s0), t1 = HorizontalSum(s1), t2 = HorizontalSum(s2), t3 = HorizontalSum(s3);
        for (int p = vectorEnd; p < k; p++)
        {
            double x = Unsafe.Add(ref a0, ra + p);
            t0 += x * Unsafe.Add(ref b0, rb + p);
            t1 += x * Unsafe.Add(ref b0, rb + k + p);
            t2 += x * Unsafe.Add(ref b0, rb + 2 * k + p);
            t3 += x * Unsafe.Add(ref b0, rb + 3 * k + p);
        }
        row[0] = t0; row[1] = t1; row[2] = t2; row[3] = t3;
    }

    // C[i..i+3, j..j+11] (+)= Σ_p op(A)[i..i+3, p] B[p, j..j+11], the 4×12 block of C held in 12 accumulators.
    private static void Outer4x12(ref double a0, int i, int strideI, int strideP, int depth, ref double b0, int n, int j, ref double c0, bool accumulate)
    {
        Vector256<double> c00 = Vector256<double>.Zero, c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
        Vector256<double> c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
        int ai = i * strideI;
        for (int p = 0; p < depth; p++)
        {
            int rb = p * n + j, ap = ai + p * strideP;
            Vector256<double> b0v = Vector256.LoadUnsafe(ref b0, (nuint)rb);
            Vector256<double> b1v = Vector256.LoadUnsafe(ref b0, (nuint)(rb + 4));
            Vector256<double> b2v = Vector256.LoadUnsafe(ref b0, (nuint)(rb + 8));
            Vector256<double> av = Vector256.Create(Unsafe.Add(ref a0, ap));
            c00 = Vector256.FusedMultiplyAdd(av, b0v, c00); c01 = Vector256.FusedMultiplyAdd(av, b1v, c01); c02 = Vector256.FusedMultiplyAdd(av, b2v, c02);
            av = Vector256.Create(Unsafe.Add(ref a0, ap + strideI));
            c10 = Vector256.FusedMultiplyAdd(av, b0v, c10); c11 = Vector256.FusedMultiplyAdd(av, b1v, c11); c12 = Vector256.FusedMultiplyAdd(av, b2v, c12);
            av = Vector256.Create(Unsafe.Add(ref a0, ap + 2 * strideI));
            c20 = Vector256.FusedMultiplyAdd(av, b0v, c20); c21 = Vector256.FusedMultiplyAdd(av, b1v, c21); c22 = Vector256.FusedMultiplyAdd(av, b2v, c22);
            av = Vector256.Create(Unsafe.Add(ref a0, ap + 3 * strideI));
            c30 = Vector256.FusedMultiplyAdd(av, b0v, c30); c31 = Vector256.FusedMultiplyAdd(av, b1v, c31); c32 = Vector256.FusedMultiplyAdd(av, b2v, c32);
        }
        Store(ref c0, i * n + j, c00, c01, c02, accumulate);
        Store(ref c0, (i + 1) * n + j, c10, c11, c12, accumulate);
        Store(ref c0, (i + 2) * n + j, c20, c21, c22, accumulate);
        Store(ref c0, (i + 3) * n + j, c30, c31, c32, accumulate);
    }

    private static void Store(ref double c0, int offset, Vector256<double> v0, Vector256<double> v1, Vector256<double> v2, bool accumulate)
    {
        if (accumulate)
        {
            v0 += Vector256.LoadUnsafe(ref c0, (nuint)offset);
            v1 += Vector256.LoadUnsafe(ref c0, (nuint)(offset + 4));
            v2 += Vector256.LoadUnsafe(ref c0, (nuint)(offset + 8));
        }
        v0.StoreUnsafe(ref c0, (nuint)offset);
        v1.StoreUnsafe(ref c0, (nuint)(offset + 4));
        v2.StoreUnsafe(ref c0, (nuint)(offset + 8));
    }

    private static void OuterRowVector(ref double a0, int ai, int strideP, int depth, ref double b0, int n, int j, ref double c0, int ci, bool accumulate)
    {
        Vector256<double> acc = Vector256<double>.Zero;
        for (int p = 0; p < depth; p++)
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref a0, ai + p * strideP)), Vector256.LoadUnsafe(ref b0, (nuint)(p * n + j)), acc);
        if (accumulate) acc += Vector256.LoadUnsafe(ref c0, (nuint)(ci + j));
        acc.StoreUnsafe(ref c0, (nuint)(ci + j));
    }

    private static void OuterScalar(ref double a0, int ai, int strideP, int depth, ref double b0, int n, int j, ref double c0, int ci, bool accumulate)
    {
        double acc = 0;
        for (int p = 0; p < depth; p++) acc += Unsafe.Add(ref a0, ai + p * strideP) * Unsafe.Add(ref b0, p * n + j);
        Unsafe.Add(ref c0, ci + j) = accumulate ? Unsafe.Add(ref c0, ci + j) + acc : acc;
    }
}
