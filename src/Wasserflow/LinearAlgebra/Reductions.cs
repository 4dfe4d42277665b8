using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Wasserflow.LinearAlgebra;

/// <summary>
/// Sums and dot products in one fixed order, so a seed gives the same bits on every x64 machine: TensorPrimitives'
/// reductions accumulate in as many lanes as the widest vector the CPU has (8 with AVX-512, 4 with AVX2, 2 with SSE), so
/// their last bits follow the CPU. Here there are always 16 partial sums — lane l of block k accumulates elements
/// 16k + l — combined as ((s₀..₃ + s₄..₇) + (s₈..₁₁ + s₁₂..₁₅)) lane-wise, then (c₀ + c₂) + (c₁ + c₃), then the
/// remainder of fewer than 4 elements in order. Four Vector256 accumulators compute exactly that with fused
/// multiply-adds, on every machine (<see cref="VectorKernels.FixedLanes"/>: without AVX2 .NET runs them in software
/// with the same IEEE results).
/// </summary>
public static class Reductions
{
    /// <summary>Σ_i a_i b_i.</summary>
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        if (b.Length < a.Length) throw new ArgumentException("vectors differ in length.");
        return Reduce(a, b, product: true, magnitude: false);
    }

    /// <summary>Σ_i v_i.</summary>
    public static double Sum(ReadOnlySpan<double> v) => Reduce(v, v, product: false, magnitude: false);

    /// <summary>Σ_i |v_i|.</summary>
    public static double SumOfMagnitudes(ReadOnlySpan<double> v) => Reduce(v, v, product: false, magnitude: true);

    /// <summary>Σ_i v_i².</summary>
    public static double SumOfSquares(ReadOnlySpan<double> v) => Reduce(v, v, product: true, magnitude: false);

    /// <summary>√(Σ_i v_i²).</summary>
    public static double Norm(ReadOnlySpan<double> v) => Math.Sqrt(SumOfSquares(v));

    private static double Reduce(ReadOnlySpan<double> a, ReadOnlySpan<double> b, bool product, bool magnitude)
    {
        int n = a.Length, i = 0;
        double result = 0;
        if (n >= 4)
        {
            result = Vectorised(a, b, product, magnitude, out i);
        }
        for (; i < n; i++) result += product ? a[i] * b[i] : magnitude ? Math.Abs(a[i]) : a[i];
        return result;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Step(Vector256<double> acc, ref double a0, ref double b0, int i, bool product, bool magnitude)
    {
        Vector256<double> x = Vector256.LoadUnsafe(ref a0, (nuint)i);
        if (product) return Vector256.FusedMultiplyAdd(x, Vector256.LoadUnsafe(ref b0, (nuint)i), acc);
        return acc + (magnitude ? Vector256.Abs(x) : x);
    }

    private static double Vectorised(ReadOnlySpan<double> a, ReadOnlySpan<double> b, bool product, bool magnitude, out int end)
    {
        ref double a0 = ref MemoryMarshal.GetReference(a);
        ref double b0 = ref MemoryMarshal.GetReference(b);
        int n = a.Length, i = 0;
        Vector256<double> s0 = Vector256<double>.Zero, s1 = s0, s2 = s0, s3 = s0;
        for (; i + 15 < n; i += 16)
        {
            s0 = Step(s0, ref a0, ref b0, i, product, magnitude);
            s1 = Step(s1, ref a0, ref b0, i + 4, product, magnitude);
            s2 = Step(s2, ref a0, ref b0, i + 8, product, magnitude);
            s3 = Step(s3, ref a0, ref b0, i + 12, product, magnitude);
        }
        for (; i + 3 < n; i += 4) s0 = Step(s0, ref a0, ref b0, i, product, magnitude);
        end = i;
        return Gemm.HorizontalSum((s0 + s1) + (s2 + s3));
    }
}
