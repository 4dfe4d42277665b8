using System.Buffers;
using System.Numerics.Tensors;
using Wasserflow.Families;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Diagnostics;

/// <summary>A Monte Carlo estimate of KL(q‖pi).</summary>
/// <param name="Value">The estimate: KL(q‖pi) when <paramref name="IsExact"/>, else KL(q‖pi) − log Z.</param>
/// <param name="StandardError">Its standard error (from the stratified sample variance).</param>
/// <param name="Draws">Number of draws used.</param>
/// <param name="IsExact">True when the target's log Z is known, so <paramref name="Value"/> estimates the true KL.</param>
public readonly record struct KlEstimate(double Value, double StandardError, int Draws, bool IsExact);

/// <summary>Monte Carlo KL(q‖pi) = E_q[log q − log pi] for uniform isotropic mixtures, in log space throughout.</summary>
public static class KlEstimator
{
    /// <summary>
    /// Estimates KL(q‖pi) with <paramref name="draws"/> draws split evenly over the N components (stratified: at least
    /// one per component), so the estimate is unbiased with variance (1/N²) Σ_j Var_j / n_j. If the target's
    /// <see cref="ITarget.LogNormalizer"/> is known it is added, giving the true KL; otherwise the value is KL − log Z.
    /// </summary>
    /// <exception cref="TargetEvaluationException">The target returned a non-finite value.</exception>
    public static KlEstimate Estimate(IsotropicGaussianMixture q, ITarget target, Xoshiro256StarStar rng, int draws = 1000)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(rng);
        if (target.Dimension != q.Dimension)
            throw new ArgumentException($"the mixture has dimension {q.Dimension} but target '{target.Name}' has dimension {target.Dimension}.");
        ArgumentOutOfRangeException.ThrowIfLessThan(draws, 1);
        int n = q.ComponentCount, d = q.Dimension;
        int perComponent = Math.Max(1, draws / n);
        // Points go in blocks of at most 256 (and about 64 K numbers), evaluated with the batched kernels; the draws are
        // made point by point, so the random stream is the same for any block size.
        int block = Math.Clamp(65536 / d, 1, Math.Min(256, perComponent));
        bool batched = target is IBatchedTarget;
        var pool = ArrayPool<double>.Shared;
        double[] points = pool.Rent(block * d), logQ = pool.Rent(block), logPi = pool.Rent(block), rows = pool.Rent(block);
        double[] gradients = pool.Rent(batched ? block * d : 1), work = pool.Rent(block * n);
        double[] constants = pool.Rent(2 * n);
        try
        {
            Span<double> logNormalisers = constants.AsSpan(0, n), precisions = constants.AsSpan(n, n);
            MixtureKernel.Prepare(q.Variances, d, logNormalisers, precisions);
            double mean = 0, variance = 0;
            for (int j = 0; j < n; j++)
            {
                double sd = Math.Sqrt(q.Variances[j]);
                double sum = 0, sumSq = 0;
                for (int start = 0; start < perComponent; start += block)
                {
                    int count = Math.Min(block, perComponent - start);
                    for (int s = 0; s < count; s++)
                    {
                        Span<double> x = points.AsSpan(s * d, d);
                        rng.FillStandardNormal(x);
                        TensorPrimitives.MultiplyAdd(x, sd, q.ComponentMean(j), x);
                    }
                    MixtureKernel.LogDensityAndScoreBatch(q.Means, logNormalisers, precisions, d, points.AsSpan(0, count * d), count,
                        logQ, Span<double>.Empty, work, rows);
                    if (batched)
                        TargetEvaluator.LogDensityAndGradient(target, points.AsSpan(0, count * d), count, logPi, gradients);
                    else
                        for (int s = 0; s < count; s++)
                        {
                            logPi[s] = target.LogDensity(points.AsSpan(s * d, d));
                            if (!double.IsFinite(logPi[s]))
                                throw new TargetEvaluationException($"target '{target.Name}' returned log density {logPi[s]} at x = {TargetEvaluator.Format(points.AsSpan(s * d, d))}");
                        }
                    for (int s = 0; s < count; s++)
                    {
                        double term = logQ[s] - logPi[s];
                        sum += term;
                        sumSq += term * term;
                    }
                }
                double m = sum / perComponent;
                double v = perComponent > 1 ? Math.Max(0, (sumSq - perComponent * m * m) / (perComponent - 1)) : 0;
                mean += m / n;
                variance += v / perComponent / ((double)n * n);
            }
            bool exact = target.LogNormalizer.HasValue;
            return new KlEstimate(mean + (target.LogNormalizer ?? 0.0), Math.Sqrt(variance), perComponent * n, exact);
        }
        finally
        {
            pool.Return(points);
            pool.Return(logQ);
            pool.Return(logPi);
            pool.Return(rows);
            pool.Return(gradients);
            pool.Return(work);
            pool.Return(constants);
        }
    }

    /// <summary>
    /// Estimates KL(p‖pi) for a full-covariance Gaussian mixture, stratified over components: KL = Σ_k w_k
    /// E_{p_k}[log p − log pi] with <paramref name="draws"/>/K draws from each component (at least one), so the
    /// estimate is unbiased with variance Σ_k w_k² Var_k / n_k. For one component the entropy is used in closed form
    /// (KL = −H(p) − E log pi), which removes the log p noise. log Z is added when known, as above.
    /// </summary>
    /// <exception cref="TargetEvaluationException">The target returned a non-finite value.</exception>
    public static KlEstimate Estimate(GaussianMixture p, ITarget target, Xoshiro256StarStar rng, int draws = 1000)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(rng);
        if (target.Dimension != p.Dimension)
            throw new ArgumentException($"the mixture has dimension {p.Dimension} but target '{target.Name}' has dimension {target.Dimension}.");
        ArgumentOutOfRangeException.ThrowIfLessThan(draws, 1);
        int k = p.ComponentCount;
        int perComponent = Math.Max(1, draws / k);
        double[] x = new double[p.Dimension];
        bool single = k == 1;
        double mean = single ? -p.Component(0).Entropy : 0.0, variance = 0;
        for (int j = 0; j < k; j++)
        {
            double w = p.Weights[j];
            if (w == 0.0) continue;
            double sum = 0, sumSq = 0;
            for (int s = 0; s < perComponent; s++)
            {
                p.SampleComponent(j, rng, x);
                double logPi = target.LogDensity(x);
                if (!double.IsFinite(logPi))
                    throw new TargetEvaluationException($"target '{target.Name}' returned log density {logPi} at x = {TargetEvaluator.Format(x)}");
                double term = (single ? 0.0 : p.LogDensity(x)) - logPi;
                sum += term;
                sumSq += term * term;
            }
            double m = sum / perComponent;
            double v = perComponent > 1 ? Math.Max(0, (sumSq - perComponent * m * m) / (perComponent - 1)) : 0;
            mean += w * m;
            variance += w * w * v / perComponent;
        }
        return new KlEstimate(mean + (target.LogNormalizer ?? 0.0), Math.Sqrt(variance), perComponent * k, target.LogNormalizer.HasValue);
    }

    /// <summary>
    /// The cubature estimate of KL(p‖pi) − log Z for a Gaussian p (paper 002, Eq 55): −(1/2d) Σ_n log pi(m ± √d R e_i)
    /// − H(p). Deterministic and exact when log pi is a polynomial of degree ≤ 3; used to compare Gaussian VI and
    /// Laplace on the same target up to the same constant (with log Z taken as 0, or the target's when known).
    /// </summary>
    public static double CubatureKl(Gaussian p, ITarget target)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(target);
        int d = p.Dimension;
        if (target.Dimension != d)
            throw new ArgumentException($"the Gaussian has dimension {d} but target '{target.Name}' has dimension {d}.");
        var points = new double[2 * d * d];
        Expectations.GaussianExpectation.Cubature.FillStandardPoints(points, d, null!);
        var x = new double[d];
        double sum = 0;
        for (int n = 0; n < 2 * d; n++)
        {
            LinearAlgebra.Dense.MultiplyLower(p.CholeskyFactor, d, points.AsSpan(n * d, d), x);
            TensorPrimitives.Add(x, p.Mean, x);
            double logPi = target.LogDensity(x);
            if (!double.IsFinite(logPi))
                throw new TargetEvaluationException($"target '{target.Name}' returned log density {logPi} at x = {TargetEvaluator.Format(x)}");
            sum += logPi;
        }
        return -sum / (2 * d) - p.Entropy + (target.LogNormalizer ?? 0.0);
    }
}
