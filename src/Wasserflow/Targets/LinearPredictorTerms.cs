using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Wasserflow.LinearAlgebra;

namespace Wasserflow.Targets;

/// <summary>
/// The per-row log-likelihood terms ℓ(y, t) of generalised linear models and their derivatives w = ∂ℓ/∂t, four rows
/// per vector: logistic (y t − softplus t), Poisson (y t − e^t, without log y!) and Gaussian (−½ τ (y − t)², τ the
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
