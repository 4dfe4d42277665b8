using MathNet.Numerics.LinearAlgebra;
using Wasserflow.Targets;

namespace Wasserflow.Diagnostics;

/// <summary>
/// How a fit distributes its mass over the modes of a mixture target (paper 003 §3.1; docs/specs/rovi-mfvi.md §8): mode
/// masses, quadrant masses, marginal Wasserstein-1 distances to exact samples and the alignment of a rotation.
/// Samples are rows of a count×d row-major buffer.
/// </summary>
public static class ModeDiagnostics
{
    /// <summary>q_k = the fraction of samples whose responsibility r_k(z) under <paramref name="target"/> exceeds ½.</summary>
    public static double[] ModeMasses(GaussianMixtureTarget target, ReadOnlySpan<double> samples, int count)
    {
        ArgumentNullException.ThrowIfNull(target);
        int d = target.Dimension, k = target.ComponentCount;
        if (count < 1 || samples.Length < count * d) throw new ArgumentException($"need count ≥ 1 samples of dimension {d}.");
        var masses = new double[k];
        var r = new double[k];
        for (int p = 0; p < count; p++)
        {
            target.Responsibilities(samples.Slice(p * d, d), r);
            for (int c = 0; c < k; c++)
                if (r[c] > 0.5) masses[c] += 1.0 / count;
        }
        return masses;
    }

    /// <summary>
    /// μ(z_j &lt; b_j, z_k &lt; b_k) and μ(z_j &gt; b_j, z_k &gt; b_k): the sample masses of the two opposite quadrants at
    /// <paramref name="corner"/> in coordinates (j, k) = (0, 1) (the sets H⁻∩H⁻ and H⁺∩H⁺ of Theorem 2.3).
    /// </summary>
    public static (double Lower, double Upper) QuadrantMasses(ReadOnlySpan<double> samples, int count, int dimension, ReadOnlySpan<double> corner)
    {
        if (dimension < 2) throw new ArgumentException("quadrants need dimension ≥ 2.");
        double lower = 0, upper = 0;
        for (int p = 0; p < count; p++)
        {
            double a = samples[p * dimension] - corner[0], b = samples[p * dimension + 1] - corner[1];
            if (a < 0 && b < 0) lower++;
            else if (a > 0 && b > 0) upper++;
        }
        return (lower / count, upper / count);
    }

    /// <summary>
    /// W₁ between the i-th marginals of two equal-size samples, for every coordinate: mean |a_(m) − b_(m)| over the
    /// sorted values (exact for empirical measures of the same size).
    /// </summary>
    public static double[] MarginalWasserstein1(ReadOnlySpan<double> a, ReadOnlySpan<double> b, int count, int dimension)
    {
        if (a.Length < count * dimension || b.Length < count * dimension) throw new ArgumentException("both samples need count × dimension values.");
        var result = new double[dimension];
        var x = new double[count];
        var y = new double[count];
        for (int i = 0; i < dimension; i++)
        {
            for (int p = 0; p < count; p++) { x[p] = a[p * dimension + i]; y[p] = b[p * dimension + i]; }
            Array.Sort(x);
            Array.Sort(y);
            double sum = 0;
            for (int p = 0; p < count; p++) sum += Math.Abs(x[p] - y[p]);
            result[i] = sum / count;
        }
        return result;
    }

    /// <summary>The smallest angle in degrees between ±<paramref name="direction"/> and a column of <paramref name="rotation"/> (d×d).</summary>
    public static double AlignmentAngle(ReadOnlySpan<double> rotation, ReadOnlySpan<double> direction)
    {
        int d = direction.Length;
        double norm = 0;
        foreach (double v in direction) norm += v * v;
        norm = Math.Sqrt(norm);
        if (!(norm > 0)) throw new ArgumentException("the direction must be non-zero.");
        double best = 0;
        for (int c = 0; c < d; c++)
        {
            double dot = 0;
            for (int r = 0; r < d; r++) dot += rotation[r * d + c] * direction[r];
            best = Math.Max(best, Math.Abs(dot) / norm);
        }
        return Math.Acos(Math.Min(1, best)) * 180 / Math.PI;
    }
}

/// <summary>
/// The closed-form statements of paper 003 that a fit can be checked against (docs/specs/rovi-mfvi.md §9): the mean-field
/// KL of a Gaussian, the rotational bound of Proposition 3.1, the collapse threshold of Corollary 2.7 (corrected) and the
/// quadrant-mass certificate of Theorem 2.3 / Corollary 2.6.
/// </summary>
public static class MeanFieldTheory
{
    /// <summary>inf over product measures of KL(·‖N(m, Σ)) = ½[log det Σ + Σ_i log (Σ⁻¹)_ii] (Σ d×d row-major).</summary>
    public static double GaussianMeanFieldKl(ReadOnlySpan<double> covariance, int dimension)
    {
        var sigma = Matrix<double>.Build.DenseOfRowMajor(dimension, dimension, covariance.ToArray());
        var precision = sigma.Inverse();
        double sum = 0;
        for (int i = 0; i < dimension; i++) sum += Math.Log(precision[i, i]);
        return 0.5 * (sigma.Cholesky().DeterminantLn + sum);
    }

    /// <summary>
    /// Proposition 3.1 for π = w N(m₁, Σ) + (1 − w) N(m₂, Σ): the bound ½[log det Σ + Σ_i log(v_iᵀΣ⁻¹v_i)] on the best
    /// RoVI KL, with v₁ along m₂ − m₁ and v₂…v_d the eigenvectors of (I − v₁v₁ᵀ)Σ⁻¹(I − v₁v₁ᵀ) other than the one
    /// most aligned with v₁; also returns O = [v₁ … v_d] (row-major), which attains it. 0 (and O = I) when m₁ = m₂.
    /// </summary>
    public static (double Bound, double[] Rotation) RotationBound(ReadOnlySpan<double> mean1, ReadOnlySpan<double> mean2, ReadOnlySpan<double> covariance)
    {
        int d = mean1.Length;
        var sigma = Matrix<double>.Build.DenseOfRowMajor(d, d, covariance.ToArray());
        var precision = sigma.Inverse();
        double[] m1 = mean1.ToArray(), m2 = mean2.ToArray();
        var difference = Vector<double>.Build.Dense(d, i => m2[i] - m1[i]);
        var rotation = new double[d * d];
        if (difference.L2Norm() == 0)
        {
            for (int i = 0; i < d; i++) rotation[i * d + i] = 1;
            return (0.0, rotation);
        }
        var v1 = difference / difference.L2Norm();
        var projector = Matrix<double>.Build.DenseIdentity(d) - v1.OuterProduct(v1);
        var m = projector * precision * projector;
        m = 0.5 * (m + m.Transpose());
        var evd = m.Evd(Symmetricity.Symmetric);
        int skip = Enumerable.Range(0, d).MaxBy(c => Math.Abs(evd.EigenVectors.Column(c).DotProduct(v1)));
        var columns = new List<Vector<double>> { v1 };
        for (int c = 0; c < d; c++)
            if (c != skip) columns.Add(evd.EigenVectors.Column(c).Normalize(2));
        double sum = sigma.Cholesky().DeterminantLn;
        for (int c = 0; c < d; c++)
        {
            sum += Math.Log(columns[c].DotProduct(precision * columns[c]));
            for (int r = 0; r < d; r++) rotation[r * d + c] = columns[c][r];
        }
        return (0.5 * sum, rotation);
    }

    /// <summary>
    /// Corollary 2.7 as corrected in spec §9: with well-separated components whose mean-field KLs are K₀ and K₁, MFVI
    /// collapses onto P₀ (cost K₀ − log w) when w exceeds w* = 1/(1 + exp(K₁ − K₀)), onto P₁ otherwise.
    /// </summary>
    public static double CollapseThreshold(double k0, double k1) => 1.0 / (1.0 + Math.Exp(k1 - k0));

    /// <summary>
    /// Theorem 2.3 / Corollary 2.6: with ε the separation of the two components by the half-spaces and b̂ an upper
    /// estimate of b, the bound √(b̂/(2 log(1/ε))) − b̂/(2 log(1/ε)) on min(μ(H⁻∩H⁻), μ(H⁺∩H⁺)) for an MFVI optimum μ;
    /// null when ε &gt; exp(−2b̂) (not applicable).
    /// </summary>
    public static double? QuadrantMassBound(double epsilon, double bHat)
    {
        if (!(epsilon > 0 && epsilon < 1) || !(bHat > 0)) throw new ArgumentException($"need 0 < ε < 1 and b̂ > 0 (got {epsilon}, {bHat}).");
        if (epsilon > Math.Exp(-2 * bHat)) return null;
        double ratio = bHat / (2 * Math.Log(1 / epsilon));
        return Math.Sqrt(ratio) - ratio;
    }
}
