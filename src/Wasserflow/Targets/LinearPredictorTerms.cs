using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Wasserflow.LinearAlgebra;

namespace Wasserflow.Targets;

/// <summary>
/// The pieces of <see cref="ILinearPredictorTarget"/> that its implementations share: the predictors and pull-backs on a
/// row-major design (n × d) over a range of rows, and the per-row log-likelihood terms ℓ(y, t) of generalised linear
/// models with their derivatives w = ∂ℓ/∂t, four rows per vector: logistic (y t − softplus t), Poisson (y t − e^t, without log y!) and Gaussian (−½ τ (y − t)², τ the
/// noise precision, without its normaliser). The last one to three rows go through the same lane arithmetic in a
/// zero-padded vector, so a row's numbers do not depend on where it sits; the sum is one vector accumulator (pairwise at
/// the end), then the tail's lanes in order. Without <c>withValue</c> only the derivatives are formed (the same bits).
/// </summary>
internal static class LinearPredictorTerms
{
    /// <summary>Which likelihood.</summary>
    public enum Kind
    {
        /// <summary>Bernoulli with the logistic link.</summary>
        Logistic,

        /// <summary>Poisson with the log link.</summary>
        Poisson,

        /// <summary>Gaussian with the identity link and a known noise precision.</summary>
        Gaussian,
    }

    /// <summary>predictors[k·rows + r] = x_{first+r}ᵀ z_k for the count rows z_k of directions (count × d), X = design (n × d).</summary>
    public static void Predictors(ReadOnlySpan<double> design, int d, ReadOnlySpan<double> directions, int count, int first, int rows, Span<double> predictors)
    {
        CheckRows(first, rows, design.Length / d);
        if (count < 0 || directions.Length < count * d || predictors.Length < count * rows) throw new ArgumentException("buffers are smaller than their shapes.");
        Gemm.MultiplyTransposed(directions, count, design.Slice(first * d, rows * d), rows, d, predictors, skipLeadingZeros: true);
    }

    /// <summary>result[k·d + j] += Σ_r weights[k·rows + r] x_{first+r, j} for count weight vectors, X = design (n × d).</summary>
    public static void AddPullBack(ReadOnlySpan<double> design, int d, ReadOnlySpan<double> weights, int count, int first, int rows, Span<double> result)
    {
        CheckRows(first, rows, design.Length / d);
        if (count < 0 || weights.Length < count * rows || result.Length < count * d) throw new ArgumentException("buffers are smaller than their shapes.");
        Gemm.AddProduct(weights, rows, 1, count, rows, design.Slice(first * d, rows * d), d, result);
    }

    /// <summary><see cref="Sum"/> over the data rows first … first + t.Length − 1 of the responses y (all n of them).</summary>
    public static double Rows(Kind kind, ReadOnlySpan<double> y, int first, ReadOnlySpan<double> t, Span<double> w, double precision, bool withValue)
    {
        CheckRows(first, t.Length, y.Length);
        if (w.Length < t.Length) throw new ArgumentException("the derivatives buffer is shorter than the predictors.");
        return Sum(kind, y.Slice(first, t.Length), t, w, precision, withValue);
    }

    private static void CheckRows(int first, int rows, int n)
    {
        if (first < 0 || rows < 0 || first > n - rows)
            throw new ArgumentOutOfRangeException(nameof(rows), $"data rows {first} … {first + rows - 1} are outside 0 … {n - 1}.");
    }

    /// <summary>Σ_r ℓ(y_r, t_r) (0 unless <paramref name="withValue"/>), writing w_r = ∂ℓ/∂t_r.</summary>
    /// <param name="kind">The likelihood.</param>
    /// <param name="y">Responses, at least t.Length.</param>
    /// <param name="t">Linear predictors.</param>
    /// <param name="w">Derivatives, at least t.Length.</param>
    /// <param name="precision">τ, the Gaussian noise precision (unused otherwise).</param>
    /// <param name="withValue">Whether to form the sum.</param>
    public static double Sum(Kind kind, ReadOnlySpan<double> y, ReadOnlySpan<double> t, Span<double> w, double precision, bool withValue)
    {
        int n = t.Length, i = 0;
        if (y.Length < n || w.Length < n) throw new ArgumentException("buffers are shorter than the predictors.");
        ref double y0 = ref MemoryMarshal.GetReference(y);
        ref double t0 = ref MemoryMarshal.GetReference(t);
        ref double w0 = ref MemoryMarshal.GetReference(w);
        Vector256<double> sum = Vector256<double>.Zero;
        for (; i + 3 < n; i += 4)
        {
            Vector256<double> term = Terms(kind, Vector256.LoadUnsafe(ref t0, (nuint)i), Vector256.LoadUnsafe(ref y0, (nuint)i), precision, out Vector256<double> wv, withValue);
            wv.StoreUnsafe(ref w0, (nuint)i);
            sum += term;
        }
        double value = Gemm.HorizontalSum(sum);
        if (i < n)
        {
            Span<double> tail = stackalloc double[8];
            tail.Clear();
            for (int j = i; j < n; j++)
            {
                tail[j - i] = t[j];
                tail[4 + j - i] = y[j];
            }
            Vector256<double> term = Terms(kind, Vector256.Create((ReadOnlySpan<double>)tail[..4]), Vector256.Create((ReadOnlySpan<double>)tail[4..]), precision,
                out Vector256<double> wv, withValue);
            for (int j = i; j < n; j++)
            {
                w[j] = wv.GetElement(j - i);
                value += term.GetElement(j - i);
            }
        }
        return withValue ? value : 0.0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Terms(Kind kind, Vector256<double> t, Vector256<double> y, double precision, out Vector256<double> w, bool withValue)
    {
        switch (kind)
        {
            case Kind.Logistic:
                {
                    // e = e^{−|t|}, s = 1 + e: softplus(t) = max(t, 0) + log s, and σ(t) = 1/s for t ≥ 0, e/s below, i.e.
                    // σ = ½ + copysign(1/s − ½, t); w is formed as (y − copysign(1/s − ½, t)) − ½.
                    Vector256<double> half = Vector256.Create(0.5);
                    Vector256<double> e = VectorMath.Exp(-Vector256.Abs(t));
                    Vector256<double> s = Vector256<double>.One + e;
                    // copysign(1/s − ½, t): the sign bit from t, every other bit from 1/s − ½ (which is ≥ 0).
                    Vector256<double> signed = Vector256.ConditionalSelect(Vector256.Create(-0.0), t, Vector256<double>.One / s - half);
                    w = y - signed - half;
                    return withValue ? y * t - Vector256.Max(t, Vector256<double>.Zero) - VectorMath.Log(s) : Vector256<double>.Zero;
                }
            case Kind.Poisson:
                {
                    Vector256<double> rate = VectorMath.Exp(t);
                    w = y - rate;
                    return withValue ? y * t - rate : Vector256<double>.Zero;
                }
            default:
                {
                    Vector256<double> residual = y - t, tau = Vector256.Create(precision);
                    w = residual * tau;
                    return withValue ? Vector256.Create(-0.5) * tau * residual * residual : Vector256<double>.Zero;
                }
        }
    }
}
