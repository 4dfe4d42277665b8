using System.Numerics.Tensors;
using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;

namespace Wasserflow.Families;

/// <summary>
/// A mixture p = Σ_k w_k N(m_k, R_k R_kᵀ) of K full-covariance Gaussian particles (paper 002, Section 5.2), with
/// uniform weights or the Wasserstein–Fisher–Rao weights of its Appendix H. Densities and scores are computed in log
/// space (log-sum-exp responsibilities). Immutable.
/// </summary>
public sealed class GaussianMixture
{
    private readonly double[] _means;    // K×d
    private readonly double[] _factors;  // K×d×d lower-triangular Cholesky factors
    private readonly double[] _weights;  // K
    private readonly FullMixtureKernel _kernel;

    /// <summary>A mixture from means (K×d), Cholesky factors (K×d×d, lower triangular) and weights (K; null for uniform).</summary>
    /// <exception cref="ArgumentException">Sizes disagree, a weight is negative or they do not sum to 1, or a factor is invalid.</exception>
    public GaussianMixture(ReadOnlySpan<double> means, ReadOnlySpan<double> factors, ReadOnlySpan<double> weights, int components)
    {
        if (components < 1) throw new ArgumentException($"a mixture needs at least one component, got {components}.");
        if (means.Length == 0 || means.Length % components != 0)
            throw new ArgumentException($"means must hold K×d numbers for K = {components}, got {means.Length}.");
        int d = means.Length / components;
        if (factors.Length != components * d * d)
            throw new ArgumentException($"factors must hold K×d×d = {components * d * d} numbers, got {factors.Length}.");
        _weights = new double[components];
        if (weights.IsEmpty) _weights.AsSpan().Fill(1.0 / components);
        else
        {
            if (weights.Length != components) throw new ArgumentException($"expected {components} weights, got {weights.Length}.");
            weights.CopyTo(_weights);
            foreach (double w in _weights)
                if (!(w >= 0) || !double.IsFinite(w)) throw new ArgumentException($"weights must be finite and ≥ 0, got {w}.");
            double sum = LinearAlgebra.Reductions.Sum(_weights);
            if (Math.Abs(sum - 1.0) > 1e-9) throw new ArgumentException($"weights must sum to 1, got {sum}.");
        }
        _means = means.ToArray();
        _factors = factors.ToArray();
        for (int k = 0; k < components; k++)
            _ = Gaussian.FromCholesky(_means.AsSpan(k * d, d), _factors.AsSpan(k * d * d, d * d)); // validates
        ComponentCount = components;
        Dimension = d;
        _kernel = new FullMixtureKernel(components, d);
        if (!_kernel.Prepare(_means, _factors, _weights))
            throw new ArgumentException("a component's Cholesky factor is singular.");
    }

    /// <summary>K.</summary>
    public int ComponentCount { get; }

    /// <summary>d.</summary>
    public int Dimension { get; }

    /// <summary>The weights w_k.</summary>
    public ReadOnlySpan<double> Weights => _weights;

    /// <summary>Means, K×d row-major.</summary>
    public ReadOnlySpan<double> Means => _means;

    /// <summary>Component k as a <see cref="Gaussian"/>.</summary>
    public Gaussian Component(int k) =>
        Gaussian.FromCholesky(_means.AsSpan(k * Dimension, Dimension), _factors.AsSpan(k * Dimension * Dimension, Dimension * Dimension));

    /// <summary>log p(x).</summary>
    public double LogDensity(ReadOnlySpan<double> x)
    {
        CheckDimension(x);
        int n = FullMixtureKernel.ScratchLength(ComponentCount, Dimension);
        Span<double> scratch = n <= 512 ? stackalloc double[n] : new double[n];
        return _kernel.LogDensityAndScore(x, Span<double>.Empty, scratch);
    }

    /// <summary>Writes ∇log p(x) into <paramref name="score"/> and returns log p(x).</summary>
    public double LogDensityAndScore(ReadOnlySpan<double> x, Span<double> score)
    {
        CheckDimension(x);
        if (score.Length != Dimension) throw new ArgumentException($"the score buffer must have length {Dimension}.");
        int n = FullMixtureKernel.ScratchLength(ComponentCount, Dimension);
        Span<double> scratch = n <= 512 ? stackalloc double[n] : new double[n];
        return _kernel.LogDensityAndScore(x, score, scratch);
    }

    /// <summary>Draws one point: a component by weight, then m_k + R_k ξ.</summary>
    public void Sample(Xoshiro256StarStar rng, Span<double> destination)
    {
        ArgumentNullException.ThrowIfNull(rng);
        double u = rng.NextDouble(), acc = 0;
        int k = 0;
        for (; k < ComponentCount - 1; k++)
        {
            acc += _weights[k];
            if (u < acc) break;
        }
        SampleComponent(k, rng, destination);
    }

    /// <summary>Draws one point from component <paramref name="k"/>.</summary>
    public void SampleComponent(int k, Xoshiro256StarStar rng, Span<double> destination)
    {
        ArgumentNullException.ThrowIfNull(rng);
        int d = Dimension;
        Span<double> xi = d <= 256 ? stackalloc double[d] : new double[d];
        rng.FillStandardNormal(xi);
        Dense.MultiplyLower(_factors.AsSpan(k * d * d, d * d), d, xi, destination);
        TensorPrimitives.Add(destination, _means.AsSpan(k * d, d), destination);
    }

    /// <summary>The mixture mean Σ w_k m_k.</summary>
    public double[] Mean()
    {
        var mean = new double[Dimension];
        for (int k = 0; k < ComponentCount; k++)
            TensorPrimitives.MultiplyAdd(_means.AsSpan(k * Dimension, Dimension), _weights[k], mean, mean);
        return mean;
    }

    /// <summary>The mixture covariance Σ w_k (Σ_k + m_k m_kᵀ) − m̄ m̄ᵀ (d×d row-major).</summary>
    public double[] Covariance()
    {
        int d = Dimension;
        double[] mean = Mean(), cov = new double[d * d], sk = new double[d * d];
        for (int k = 0; k < ComponentCount; k++)
        {
            Dense.LowerTimesTranspose(_factors.AsSpan(k * d * d, d * d), d, sk);
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++)
                    cov[i * d + j] += _weights[k] * (sk[i * d + j] + _means[k * d + i] * _means[k * d + j]);
        }
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
                cov[i * d + j] -= mean[i] * mean[j];
        return cov;
    }

    /// <summary>The 1-D marginal density of coordinate <paramref name="coordinate"/> at <paramref name="value"/>.</summary>
    public double MarginalDensity(int coordinate, double value)
    {
        int d = Dimension;
        double s = 0;
        for (int k = 0; k < ComponentCount; k++)
        {
            ReadOnlySpan<double> row = _factors.AsSpan(k * d * d + coordinate * d, coordinate + 1);
            double v = LinearAlgebra.Reductions.SumOfSquares(row);
            double diff = value - _means[k * d + coordinate];
            s += _weights[k] * Math.Exp(-0.5 * diff * diff / v) / Math.Sqrt(2 * Math.PI * v);
        }
        return s;
    }

    private void CheckDimension(ReadOnlySpan<double> x)
    {
        if (x.Length != Dimension) throw new ArgumentException($"expected a point of dimension {Dimension}, got {x.Length}.");
    }
}

/// <summary>
/// The log density and score of a full-covariance Gaussian mixture in log space, with per-component inverse Cholesky
/// factors prepared once per parameter set. Shared by <see cref="GaussianMixture"/> and the particle flow's hot loop.
/// </summary>
internal sealed class FullMixtureKernel
{
    private readonly int _k, _d;
    private readonly double[] _means, _inverseFactors, _logNormalisers;

    public FullMixtureKernel(int components, int dimension)
    {
        _k = components;
        _d = dimension;
        _means = new double[components * dimension];
        _inverseFactors = new double[components * dimension * dimension];
        _logNormalisers = new double[components];
    }

    /// <summary>Scratch doubles <see cref="LogDensityAndScore"/> needs.</summary>
    public static int ScratchLength(int components, int dimension) => components + components * dimension + 2 * dimension;

    /// <summary>Takes the parameters; false when a factor's diagonal is not positive (the parameters are invalid).</summary>
    public bool Prepare(ReadOnlySpan<double> means, ReadOnlySpan<double> factors, ReadOnlySpan<double> weights)
    {
        int d = _d;
        means[..(_k * d)].CopyTo(_means);
        double halfLog2Pi = 0.5 * d * Math.Log(2 * Math.PI);
        for (int k = 0; k < _k; k++)
        {
            ReadOnlySpan<double> r = factors.Slice(k * d * d, d * d);
            double logDet = 0;
            for (int i = 0; i < d; i++)
            {
                double rii = r[i * d + i];
                if (!(rii > 0) || !double.IsFinite(rii)) return false;
                logDet += Math.Log(rii);
            }
            Dense.InvertLower(r, d, _inverseFactors.AsSpan(k * d * d, d * d));
            _logNormalisers[k] = Math.Log(weights[k]) - halfLog2Pi - logDet;
        }
        return true;
    }

    /// <summary>
    /// Returns log p(x) and, when <paramref name="score"/> is not empty, writes ∇log p(x) = −Σ_k ρ_k Σ_k⁻¹(x − m_k)
    /// with responsibilities ρ_k from log-sum-exp. <paramref name="scratch"/> needs <see cref="ScratchLength"/> doubles.
    /// </summary>
    public double LogDensityAndScore(ReadOnlySpan<double> x, Span<double> score, Span<double> scratch)
    {
        int d = _d;
        Span<double> logTerms = scratch[.._k];
        Span<double> z = scratch.Slice(_k, _k * d);           // R_k⁻¹(x − m_k)
        Span<double> diff = scratch.Slice(_k + _k * d, d);
        double max = double.NegativeInfinity;
        for (int k = 0; k < _k; k++)
        {
            TensorPrimitives.Subtract(x, _means.AsSpan(k * d, d), diff);
            Span<double> zk = z.Slice(k * d, d);
            ReadOnlySpan<double> inv = _inverseFactors.AsSpan(k * d * d, d * d);
            for (int i = 0; i < d; i++)
                zk[i] = LinearAlgebra.Reductions.Dot(inv.Slice(i * d, i + 1), diff[..(i + 1)]);
            logTerms[k] = _logNormalisers[k] - 0.5 * LinearAlgebra.Reductions.SumOfSquares(zk);
            if (logTerms[k] > max) max = logTerms[k];
        }
        double sum = 0;
        for (int k = 0; k < _k; k++) sum += VectorKernels.ExpFlushed(logTerms[k] - max);
        double logP = max + Math.Log(sum);
        if (score.IsEmpty) return logP;
        score.Clear();
        Span<double> w = scratch.Slice(_k + _k * d + d, d);
        for (int k = 0; k < _k; k++)
        {
            double rho = VectorKernels.ExpFlushed(logTerms[k] - logP);
            if (rho == 0.0) continue;
            // Σ_k⁻¹(x − m_k) = R_k⁻ᵀ z_k.
            ReadOnlySpan<double> inv = _inverseFactors.AsSpan(k * d * d, d * d);
            ReadOnlySpan<double> zk = z.Slice(k * d, d);
            w.Clear();
            for (int i = 0; i < d; i++)
                TensorPrimitives.MultiplyAdd(inv.Slice(i * d, i + 1), zk[i], w[..(i + 1)], w[..(i + 1)]);
            TensorPrimitives.MultiplyAdd(w, -rho, score, score);
        }
        return logP;
    }
}
