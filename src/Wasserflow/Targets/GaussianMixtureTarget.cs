using System.Buffers;
using System.Numerics.Tensors;
using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;

namespace Wasserflow.Targets;

/// <summary>How the covariance matrices of a Gaussian mixture are parameterised.</summary>
public enum CovarianceKind
{
    /// <summary>Σ = σ² I: one variance per component.</summary>
    Isotropic,
    /// <summary>Σ = diag(σ₁², …, σ_d²).</summary>
    Diagonal,
    /// <summary>A full symmetric positive-definite matrix, held as its Cholesky factor.</summary>
    Full,
}

/// <summary>
/// A normalised Gaussian mixture pi(x) = Σ_k w_k N(x; μ_k, Σ_k) in any dimension with any weights, and isotropic,
/// diagonal or full covariances. Densities and gradients are computed in log space (log-sum-exp over components), so
/// nothing underflows far from the modes.
/// </summary>
/// <remarks>
/// The log density is exactly normalised, so <see cref="LogNormalizer"/> is 0 and KL estimates against it are true KL
/// divergences. Cost per point: O(K d) for isotropic and diagonal covariances, O(K d²) for full ones.
/// </remarks>
public sealed class GaussianMixtureTarget : ITargetWithHessian, IBatchedTarget
{
    private readonly double[] _logWeights;
    private readonly double[] _means;      // K×d
    private readonly double[] _covariance; // iso: K; diag: K×d variances; full: K×d×d Cholesky factors
    private readonly double[] _logNormalisers; // −½ log det(2π Σ_k) + log w_k
    private double[]? _precisions;             // full kind: K×d×d Σ_k⁻¹, built on first use
    private double[]? _precisionColumns;       // full kind: [Σ_1⁻¹ … Σ_K⁻¹], d × K·d, built on the first batch
    private double[]? _precisionMeans;         // full kind: Σ_k⁻¹ μ_k, K×d
    private double[]? _inverseVariances;       // other kinds: 1/σ²_ki, K×d, built on the first batch

    // Per-thread work buffers of the batched path, so that concurrent chunks never share them.
    [ThreadStatic] private static double[]? t_terms;
    [ThreadStatic] private static double[]? t_projected;

    private GaussianMixtureTarget(string name, int dimension, CovarianceKind kind, double[] weights, double[] means, double[] covariance)
    {
        Name = name;
        Dimension = dimension;
        Kind = kind;
        ComponentCount = weights.Length;
        Weights = weights;
        _means = means;
        _logWeights = weights.Select(w => Math.Log(w)).ToArray();
        _covariance = covariance;
        _logNormalisers = new double[ComponentCount];
        for (int k = 0; k < ComponentCount; k++)
        {
            double logDet = kind switch
            {
                CovarianceKind.Isotropic => dimension * Math.Log(covariance[k]),
                CovarianceKind.Diagonal => SumLog(covariance.AsSpan(k * dimension, dimension)),
                _ => Dense.LogDeterminantFromCholesky(covariance.AsSpan(k * dimension * dimension, dimension * dimension), dimension),
            };
            _logNormalisers[k] = _logWeights[k] - 0.5 * (dimension * Math.Log(2 * Math.PI) + logDet);
        }
    }

    /// <inheritdoc/>
    public int Dimension { get; }

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>0: the mixture density is normalised.</summary>
    public double? LogNormalizer => 0.0;

    /// <summary>Number of components K.</summary>
    public int ComponentCount { get; }

    /// <summary>How the covariances are parameterised.</summary>
    public CovarianceKind Kind { get; }

    /// <summary>Component weights (sum to 1).</summary>
    public IReadOnlyList<double> Weights { get; }

    /// <summary>Mean of component k.</summary>
    public ReadOnlySpan<double> ComponentMean(int k) => _means.AsSpan(k * Dimension, Dimension);

    /// <summary>The dense covariance matrix of component k (d×d row-major, a new array).</summary>
    public double[] ComponentCovariance(int k)
    {
        int d = Dimension;
        var c = new double[d * d];
        switch (Kind)
        {
            case CovarianceKind.Isotropic:
                for (int i = 0; i < d; i++) c[i * d + i] = _covariance[k];
                break;
            case CovarianceKind.Diagonal:
                for (int i = 0; i < d; i++) c[i * d + i] = _covariance[k * d + i];
                break;
            default:
                ReadOnlySpan<double> l = _covariance.AsSpan(k * d * d, d * d);
                for (int i = 0; i < d; i++)
                    for (int j = 0; j <= i; j++)
                    {
                        double s = 0;
                        for (int m = 0; m <= j; m++) s += l[i * d + m] * l[j * d + m];
                        c[i * d + j] = s;
                        c[j * d + i] = s;
                    }
                break;
        }
        return c;
    }

    /// <summary>Variance of coordinate <paramref name="coordinate"/> in component k (Σ_k)_ii.</summary>
    public double ComponentVariance(int k, int coordinate)
    {
        int d = Dimension;
        switch (Kind)
        {
            case CovarianceKind.Isotropic: return _covariance[k];
            case CovarianceKind.Diagonal: return _covariance[k * d + coordinate];
            default:
                ReadOnlySpan<double> row = _covariance.AsSpan(k * d * d + coordinate * d, coordinate + 1);
                return LinearAlgebra.Reductions.SumOfSquares(row);
        }
    }

    /// <summary>
    /// A mixture from weights (any positive numbers, normalised here), means (K×d row-major) and covariances.
    /// </summary>
    /// <param name="weights">K positive weights.</param>
    /// <param name="means">K×d means, row-major.</param>
    /// <param name="kind">The covariance parameterisation.</param>
    /// <param name="covariances">Isotropic: K variances; diagonal: K×d variances; full: K×d×d symmetric positive-definite matrices.</param>
    /// <param name="name">Name for messages and reports.</param>
    /// <exception cref="ArgumentException">Sizes disagree, a weight is not positive, or a covariance is not positive definite (the message names the component).</exception>
    public static GaussianMixtureTarget Create(ReadOnlySpan<double> weights, ReadOnlySpan<double> means, CovarianceKind kind,
        ReadOnlySpan<double> covariances, string name = "gaussian-mixture")
    {
        int k = weights.Length;
        if (k == 0) throw new ArgumentException("A mixture needs at least one component.", nameof(weights));
        if (means.Length % k != 0 || means.Length == 0)
            throw new ArgumentException($"means has {means.Length} entries, not a multiple of the {k} components.", nameof(means));
        int d = means.Length / k;
        int expected = kind switch { CovarianceKind.Isotropic => k, CovarianceKind.Diagonal => k * d, _ => k * d * d };
        if (covariances.Length != expected)
            throw new ArgumentException($"{kind} covariances for {k} components in dimension {d} need {expected} numbers, not {covariances.Length}.", nameof(covariances));
        double total = 0;
        for (int i = 0; i < k; i++)
        {
            if (!(weights[i] > 0) || !double.IsFinite(weights[i]))
                throw new ArgumentException($"weight of component {i} is {weights[i]}; weights must be positive and finite.", nameof(weights));
            total += weights[i];
        }
        if (!TargetEvaluator.AllFinite(means))
            throw new ArgumentException("means contain a non-finite value.", nameof(means));
        double[] w = new double[k];
        for (int i = 0; i < k; i++) w[i] = weights[i] / total;
        double[] cov = covariances.ToArray();
        if (kind == CovarianceKind.Full)
        {
            for (int i = 0; i < k; i++)
                if (!Dense.TryCholesky(cov.AsSpan(i * d * d, d * d), d))
                    throw new ArgumentException($"covariance of component {i} is not positive definite.", nameof(covariances));
        }
        else
        {
            for (int i = 0; i < cov.Length; i++)
                if (!(cov[i] > 0) || !double.IsFinite(cov[i]))
                    throw new ArgumentException($"variance {cov[i]} of component {(kind == CovarianceKind.Isotropic ? i : i / d)} is not positive and finite.", nameof(covariances));
        }
        return new GaussianMixtureTarget(name, d, kind, w, means.ToArray(), cov);
    }

    /// <summary>The 4-mode 2-D target with unequal weights used for the particle-count and WFR comparison.</summary>
    public static GaussianMixtureTarget FourModes()
    {
        static double[] Rotated(double angle, double big, double small)
        {
            double c = Math.Cos(angle), s = Math.Sin(angle);
            return [c * c * big + s * s * small, c * s * (big - small), c * s * (big - small), s * s * big + c * c * small];
        }
        double[] covariances = [.. Rotated(0.3, 1.2, 0.3), .. Rotated(-0.8, 1.0, 0.4), .. Rotated(1.2, 0.8, 0.2), .. Rotated(0.0, 0.6, 0.6)];
        return GaussianMixtureTarget.Create([0.4, 0.3, 0.2, 0.1], [-3, -2, 3, -2.5, -2, 3, 3, 2.5], CovarianceKind.Full, covariances, "four-modes");
    }

    /// <summary>
    /// The bimodal 2-D target of paper 002, Appendix I.1.1 [Lambert2022]: ½N(μ₁, Σ₁) + ½N(μ₂, Σ₂) with covariances of
    /// eigenvalue ratio 3. The paper gives no numbers; ours: μ = (∓2, 0), eigenvalues 1.5 and 0.5, principal axes at
    /// +45° and −45°.
    /// </summary>
    public static GaussianMixtureTarget Bimodal()
    {
        static double[] Rotated(double angle)
        {
            double c = Math.Cos(angle), s = Math.Sin(angle), big = 1.5, small = 0.5;
            return [c * c * big + s * s * small, c * s * (big - small), c * s * (big - small), s * s * big + c * c * small];
        }
        double[] cov1 = Rotated(Math.PI / 4), cov2 = Rotated(-Math.PI / 4);
        return Create([0.5, 0.5], [-2.0, 0.0, 2.0, 0.0], CovarianceKind.Full, [.. cov1, .. cov2], "bimodal");
    }

    /// <summary>A single Gaussian N(mean, covariance) with a full covariance (d×d row-major).</summary>
    public static GaussianMixtureTarget Gaussian(ReadOnlySpan<double> mean, ReadOnlySpan<double> covariance, string name = "gaussian") =>
        Create([1.0], mean, CovarianceKind.Full, covariance, name);

    /// <summary>
    /// The random mixture of paper 000, Appendix E.2 [PetitTalamon2025]: raw weights uniform in {1, …, 2K} then
    /// normalised, means uniform in [−spread, spread]^d, and covariances scaled by <paramref name="scale"/>.
    /// </summary>
    /// <remarks>
    /// Covariances (our reading of E.2, which leaves the distributions open): isotropic, scale·I; diagonal, entries
    /// uniform in (1, 10) rescaled so the largest equals scale; full, U diag(1 + u) Uᵀ with U a random orthogonal
    /// matrix and u uniform in (0, 1)^d (scikit-learn's make_spd_matrix spectrum), rescaled so its largest entry
    /// equals scale, plus 1e-6 I. We do not use A Aᵀ with a Gaussian A: its smallest eigenvalue is often 10⁻²–10⁻⁴
    /// of the largest, and then the paper's step sizes are unstable on the thin components (γ·λmax(Σ⁻¹) &gt; 2).
    /// The same rng state gives the same mixture.
    /// </remarks>
    public static GaussianMixtureTarget Random(Xoshiro256StarStar rng, int dimension, int components, double spread,
        double scale, CovarianceKind kind)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(components, 1);
        if (!(spread >= 0) || !double.IsFinite(spread)) throw new ArgumentOutOfRangeException(nameof(spread), spread, "spread must be ≥ 0 and finite.");
        if (!(scale > 0) || !double.IsFinite(scale)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "scale must be > 0 and finite.");
        int d = dimension;
        var weights = new double[components];
        for (int k = 0; k < components; k++) weights[k] = 1 + rng.NextInt(2 * components);
        var means = new double[components * d];
        for (int i = 0; i < means.Length; i++) means[i] = rng.NextDouble(-spread, spread);
        return Create(weights, means, kind, RandomCovariances(rng, d, components, scale, kind), "gaussian-mixture");
    }

    /// <summary>
    /// The 2-D mixtures of paper 000's Figure 6c [PetitTalamon2025] (Table 1 rows (c-1)–(c-3)): four components with means
    /// at (±pt, ±pt), covariances drawn as <see cref="Random"/> draws them and scaled by <paramref name="scale"/>, equal
    /// weights, or with <paramref name="firstWeight"/> &gt; 0 the first component (at (pt, pt)) weighted so and the other
    /// three sharing the rest equally ((c-3): 0.1).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">pt or the scale not positive, or the first weight outside [0, 1).</exception>
    public static GaussianMixtureTarget Corners(Xoshiro256StarStar rng, double corner, double scale, CovarianceKind kind, double firstWeight = 0)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (!(corner > 0) || !double.IsFinite(corner)) throw new ArgumentOutOfRangeException(nameof(corner), corner, "pt must be > 0 and finite.");
        if (!(scale > 0) || !double.IsFinite(scale)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "scale must be > 0 and finite.");
        if (!(firstWeight >= 0 && firstWeight < 1)) throw new ArgumentOutOfRangeException(nameof(firstWeight), firstWeight, "the first weight must be in [0, 1).");
        double[] means = [corner, corner, corner, -corner, -corner, corner, -corner, -corner];
        double[] weights = firstWeight > 0 ? [firstWeight, (1 - firstWeight) / 3, (1 - firstWeight) / 3, (1 - firstWeight) / 3] : [0.25, 0.25, 0.25, 0.25];
        return Create(weights, means, kind, RandomCovariances(rng, 2, 4, scale, kind), "corner-mixture");
    }

    // Covariances of random mixtures, as the remarks of Random describe.
    private static double[] RandomCovariances(Xoshiro256StarStar rng, int d, int components, double scale, CovarianceKind kind)
    {
        double[] cov;
        switch (kind)
        {
            case CovarianceKind.Isotropic:
                cov = Enumerable.Repeat(scale, components).ToArray();
                break;
            case CovarianceKind.Diagonal:
                cov = new double[components * d];
                for (int k = 0; k < components; k++)
                {
                    Span<double> row = cov.AsSpan(k * d, d);
                    for (int i = 0; i < d; i++) row[i] = rng.NextDouble(1, 10);
                    TensorPrimitives.Multiply(row, scale / TensorPrimitives.Max(row), row);
                }
                break;
            default:
                cov = new double[components * d * d];
                var basis = new double[d * d];
                var spectrum = new double[d];
                for (int k = 0; k < components; k++)
                {
                    // Σ = U diag(λ) Uᵀ with U a random orthogonal matrix (Gram–Schmidt on standard normals) and
                    // λ_i = 1 + u_i, u_i uniform in (0, 1): the spectrum of scikit-learn's make_spd_matrix, so the
                    // condition number stays below 2 before scaling.
                    RandomOrthogonal(rng, basis, d);
                    for (int i = 0; i < d; i++) spectrum[i] = 1 + rng.NextDouble();
                    Span<double> c = cov.AsSpan(k * d * d, d * d);
                    for (int i = 0; i < d; i++)
                        for (int j = 0; j < d; j++)
                        {
                            double sum = 0;
                            for (int m = 0; m < d; m++) sum += basis[m * d + i] * spectrum[m] * basis[m * d + j];
                            c[i * d + j] = sum;
                        }
                    TensorPrimitives.Multiply(c, scale / TensorPrimitives.Max(c), c);
                    for (int i = 0; i < d; i++) c[i * d + i] += 1e-6;
                }
                break;
        }
        return cov;
    }

    // Rows of q become an orthonormal basis: Gram–Schmidt (twice, for accuracy) on standard normal rows.
    private static void RandomOrthogonal(Xoshiro256StarStar rng, Span<double> q, int d)
    {
        rng.FillStandardNormal(q);
        for (int i = 0; i < d; i++)
        {
            Span<double> row = q.Slice(i * d, d);
            for (int pass = 0; pass < 2; pass++)
                for (int j = 0; j < i; j++)
                    TensorPrimitives.MultiplyAdd(q.Slice(j * d, d), -LinearAlgebra.Reductions.Dot(row, q.Slice(j * d, d)), row, row);
            TensorPrimitives.Divide(row, LinearAlgebra.Reductions.Norm(row), row);
        }
    }

    /// <inheritdoc/>
    public double LogDensity(ReadOnlySpan<double> x)
    {
        CheckDimension(x);
        double[] rented = ArrayPool<double>.Shared.Rent(ComponentCount + Dimension);
        try
        {
            Span<double> logTerms = rented.AsSpan(0, ComponentCount);
            Span<double> z = rented.AsSpan(ComponentCount, Dimension);
            for (int k = 0; k < ComponentCount; k++)
                logTerms[k] = _logNormalisers[k] - 0.5 * Mahalanobis(k, x, z, gradient: false);
            return LogSumExp(logTerms);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Writes the posterior component probabilities r_k(x) = w_k N_k(x)/π(x) (the responsibilities, summing to 1) into
    /// <paramref name="responsibilities"/> (length K).
    /// </summary>
    public void Responsibilities(ReadOnlySpan<double> x, Span<double> responsibilities)
    {
        CheckDimension(x);
        if (responsibilities.Length < ComponentCount) throw new ArgumentException($"need room for {ComponentCount} responsibilities.");
        Span<double> z = Dimension <= 64 ? stackalloc double[Dimension] : new double[Dimension];
        Span<double> logTerms = responsibilities[..ComponentCount];
        for (int k = 0; k < ComponentCount; k++)
            logTerms[k] = _logNormalisers[k] - 0.5 * Mahalanobis(k, x, z, gradient: false);
        double total = LogSumExp(logTerms);
        for (int k = 0; k < ComponentCount; k++) logTerms[k] = Math.Exp(logTerms[k] - total);
    }

    /// <inheritdoc/>
    public double LogDensityAndGradient(ReadOnlySpan<double> x, Span<double> gradient)
    {
        CheckDimension(x);
        int d = Dimension, kCount = ComponentCount;
        int size = kCount + kCount * d;
        if (size <= 256)
            return LogDensityAndGradient(x, gradient, stackalloc double[size]);
        double[] rented = ArrayPool<double>.Shared.Rent(size);
        try
        {
            return LogDensityAndGradient(x, gradient, rented);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }

    private double LogDensityAndGradient(ReadOnlySpan<double> x, Span<double> gradient, Span<double> work)
    {
        int d = Dimension, kCount = ComponentCount;
        Span<double> logTerms = work[..kCount];
        for (int k = 0; k < kCount; k++)
        {
            // z_k ← Σ_k⁻¹ (x − μ_k): the component's gradient is −z_k.
            Span<double> z = work.Slice(kCount + k * d, d);
            logTerms[k] = _logNormalisers[k] - 0.5 * Mahalanobis(k, x, z, gradient: true);
        }
        double logPi = LogSumExp(logTerms);
        gradient.Clear();
        for (int k = 0; k < kCount; k++)
        {
            double responsibility = VectorKernels.ExpFlushed(logTerms[k] - logPi);
            if (responsibility == 0.0) continue;
            Span<double> z = work.Slice(kCount + k * d, d);
            for (int i = 0; i < d; i++) gradient[i] -= responsibility * z[i];
        }
        return logPi;
    }

    /// <inheritdoc/>
    /// <remarks>
    /// All points at once, in three phases: the K log terms of every point, one softmax over the whole block (a single
    /// vectorised exp), then the gradients ∇log pi(x_p) = Σ_k ρ_pk Σ_k⁻¹(μ_k − x_p). Isotropic and diagonal
    /// covariances use fused O(K·d) row kernels. Full covariances use one blocked product for all points and
    /// components, Y = X·[Σ_1⁻¹ … Σ_K⁻¹] (count × K·d, O(count·K·d²) flops), then u_pk = y_pk − Σ_k⁻¹μ_k = Σ_k⁻¹(x_p − μ_k)
    /// and the quadratic form (x_p − μ_k)ᵀu_pk in one fused pass.
    /// </remarks>
    public void LogDensityAndGradientBatch(ReadOnlySpan<double> points, int count, Span<double> logDensities, Span<double> gradients)
    {
        int d = Dimension, kCount = ComponentCount;
        if (points.Length < count * d || logDensities.Length < count || gradients.Length < count * d)
            throw new ArgumentException("buffers are smaller than count × dimension.");
        double[] terms = Rent(ref t_terms, count * kCount);
        gradients = gradients[..(count * d)];
        if (Kind == CovarianceKind.Full)
        {
            (double[] precisionColumns, double[] precisionMeans) = PrecisionBlocks();
            double[] y = Rent(ref t_projected, count * kCount * d);
            Gemm.Multiply(points, d, 1, count, d, precisionColumns, kCount * d, y);
            for (int p = 0; p < count; p++)
            {
                ReadOnlySpan<double> x = points.Slice(p * d, d);
                for (int k = 0; k < kCount; k++)
                {
                    Span<double> u = y.AsSpan((p * kCount + k) * d, d);
                    terms[p * kCount + k] = _logNormalisers[k] - 0.5 * VectorKernels.ShiftAndDot(x, ComponentMean(k), u, precisionMeans.AsSpan(k * d, d), u);
                }
            }
            VectorKernels.SoftmaxRows(terms, count, kCount, logDensities);
            gradients.Clear();
            for (int p = 0; p < count; p++)
            {
                Span<double> g = gradients.Slice(p * d, d);
                for (int k = 0; k < kCount; k++)
                {
                    double rho = terms[p * kCount + k];
                    if (rho != 0.0) VectorKernels.AddScaled(g, -rho, y.AsSpan((p * kCount + k) * d, d));
                }
            }
            return;
        }
        double[] inverseVariances = InverseVariances();
        if (d <= LanesDimension)
        {
            DiagonalMixtureKernel.LogDensityAndGradient(points, count, d, _means, inverseVariances, isotropic: false, _logNormalisers, logDensities, gradients);
            return;
        }
        for (int p = 0; p < count; p++)
            VectorKernels.MixtureLogTerms(points.Slice(p * d, d), _means, inverseVariances, _logNormalisers, default, terms.AsSpan(p * kCount, kCount));
        VectorKernels.SoftmaxRows(terms, count, kCount, logDensities);
        gradients.Clear();
        for (int p = 0; p < count; p++)
        {
            ReadOnlySpan<double> x = points.Slice(p * d, d);
            Span<double> g = gradients.Slice(p * d, d);
            for (int k = 0; k < kCount; k++)
            {
                double rho = terms[p * kCount + k];
                if (rho != 0.0) VectorKernels.AddWeightedDifference(g, rho, inverseVariances.AsSpan(k * d, d), ComponentMean(k), x);
            }
        }
    }

    // Up to this dimension the diagonal and isotropic kinds evaluate four points per vector (DiagonalMixtureKernel):
    // measured per IBW step at d = 2 (5 components) about twice as fast as per-row kernels; at d = 20 no faster.
    private const int LanesDimension = 8;

    private static double[] Rent(ref double[]? buffer, int length)
    {
        if (buffer is null || buffer.Length < length) buffer = new double[length];
        return buffer;
    }

    // Isotropic and diagonal kinds: 1/σ²_ki as a K×d block (an isotropic row repeats its one value).
    private double[] InverseVariances()
    {
        if (_inverseVariances is not null) return _inverseVariances;
        int d = Dimension;
        var inverse = new double[ComponentCount * d];
        for (int k = 0; k < ComponentCount; k++)
            for (int i = 0; i < d; i++)
                inverse[k * d + i] = 1.0 / (Kind == CovarianceKind.Isotropic ? _covariance[k] : _covariance[k * d + i]);
        System.Threading.Volatile.Write(ref _inverseVariances, inverse);
        return inverse;
    }

    // Full kind: the precisions side by side, Q = [Σ_1⁻¹ … Σ_K⁻¹] (d × K·d, so X·Q gives every Σ_k⁻¹x_p), and Σ_k⁻¹μ_k (K×d).
    private (double[] Columns, double[] Means) PrecisionBlocks()
    {
        if (_precisionColumns is not null) return (_precisionColumns, _precisionMeans!);
        int d = Dimension, kCount = ComponentCount;
        double[] precisions = _precisions ??= BuildPrecisions();
        var columns = new double[d * kCount * d];
        var means = new double[kCount * d];
        for (int k = 0; k < kCount; k++)
        {
            ReadOnlySpan<double> block = precisions.AsSpan(k * d * d, d * d);
            for (int i = 0; i < d; i++)
            {
                block.Slice(i * d, d).CopyTo(columns.AsSpan(i * kCount * d + k * d, d));
                means[k * d + i] = LinearAlgebra.Reductions.Dot(block.Slice(i * d, d), ComponentMean(k));
            }
        }
        // Publish the means first: a thread that sees the columns also sees the means.
        _precisionMeans = means;
        System.Threading.Volatile.Write(ref _precisionColumns, columns);
        return (columns, means);
    }

    /// <inheritdoc/>
    /// <remarks>∇²log pi = Σ_k ρ_k (z_k z_kᵀ − Σ_k⁻¹) − g gᵀ with z_k = Σ_k⁻¹(x − μ_k), ρ_k the responsibilities and g = ∇log pi.
    /// Cost O(K d²) per point (the precisions of full covariances are formed once).</remarks>
    public double LogDensityGradientAndHessian(ReadOnlySpan<double> x, Span<double> gradient, Span<double> hessian)
    {
        CheckDimension(x);
        int d = Dimension, kCount = ComponentCount;
        if (gradient.Length != d || hessian.Length != d * d)
            throw new ArgumentException($"gradient and Hessian buffers must hold {d} and {d * d} numbers.");
        double[] precisions = Kind == CovarianceKind.Full ? (_precisions ??= BuildPrecisions()) : [];
        double[] work = new double[kCount + kCount * d];
        Span<double> logTerms = work.AsSpan(0, kCount);
        for (int k = 0; k < kCount; k++)
            logTerms[k] = _logNormalisers[k] - 0.5 * Mahalanobis(k, x, work.AsSpan(kCount + k * d, d), gradient: true);
        double logPi = LogSumExp(logTerms);
        gradient.Clear();
        hessian.Clear();
        for (int k = 0; k < kCount; k++)
        {
            double rho = VectorKernels.ExpFlushed(logTerms[k] - logPi);
            if (rho == 0.0) continue;
            ReadOnlySpan<double> z = work.AsSpan(kCount + k * d, d);
            for (int i = 0; i < d; i++)
            {
                gradient[i] -= rho * z[i];
                for (int j = 0; j < d; j++)
                {
                    double precision = Kind switch
                    {
                        CovarianceKind.Isotropic => i == j ? 1.0 / _covariance[k] : 0.0,
                        CovarianceKind.Diagonal => i == j ? 1.0 / _covariance[k * d + i] : 0.0,
                        _ => precisions[k * d * d + i * d + j],
                    };
                    hessian[i * d + j] += rho * (z[i] * z[j] - precision);
                }
            }
        }
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
                hessian[i * d + j] -= gradient[i] * gradient[j];
        return logPi;
    }

    private double[] BuildPrecisions()
    {
        int d = Dimension;
        var precisions = new double[ComponentCount * d * d];
        var column = new double[d];
        for (int k = 0; k < ComponentCount; k++)
        {
            ReadOnlySpan<double> l = _covariance.AsSpan(k * d * d, d * d);
            for (int j = 0; j < d; j++)
            {
                column.AsSpan().Clear();
                column[j] = 1.0;
                Dense.SolveLower(l, d, column, column);
                Dense.SolveLowerTransposed(l, d, column, column);
                for (int i = 0; i < d; i++) precisions[k * d * d + i * d + j] = column[i];
            }
        }
        return precisions;
    }

    /// <summary>Draws one point from the mixture into <paramref name="destination"/>.</summary>
    public void Sample(Xoshiro256StarStar rng, Span<double> destination)
    {
        int d = Dimension;
        double u = rng.NextDouble(), acc = 0;
        int k = 0;
        for (; k < ComponentCount - 1; k++)
        {
            acc += Weights[k];
            if (u < acc) break;
        }
        Span<double> xi = d <= 256 ? stackalloc double[d] : new double[d];
        rng.FillStandardNormal(xi);
        switch (Kind)
        {
            case CovarianceKind.Isotropic:
                TensorPrimitives.MultiplyAdd(xi, Math.Sqrt(_covariance[k]), ComponentMean(k), destination);
                break;
            case CovarianceKind.Diagonal:
                for (int i = 0; i < d; i++) destination[i] = _means[k * d + i] + Math.Sqrt(_covariance[k * d + i]) * xi[i];
                break;
            default:
                Dense.MultiplyLower(_covariance.AsSpan(k * d * d, d * d), d, xi, destination);
                TensorPrimitives.Add(destination, ComponentMean(k), destination);
                break;
        }
    }

    /// <summary>The 1-D marginal density of coordinate <paramref name="coordinate"/> at <paramref name="value"/>.</summary>
    public double MarginalDensity(int coordinate, double value)
    {
        double s = 0;
        for (int k = 0; k < ComponentCount; k++)
        {
            double v = ComponentVariance(k, coordinate);
            double diff = value - _means[k * Dimension + coordinate];
            s += Weights[k] * Math.Exp(-0.5 * diff * diff / v) / Math.Sqrt(2 * Math.PI * v);
        }
        return s;
    }

    // Returns (x − μ_k)ᵀ Σ_k⁻¹ (x − μ_k); when gradient is true, leaves Σ_k⁻¹ (x − μ_k) in z.
    private double Mahalanobis(int k, ReadOnlySpan<double> x, Span<double> z, bool gradient)
    {
        int d = Dimension;
        if (d <= 8 && Kind != CovarianceKind.Full)
        {
            // Short vectors: one fused loop costs less than the vectorised calls' overhead.
            ReadOnlySpan<double> mu = ComponentMean(k);
            bool iso = Kind == CovarianceKind.Isotropic;
            double q = 0;
            for (int i = 0; i < d; i++)
            {
                double diff = x[i] - mu[i];
                double zi = diff / (iso ? _covariance[k] : _covariance[k * d + i]);
                z[i] = zi;
                q += zi * diff;
            }
            return q;
        }
        TensorPrimitives.Subtract(x, ComponentMean(k), z);
        switch (Kind)
        {
            case CovarianceKind.Isotropic:
                {
                    double precision = 1.0 / _covariance[k];
                    double q = LinearAlgebra.Reductions.SumOfSquares(z) * precision;
                    if (gradient) TensorPrimitives.Multiply(z, precision, z);
                    return q;
                }
            case CovarianceKind.Diagonal:
                {
                    ReadOnlySpan<double> variances = _covariance.AsSpan(k * d, d);
                    TensorPrimitives.Divide(z, variances, z);
                    // Σ z_i² / v_i = Σ (z_i / v_i) · (x_i − μ_i)
                    double q = 0;
                    ReadOnlySpan<double> mean = ComponentMean(k);
                    for (int i = 0; i < d; i++) q += z[i] * (x[i] - mean[i]);
                    return q;
                }
            default:
                {
                    ReadOnlySpan<double> l = _covariance.AsSpan(k * d * d, d * d);
                    Dense.SolveLower(l, d, z, z);
                    double q = LinearAlgebra.Reductions.SumOfSquares(z);
                    if (gradient) Dense.SolveLowerTransposed(l, d, z, z);
                    return q;
                }
        }
    }

    private void CheckDimension(ReadOnlySpan<double> x)
    {
        if (x.Length != Dimension)
            throw new TargetEvaluationException($"target '{Name}' has dimension {Dimension} but was given a point of dimension {x.Length}");
    }

    private static double SumLog(ReadOnlySpan<double> values)
    {
        double s = 0;
        foreach (double v in values) s += Math.Log(v);
        return s;
    }

    /// <summary>log Σ exp(values), stable: −∞ when every value is −∞.</summary>
    public static double LogSumExp(ReadOnlySpan<double> values)
    {
        double max = TensorPrimitives.Max(values);
        if (double.IsNegativeInfinity(max)) return max;
        double s = 0;
        foreach (double v in values) s += VectorKernels.ExpFlushed(v - max);
        return max + Math.Log(s);
    }
}
