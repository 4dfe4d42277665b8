using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Wasserflow.LinearAlgebra;

/// <summary>
/// log p and ∇log p of a mixture of diagonal Gaussians, p(x) = Σ_k exp(c_k − ½ Σ_i λ_ki (x_i − μ_ki)²), at many points
/// of a small dimension, with four points in the lanes of a vector. Every sum over components is then a lane-wise sum
/// (no horizontal reductions, no per-row calls on spans of length d or K), which is what a point of d = 2 … 8 needs:
/// the row-wise kernels spend more on call overhead and short tails than on arithmetic there.
/// </summary>
/// <remarks>
/// Per block of four points: ℓ_k = c_k − ½ Σ_i λ_ki (x_i − μ_ki)² for every k with the running maximum M; then
/// e_k = exp(ℓ_k − M), set to 0 where ℓ_k − M &lt; −50 (see <see cref="Cut"/>), S = Σ_k e_k, log p = M + log S; then ∇_i log p = Σ_k (e_k/S) λ_ki (μ_ki − x_i). A short last block is padded with
/// copies of its last point, so every point goes through the same lane arithmetic wherever it sits; the sums run over
/// k in order, so the bits do not depend on the CPU's vector width.
/// </remarks>
internal static class DiagonalMixtureKernel
{
    [ThreadStatic] private static double[]? t_lanes;

    // Terms more than 50 below their point's largest are dropped (weight exactly 0): e^{−50} ≈ 1.9e−22, so even 10⁵ of
    // them change S ≥ 1 by less than half its last bit. The cut is per lane, so a point's result does not depend on
    // the other points of its block; a vector whose four lanes all fall below it skips the exponential altogether
    // (most terms, when the components are far apart), and its component the gradient pass.
    private const double Cut = -50;

    /// <summary>
    /// Writes log p at <paramref name="count"/> points (rows of <paramref name="points"/>, length d) and, unless
    /// <paramref name="gradients"/> is empty, ∇log p.
    /// </summary>
    /// <param name="points">count × d.</param>
    /// <param name="count">Points.</param>
    /// <param name="d">Dimension.</param>
    /// <param name="means">K × d component means μ_k.</param>
    /// <param name="precisions">K × d per-coordinate precisions λ_k, or K (one per component) when <paramref name="isotropic"/>.</param>
    /// <param name="isotropic">Whether λ_k is one number per component.</param>
    /// <param name="logConstants">K constants c_k (log weight plus log normaliser).</param>
    /// <param name="logDensities">count outputs.</param>
    /// <param name="gradients">count × d outputs, or empty.</param>
    public static void LogDensityAndGradient(ReadOnlySpan<double> points, int count, int d, ReadOnlySpan<double> means,
        ReadOnlySpan<double> precisions, bool isotropic, ReadOnlySpan<double> logConstants, Span<double> logDensities, Span<double> gradients)
    {
        int k = logConstants.Length;
        if (points.Length < count * d || means.Length < k * d || precisions.Length < (isotropic ? k : k * d) || logDensities.Length < count
            || (!gradients.IsEmpty && gradients.Length < count * d))
            throw new ArgumentException("buffers are smaller than their shapes.");
        if (count == 0) return;
        int length = 4 * (d + k);
        double[] lanes = t_lanes is { } buffer && buffer.Length >= length ? buffer : (t_lanes = new double[length]);
        ref double x0 = ref lanes[0];          // d vectors: coordinate i of the block's four points
        ref double e0 = ref lanes[4 * d];      // K vectors: ℓ_k, then e_k, then e_k / S
        ref double mu0 = ref MemoryMarshal.GetReference(means);
        ref double la0 = ref MemoryMarshal.GetReference(precisions);
        ref double c0 = ref MemoryMarshal.GetReference(logConstants);
        Vector256<double> minusHalf = Vector256.Create(-0.5);
        Vector256<double> cut = Vector256.Create(Cut), negativeInfinity = Vector256.Create(double.NegativeInfinity);
        for (int p0 = 0; p0 < count; p0 += 4)
        {
            int m = Math.Min(4, count - p0);
            for (int l = 0; l < 4; l++)
            {
                ReadOnlySpan<double> x = points.Slice((p0 + Math.Min(l, m - 1)) * d, d);
                for (int i = 0; i < d; i++) Unsafe.Add(ref x0, 4 * i + l) = x[i];
            }

            Vector256<double> max = negativeInfinity;
            for (int j = 0; j < k; j++)
            {
                Vector256<double> s = Vector256<double>.Zero;
                if (isotropic)
                {
                    for (int i = 0; i < d; i++)
                    {
                        Vector256<double> t = Vector256.LoadUnsafe(ref x0, (nuint)(4 * i)) - Vector256.Create(Unsafe.Add(ref mu0, j * d + i));
                        s = Vector256.FusedMultiplyAdd(t, t, s);
                    }
                    s *= Vector256.Create(Unsafe.Add(ref la0, j));
                }
                else
                {
                    for (int i = 0; i < d; i++)
                    {
                        Vector256<double> t = Vector256.LoadUnsafe(ref x0, (nuint)(4 * i)) - Vector256.Create(Unsafe.Add(ref mu0, j * d + i));
                        s = Vector256.FusedMultiplyAdd(t * t, Vector256.Create(Unsafe.Add(ref la0, j * d + i)), s);
                    }
                }
                Vector256<double> term = Vector256.FusedMultiplyAdd(minusHalf, s, Vector256.Create(Unsafe.Add(ref c0, j)));
                term.StoreUnsafe(ref e0, (nuint)(4 * j));
                // A plain compare-and-select (Vector256.Max also orders ±0 and NaN, at several instructions more): a NaN
                // term is not taken as the maximum, but it stays in its e_k and makes S and log p NaN all the same.
                max = Vector256.ConditionalSelect(Vector256.GreaterThan(term, max), term, max);
            }

            // A point no component reaches (every ℓ_k = −∞) keeps its −∞ log density; the callers' checks report it.
            Vector256<double> shift = Vector256.ConditionalSelect(Vector256.Equals(max, negativeInfinity), Vector256<double>.Zero, max);
            Vector256<double> sum = Vector256<double>.Zero;
            int live = 0; // bit j: some lane of component j survived the cut
            for (int j = 0; j < k; j++)
            {
                Vector256<double> t = Vector256.LoadUnsafe(ref e0, (nuint)(4 * j)) - shift;
                Vector256<double> e = Vector256<double>.Zero;
                if (!Vector256.LessThanAll(t, cut))
                {
                    e = VectorMath.Exp(t);
                    e = Vector256.ConditionalSelect(Vector256.LessThan(t, cut), Vector256<double>.Zero, e);
                    if (j < 32) live |= 1 << j;
                }
                e.StoreUnsafe(ref e0, (nuint)(4 * j));
                sum += e;
            }
            Vector256<double> logDensity = shift + VectorMath.Log(sum);
            for (int l = 0; l < m; l++) logDensities[p0 + l] = logDensity.GetElement(l);
            if (gradients.IsEmpty) continue;

            Vector256<double> inverse = Vector256<double>.One / sum;
            for (int j = 0; j < k; j++)
            {
                Vector256<double> r = Vector256.LoadUnsafe(ref e0, (nuint)(4 * j)) * inverse;
                if (isotropic) r *= Vector256.Create(Unsafe.Add(ref la0, j));
                r.StoreUnsafe(ref e0, (nuint)(4 * j));
            }
            for (int i = 0; i < d; i++)
            {
                Vector256<double> xi = Vector256.LoadUnsafe(ref x0, (nuint)(4 * i));
                Vector256<double> g = Vector256<double>.Zero;
                for (int j = 0; j < k; j++)
                {
                    if (j < 32 && (live & (1 << j)) == 0) continue; // every lane's weight is 0: adding 0·y changes nothing
                    Vector256<double> w = Vector256.LoadUnsafe(ref e0, (nuint)(4 * j));
                    if (!isotropic) w *= Vector256.Create(Unsafe.Add(ref la0, j * d + i));
                    g = Vector256.FusedMultiplyAdd(w, Vector256.Create(Unsafe.Add(ref mu0, j * d + i)) - xi, g);
                }
                for (int l = 0; l < m; l++) gradients[(p0 + l) * d + i] = g.GetElement(l);
            }
        }
    }
}
