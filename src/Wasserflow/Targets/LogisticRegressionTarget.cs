using System.Buffers;
using System.Numerics.Tensors;
using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;

namespace Wasserflow.Targets;

/// <summary>
/// The posterior of Bayesian logistic regression, pi(z) ∝ Π_i σ(x_iᵀz)^{y_i} (1 − σ(x_iᵀz))^{1−y_i} · prior(z), with a
/// flat prior (paper 002, Appendix I.1.1 [Lambert2022]) or a Gaussian prior N(0, I/λ). Log density, gradient and
/// Hessian in closed form; softplus forms keep the log-likelihood finite for any z.
/// </summary>
/// <remarks>
/// V(z) = Σ_i [softplus(t_i) − y_i t_i] + λ‖z‖²/2 with t_i = x_iᵀz; ∇V = −Σ_i (y_i − σ(t_i)) x_i + λz;
/// ∇²V = Σ_i σ(t_i)(1 − σ(t_i)) x_i x_iᵀ + λI. log Z is unknown (<see cref="LogNormalizer"/> is null), so KL values
/// against it are KL − log Z: compare methods on the same target, as the paper's Eq 53–55 do.
/// With a flat prior and (quasi-)separable data the posterior is improper; <see cref="CheckProper"/> detects it.
/// Cost per point: O(n d).
/// </remarks>
public sealed class LogisticRegressionTarget : ITargetWithHessian, ITargetWithPropriety, IBatchedTarget, ILinearPredictorTarget
{
    private readonly double[] _x; // n×d row-major covariates
    private readonly double[] _y; // n labels in {0, 1}
    private readonly double[] _xTransposed; // d×n, for the batched gradients

    /// <summary>A posterior from covariates (n×d row-major), labels in {0, 1} and a prior precision λ ≥ 0 (0: flat).</summary>
    /// <exception cref="ArgumentException">Sizes disagree, a label is not 0 or 1, a covariate is not finite, or λ &lt; 0.</exception>
    public LogisticRegressionTarget(ReadOnlySpan<double> covariates, ReadOnlySpan<double> labels, double priorPrecision = 0.0,
        string name = "logistic")
    {
        int n = labels.Length;
        if (n == 0) throw new ArgumentException("logistic regression needs at least one data point.");
        if (covariates.Length == 0 || covariates.Length % n != 0)
            throw new ArgumentException($"covariates must hold n×d numbers for n = {n} labels, got {covariates.Length}.");
        for (int i = 0; i < n; i++)
            if (labels[i] != 0.0 && labels[i] != 1.0)
                throw new ArgumentException($"label {i} is {labels[i]}; labels must be 0 or 1.");
        if (!TensorPrimitives.IsFiniteAll(covariates)) throw new ArgumentException("covariates must be finite.");
        if (!(priorPrecision >= 0) || !double.IsFinite(priorPrecision))
            throw new ArgumentException($"the prior precision must be ≥ 0 and finite, got {priorPrecision}.");
        _x = covariates.ToArray();
        _y = labels.ToArray();
        Dimension = covariates.Length / n;
        _xTransposed = new double[_x.Length];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < Dimension; j++)
                _xTransposed[j * n + i] = _x[i * Dimension + j];
        PointCount = n;
        PriorPrecision = priorPrecision;
        Name = name;
    }

    /// <summary>
    /// The synthetic data set of paper 002, Appendix I.1.1: labels drawn uniformly in {0, 1}, then covariates
    /// x_i ~ N(±m*, Σ*) by class with ‖2m*‖ = <paramref name="separation"/>. m* points along a random unit direction;
    /// Σ* is <paramref name="covariance"/> (d×d) or, when null, I/d as the paper uses in high dimension.
    /// </summary>
    public static LogisticRegressionTarget Synthetic(Xoshiro256StarStar rng, int dimension, int points, double separation,
        double[]? covariance = null, double priorPrecision = 0.0)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (dimension < 1) throw new ArgumentException($"dimension must be ≥ 1, got {dimension}.");
        if (points < 1) throw new ArgumentException($"points must be ≥ 1, got {points}.");
        if (!(separation >= 0) || !double.IsFinite(separation)) throw new ArgumentException($"separation must be ≥ 0, got {separation}.");
        int d = dimension;
        double[] sigma = covariance ?? Enumerable.Range(0, d * d).Select(i => i / d == i % d ? 1.0 / d : 0.0).ToArray();
        if (sigma.Length != d * d) throw new ArgumentException($"the covariance must hold d×d = {d * d} numbers.");
        double[] l = (double[])sigma.Clone();
        if (!Dense.TryCholesky(l, d)) throw new ArgumentException("the covariance Σ* is not positive definite.");
        var direction = new double[d];
        rng.FillStandardNormal(direction);
        double norm = Math.Sqrt(LinearAlgebra.Reductions.SumOfSquares(direction));
        var mStar = new double[d];
        TensorPrimitives.Multiply(direction, 0.5 * separation / norm, mStar);
        var x = new double[points * d];
        var y = new double[points];
        var xi = new double[d];
        for (int i = 0; i < points; i++)
        {
            y[i] = rng.NextDouble() < 0.5 ? 0.0 : 1.0;
            rng.FillStandardNormal(xi);
            Span<double> row = x.AsSpan(i * d, d);
            Dense.MultiplyLower(l, d, xi, row);
            TensorPrimitives.MultiplyAdd(mStar, y[i] == 1.0 ? 1.0 : -1.0, row, row);
        }
        return new LogisticRegressionTarget(x, y, priorPrecision, $"logistic-d{d}-n{points}-s{separation.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
    }

    /// <inheritdoc/>
    public int Dimension { get; }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public double? LogNormalizer => null;

    /// <summary>n, the number of data points.</summary>
    public int PointCount { get; }

    /// <summary>λ, the precision of the N(0, I/λ) prior; 0 for the paper's flat prior.</summary>
    public double PriorPrecision { get; }

    /// <summary>The covariates, n×d row-major.</summary>
    public ReadOnlySpan<double> Covariates => _x;

    /// <summary>The labels.</summary>
    public ReadOnlySpan<double> Labels => _y;

    /// <inheritdoc/>
    public double LogDensity(ReadOnlySpan<double> z)
    {
        CheckDimension(z);
        int d = Dimension;
        double logPi = -0.5 * PriorPrecision * LinearAlgebra.Reductions.SumOfSquares(z);
        for (int i = 0; i < PointCount; i++)
        {
            double t = LinearAlgebra.Reductions.Dot(_x.AsSpan(i * d, d), z);
            logPi += _y[i] * t - Softplus(t);
        }
        return logPi;
    }

    /// <inheritdoc/>
    public double LogDensityAndGradient(ReadOnlySpan<double> z, Span<double> gradient)
    {
        CheckDimension(z);
        int d = Dimension;
        TensorPrimitives.Multiply(z, -PriorPrecision, gradient);
        double logPi = -0.5 * PriorPrecision * LinearAlgebra.Reductions.SumOfSquares(z);
        for (int i = 0; i < PointCount; i++)
        {
            ReadOnlySpan<double> xi = _x.AsSpan(i * d, d);
            double t = LinearAlgebra.Reductions.Dot(xi, z);
            logPi += _y[i] * t - Softplus(t);
            TensorPrimitives.MultiplyAdd(xi, _y[i] - Sigmoid(t), gradient, gradient);
        }
        return logPi;
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Blocks of four points: the logits t_ip = x_iᵀz_p as register-blocked dot products (two covariate rows × four points
    /// per pass), softplus and sigmoid with vectorised exp/log over the n data points, then ∇_p = Σ_i (y_i − σ(t_ip)) x_i − λ z_p
    /// by the same kernel on the transposed covariates. Scratch is rented from the shared pool.
    /// </remarks>
    public void LogDensityAndGradientBatch(ReadOnlySpan<double> points, int count, Span<double> logDensities, Span<double> gradients)
    {
        int d = Dimension, n = PointCount;
        if (points.Length < count * d || gradients.Length < count * d || logDensities.Length < count)
            throw new ArgumentException("Buffers are smaller than count × dimension.");
        if (d < 8)
        {
            // Short rows: scalar per-point loops beat the blocked kernel's vector set-up.
            for (int p = 0; p < count; p++)
                logDensities[p] = SmallDimensionLogDensityAndGradient(points.Slice(p * d, d), gradients.Slice(p * d, d));
            return;
        }
        const int block = 4;
        double[] rented = ArrayPool<double>.Shared.Rent(2 * block * n);
        try
        {
            Span<double> logits = rented.AsSpan(0, block * n);       // [k][i]
            Span<double> weights = rented.AsSpan(block * n, block * n); // y_i − σ(t_ik), [k][i]
            for (int start = 0; start < count; start += block)
            {
                int m = Math.Min(block, count - start);
                Logits(points.Slice(start * d, m * d), m, logits);
                for (int k = 0; k < m; k++)
                    logDensities[start + k] = LinearPredictorTerms.Sum(LinearPredictorTerms.Kind.Logistic, _y, logits.Slice(k * n, n), weights.Slice(k * n, n), 0, withValue: true)
                        - 0.5 * PriorPrecision * LinearAlgebra.Reductions.SumOfSquares(points.Slice((start + k) * d, d));
                Gradients(points.Slice(start * d, m * d), m, weights, gradients.Slice(start * d, m * d));
            }
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }

    /// <inheritdoc/>
    int ILinearPredictorTarget.PredictorCount => PointCount;

    /// <inheritdoc/>
    public void Predictors(ReadOnlySpan<double> directions, int count, int first, int rows, Span<double> predictors) =>
        LinearPredictorTerms.Predictors(_x, Dimension, directions, count, first, rows, predictors);

    /// <inheritdoc/>
    public double Likelihood(int first, ReadOnlySpan<double> predictors, Span<double> derivatives) =>
        LinearPredictorTerms.Rows(LinearPredictorTerms.Kind.Logistic, _y, first, predictors, derivatives, 0, withValue: true);

    /// <inheritdoc/>
    public void LikelihoodDerivatives(int first, ReadOnlySpan<double> predictors, Span<double> derivatives) =>
        LinearPredictorTerms.Rows(LinearPredictorTerms.Kind.Logistic, _y, first, predictors, derivatives, 0, withValue: false);

    /// <inheritdoc/>
    public void AddPullBack(ReadOnlySpan<double> weights, int count, int first, int rows, Span<double> result) =>
        LinearPredictorTerms.AddPullBack(_x, Dimension, weights, count, first, rows, result);

    private double SmallDimensionLogDensityAndGradient(ReadOnlySpan<double> z, Span<double> gradient)
    {
        int d = Dimension;
        double logPi = 0;
        for (int j = 0; j < d; j++)
        {
            gradient[j] = -PriorPrecision * z[j];
            logPi -= 0.5 * PriorPrecision * z[j] * z[j];
        }
        for (int i = 0; i < PointCount; i++)
        {
            ReadOnlySpan<double> x = _x.AsSpan(i * d, d);
            double t = 0;
            for (int j = 0; j < d; j++) t += x[j] * z[j];
            double e = Math.Exp(-Math.Abs(t)), r = 1.0 / (1.0 + e);
            logPi += _y[i] * t - Math.Max(t, 0) - Math.Log(1.0 + e);
            double w = _y[i] - (t >= 0 ? r : e * r);
            for (int j = 0; j < d; j++) gradient[j] += w * x[j];
        }
        return logPi;
    }

    // logits[k·n + i] = x_iᵀ z_k for the m ≤ 4 points z_k (rows of zs).
    private void Logits(ReadOnlySpan<double> zs, int m, Span<double> logits) =>
        Dense.RowDots(_x, PointCount, Dimension, zs, m, logits);

    // g_k[j] = Σ_i w[k·n + i] x_ij − λ z_k[j]: the same kernel on the transposed covariates.
    private void Gradients(ReadOnlySpan<double> zs, int m, ReadOnlySpan<double> weights, Span<double> gradients)
    {
        int d = Dimension, n = PointCount;
        Dense.RowDots(_xTransposed, d, n, weights[..(m * n)], m, gradients[..(m * d)]);
        if (PriorPrecision != 0)
            for (int k = 0; k < m; k++)
                TensorPrimitives.MultiplyAdd(zs.Slice(k * d, d), -PriorPrecision, gradients.Slice(k * d, d), gradients.Slice(k * d, d));
    }

    /// <inheritdoc/>
    public double LogDensityGradientAndHessian(ReadOnlySpan<double> z, Span<double> gradient, Span<double> hessian)
    {
        int d = Dimension;
        if (hessian.Length != d * d) throw new ArgumentException($"the Hessian buffer must hold {d * d} numbers.");
        double logPi = LogDensityAndGradient(z, gradient);
        hessian.Clear();
        for (int j = 0; j < d; j++) hessian[j * d + j] = -PriorPrecision;
        for (int i = 0; i < PointCount; i++)
        {
            ReadOnlySpan<double> xi = _x.AsSpan(i * d, d);
            double s = Sigmoid(LinearAlgebra.Reductions.Dot(xi, z));
            double c = -s * (1 - s);
            for (int a = 0; a < d; a++)
                TensorPrimitives.MultiplyAdd(xi, c * xi[a], hessian.Slice(a * d, d), hessian.Slice(a * d, d));
        }
        return logPi;
    }

    /// <summary>
    /// Whether the posterior is proper. With a prior (λ &gt; 0) it always is. With a flat prior it is proper exactly
    /// when −V attains its maximum (the data are not separable or quasi-separable); this runs damped Newton on the
    /// concave log density: proper when its steps shrink to zero (quadratic convergence to the maximiser), improper when
    /// the Hessian turns singular or the steps keep their length for 100 iterations (‖z‖ → ∞). The answer is cached.
    /// </summary>
    /// <param name="reason">Why it is improper, or null.</param>
    public bool CheckProper(out string? reason)
    {
        (bool proper, string? why) = _propriety ??= ComputePropriety();
        reason = why;
        return proper;
    }

    private (bool, string?)? _propriety;

    private (bool, string?) ComputePropriety() => (CheckProperUncached(out string? reason), reason);

    private bool CheckProperUncached(out string? reason)
    {
        reason = null;
        if (PriorPrecision > 0) return true;
        int d = Dimension;
        double[] z = new double[d], g = new double[d], h = new double[d * d], step = new double[d], trial = new double[d];
        double logPi = LogDensityGradientAndHessian(z, g, h);
        const int maxIterations = 100;
        for (int iteration = 0; iteration < maxIterations; iteration++)
        {
            // Newton on V = −log pi: (−∇²log pi) step = ∇log pi. A singular Hessian means a flat direction: improper.
            for (int i = 0; i < d * d; i++) h[i] = -h[i];
            if (!Dense.TryCholesky(h, d))
            {
                reason = $"target '{Name}': with a flat prior the posterior is improper (the likelihood is flat along some direction: "
                    + "separable or rank-deficient data); use a prior (prior precision > 0) or other data";
                return false;
            }
            Dense.SolveLower(h, d, g, step);
            Dense.SolveLowerTransposed(h, d, step, step);
            double t = 1.0;
            for (int backtrack = 0; backtrack < 60; backtrack++, t *= 0.5)
            {
                TensorPrimitives.MultiplyAdd(step, t, z, trial);
                if (LogDensity(trial) >= logPi) break;
            }
            double stepNorm = t * Math.Sqrt(LinearAlgebra.Reductions.SumOfSquares(step));
            trial.CopyTo(z, 0);
            logPi = LogDensityGradientAndHessian(z, g, h);
            // Newton converges quadratically to a finite maximiser; on separable data its steps keep their length
            // while ‖z‖ grows without bound.
            if (stepNorm <= 1e-9 * (1 + Math.Sqrt(LinearAlgebra.Reductions.SumOfSquares(z)))) return true;
        }
        double zNorm = Math.Sqrt(LinearAlgebra.Reductions.SumOfSquares(z));
        reason = $"target '{Name}': with a flat prior the posterior is improper (the data are linearly separable: the "
            + $"log-likelihood keeps increasing as ‖z‖ grows, ‖z‖ = {zNorm:G3} after {maxIterations} Newton steps); "
            + "use a prior (prior precision > 0) or non-separable data";
        return false;
    }

    /// <summary>log(1 + eᵗ) without overflow.</summary>
    internal static double Softplus(double t) => t > 0 ? t + Math.Log(1 + Math.Exp(-t)) : Math.Log(1 + Math.Exp(t));

    /// <summary>1/(1 + e⁻ᵗ) without overflow.</summary>
    internal static double Sigmoid(double t)
    {
        if (t >= 0) return 1.0 / (1.0 + Math.Exp(-t));
        double e = Math.Exp(t);
        return e / (1.0 + e);
    }

    private void CheckDimension(ReadOnlySpan<double> z)
    {
        if (z.Length != Dimension)
            throw new TargetEvaluationException($"target '{Name}' has dimension {Dimension} but was given a point of dimension {z.Length}");
    }
}
