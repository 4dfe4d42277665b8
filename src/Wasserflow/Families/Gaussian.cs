using System.Numerics.Tensors;
using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;

namespace Wasserflow.Families;

/// <summary>
/// A Gaussian N(m, Σ) on R^d kept as its mean m and the lower-triangular Cholesky factor R of Σ = R Rᵀ (the form the
/// Bures–Wasserstein flows integrate, paper 002 Appendix I.2). Immutable.
/// </summary>
public sealed class Gaussian
{
    private readonly double[] _mean;
    private readonly double[] _factor; // d×d row-major, lower triangular, positive diagonal

    private Gaussian(double[] mean, double[] factor)
    {
        _mean = mean;
        _factor = factor;
    }

    /// <summary>N(m, R Rᵀ) from a mean and a lower-triangular factor with a positive diagonal (the upper triangle is ignored).</summary>
    /// <exception cref="ArgumentException">Sizes disagree, a value is not finite, or a diagonal entry of R is not positive.</exception>
    public static Gaussian FromCholesky(ReadOnlySpan<double> mean, ReadOnlySpan<double> factor)
    {
        int d = mean.Length;
        if (d == 0) throw new ArgumentException("a Gaussian needs dimension ≥ 1.");
        if (factor.Length != d * d) throw new ArgumentException($"the factor must hold d×d = {d * d} numbers, got {factor.Length}.");
        var r = new double[d * d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j <= i; j++)
                r[i * d + j] = factor[i * d + j];
        for (int i = 0; i < d; i++)
            if (!(r[i * d + i] > 0)) throw new ArgumentException($"the Cholesky factor's diagonal entry {i} is {r[i * d + i]}, not > 0.");
        if (!TensorPrimitives.IsFiniteAll<double>(mean) || !TensorPrimitives.IsFiniteAll<double>(r))
            throw new ArgumentException("the mean and the factor must be finite.");
        return new Gaussian(mean.ToArray(), r);
    }

    /// <summary>N(m, Σ) from a symmetric positive-definite covariance (d×d row-major).</summary>
    /// <exception cref="ArgumentException">Σ is not positive definite or sizes disagree.</exception>
    public static Gaussian FromCovariance(ReadOnlySpan<double> mean, ReadOnlySpan<double> covariance)
    {
        int d = mean.Length;
        if (covariance.Length != d * d) throw new ArgumentException($"the covariance must hold d×d = {d * d} numbers, got {covariance.Length}.");
        double[] r = covariance.ToArray();
        if (!Dense.TryCholesky(r, d)) throw new ArgumentException("the covariance is not positive definite.");
        return FromCholesky(mean, r);
    }

    /// <summary>N(m, v I).</summary>
    public static Gaussian Isotropic(ReadOnlySpan<double> mean, double variance)
    {
        if (!(variance > 0) || !double.IsFinite(variance)) throw new ArgumentException($"the variance must be > 0 and finite, got {variance}.");
        int d = mean.Length;
        var r = new double[d * d];
        for (int i = 0; i < d; i++) r[i * d + i] = Math.Sqrt(variance);
        return FromCholesky(mean, r);
    }

    /// <summary>d.</summary>
    public int Dimension => _mean.Length;

    /// <summary>The mean m.</summary>
    public ReadOnlySpan<double> Mean => _mean;

    /// <summary>The lower-triangular factor R of Σ = R Rᵀ (d×d row-major).</summary>
    public ReadOnlySpan<double> CholeskyFactor => _factor;

    /// <summary>Σ = R Rᵀ as a new d×d row-major array.</summary>
    public double[] Covariance()
    {
        var s = new double[_factor.Length];
        Dense.LowerTimesTranspose(_factor, Dimension, s);
        return s;
    }

    /// <summary>log det Σ = 2 Σ log R_ii.</summary>
    public double LogDeterminant => Dense.LogDeterminantFromCholesky(_factor, Dimension);

    /// <summary>Differential entropy H(p) = (d/2)(1 + log 2π) + ½ log det Σ.</summary>
    public double Entropy => 0.5 * Dimension * (1.0 + Math.Log(2 * Math.PI)) + 0.5 * LogDeterminant;

    /// <summary>Writes m + R ξ with ξ ~ N(0, I) into <paramref name="destination"/>.</summary>
    public void Sample(Xoshiro256StarStar rng, Span<double> destination)
    {
        ArgumentNullException.ThrowIfNull(rng);
        int d = Dimension;
        Span<double> xi = d <= 256 ? stackalloc double[d] : new double[d];
        rng.FillStandardNormal(xi);
        Dense.MultiplyLower(_factor, d, xi, destination);
        TensorPrimitives.Add(destination, _mean, destination);
    }

    /// <summary>log N(x; m, Σ).</summary>
    public double LogDensity(ReadOnlySpan<double> x)
    {
        int d = Dimension;
        if (x.Length != d) throw new ArgumentException($"expected a point of dimension {d}, got {x.Length}.");
        Span<double> z = d <= 256 ? stackalloc double[d] : new double[d];
        TensorPrimitives.Subtract(x, _mean, z);
        Dense.SolveLower(_factor, d, z, z);
        return -0.5 * (d * Math.Log(2 * Math.PI) + LogDeterminant + LinearAlgebra.Reductions.SumOfSquares(z));
    }

    /// <summary>
    /// The squared 2-Wasserstein distance between Gaussians (paper 002, Eq 5):
    /// ‖m₁ − m₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}.
    /// </summary>
    public static double W2Squared(Gaussian a, Gaussian b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        CheckSameDimension(a, b);
        int d = a.Dimension;
        double[] sa = a.Covariance(), sb = b.Covariance();
        var root = new double[d * d];
        Dense.SymmetricFunction(sa, d, v => Math.Sqrt(Math.Max(v, 0.0)), root);
        var tmp = new double[d * d];
        var middle = new double[d * d];
        Dense.Multiply(root, sb, d, tmp);
        Dense.Multiply(tmp, root, d, middle);
        // Symmetrise against round-off before the second matrix function.
        for (int i = 0; i < d; i++)
            for (int j = 0; j < i; j++)
                middle[i * d + j] = middle[j * d + i] = 0.5 * (middle[i * d + j] + middle[j * d + i]);
        Dense.SymmetricFunction(middle, d, v => Math.Sqrt(Math.Max(v, 0.0)), tmp);
        double cross = 0, traces = 0;
        for (int i = 0; i < d; i++)
        {
            cross += tmp[i * d + i];
            traces += sa[i * d + i] + sb[i * d + i];
        }
        double meanPart = 0;
        for (int i = 0; i < d; i++) meanPart += (a._mean[i] - b._mean[i]) * (a._mean[i] - b._mean[i]);
        return Math.Max(0.0, meanPart + traces - 2 * cross);
    }

    /// <summary>KL(a‖b) = ½[tr(Σ_b⁻¹Σ_a) + (m_b − m_a)ᵀΣ_b⁻¹(m_b − m_a) − d + log det Σ_b − log det Σ_a].</summary>
    public static double Kl(Gaussian a, Gaussian b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        CheckSameDimension(a, b);
        int d = a.Dimension;
        // tr(Σ_b⁻¹ Σ_a) = ‖R_b⁻¹ R_a‖_F²: solve column by column.
        var column = new double[d];
        double trace = 0;
        for (int j = 0; j < d; j++)
        {
            for (int i = 0; i < d; i++) column[i] = a._factor[i * d + j];
            Dense.SolveLower(b._factor, d, column, column);
            trace += LinearAlgebra.Reductions.SumOfSquares(column);
        }
        TensorPrimitives.Subtract(b._mean, a._mean, column);
        Dense.SolveLower(b._factor, d, column, column);
        double mahalanobis = LinearAlgebra.Reductions.SumOfSquares(column);
        return 0.5 * (trace + mahalanobis - d + b.LogDeterminant - a.LogDeterminant);
    }

    private static void CheckSameDimension(Gaussian a, Gaussian b)
    {
        if (a.Dimension != b.Dimension)
            throw new ArgumentException($"the Gaussians have dimensions {a.Dimension} and {b.Dimension}.");
    }
}
