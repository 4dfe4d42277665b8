using System.Numerics.Tensors;
using Wasserflow.Families;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Expectations;

/// <summary>
/// Monte Carlo estimate of the KL gradients of a uniform isotropic mixture (paper 000, Proposition 3.1, in the Stein
/// form of docs/specs/mig.md): with g = ∇log q − ∇log pi and x = m_i + √ε_i ξ, ξ ~ N(0, I),
/// ∇_{m_i}F = (1/N) E_i[g(x)] and ∇_{ε_i}F = E_i[(x − m_i)ᵀ g(x)] / (2Nε_i), from B draws per component.
/// </summary>
/// <remarks>
/// The score ∇log q is the whole mixture's (log-sum-exp responsibilities), which is where the components interact;
/// cost O(N²·B·d) per call plus N·B target evaluations, no d×d algebra. Work is split by component: component i's
/// draws come from the stream <c>Mix(stepKey, i)</c> (or stream 0 for all components with common random numbers), so
/// the numbers do not depend on the number of threads. The estimator owns its buffers: after construction a call
/// allocates nothing on the single-threaded path. Not thread-safe: one estimator per flow.
/// </remarks>
public sealed class IsotropicMixtureGradientEstimator
{
    private readonly ITarget _target;
    private readonly double[] _xi;        // N×B×d standard normals
    private readonly double[] _points;    // N×B×d
    private readonly double[] _targetGrad;// N×B×d
    private readonly double[] _targetLog; // N×B
    private readonly double[] _residual;  // N×B×d: g = ∇log q − ∇log pi
    private readonly double[] _logQ;      // N×B
    private readonly double[][] _scratch; // per chunk: its points × N responsibilities
    private readonly double[][] _rowScratch; // per chunk: one number per point
    private readonly Xoshiro256StarStar[] _generators; // per chunk
    private readonly double[] _componentObjective; // N
    private readonly ParallelOptions _parallelOptions;
    private readonly int _chunks;
    private readonly double[] _means;
    private readonly double[] _variances;
    private readonly double[] _logNormalisers;
    private readonly double[] _precisions;
    private readonly double[] _gradMeans;
    private readonly double[] _gradVariances;
    private readonly Action<int> _sampleChunk, _scoreChunk;
    private readonly Action<int, int> _sample;
    private ulong _stepKey;

    /// <summary>An estimator for N components in the target's dimension with B draws per component.</summary>
    /// <param name="target">The target pi.</param>
    /// <param name="components">N ≥ 1.</param>
    /// <param name="samplesPerComponent">B ≥ 1.</param>
    /// <param name="commonRandomNumbers">Share the same ξ across components within a call.</param>
    /// <param name="maxDegreeOfParallelism">Threads to use (1: the calling thread only).</param>
    public IsotropicMixtureGradientEstimator(ITarget target, int components, int samplesPerComponent,
        bool commonRandomNumbers = false, int maxDegreeOfParallelism = 1)
    {
        _target = target ?? throw new ArgumentNullException(nameof(target));
        ArgumentOutOfRangeException.ThrowIfLessThan(components, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(samplesPerComponent, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDegreeOfParallelism, 1);
        Components = components;
        SamplesPerComponent = samplesPerComponent;
        CommonRandomNumbers = commonRandomNumbers;
        int d = target.Dimension, total = components * samplesPerComponent;
        _xi = new double[total * d];
        _points = new double[total * d];
        _targetGrad = new double[total * d];
        _residual = new double[total * d];
        _targetLog = new double[total];
        _logQ = new double[total];
        _componentObjective = new double[components];
        _means = new double[components * d];
        _variances = new double[components];
        _logNormalisers = new double[components];
        _precisions = new double[components];
        _gradMeans = new double[components * d];
        _gradVariances = new double[components];
        _sample = Sample;
        _sampleChunk = c => ForChunk(c, _sample);
        _scoreChunk = ScoreChunk;
        // Parallelism pays only when a call has enough arithmetic: about N²·B·d flops for the scores.
        long work = (long)components * total * d;
        _chunks = work < 200_000 ? 1 : Math.Min(maxDegreeOfParallelism, components);
        _scratch = new double[_chunks][];
        _rowScratch = new double[_chunks][];
        _generators = new Xoshiro256StarStar[_chunks];
        int chunkPoints = (components + _chunks - 1) / _chunks * samplesPerComponent;
        for (int c = 0; c < _chunks; c++)
        {
            _scratch[c] = new double[chunkPoints * components];
            _rowScratch[c] = new double[chunkPoints];
            _generators[c] = new Xoshiro256StarStar(0);
        }
        _parallelOptions = new ParallelOptions { MaxDegreeOfParallelism = _chunks };
    }

    /// <summary>N.</summary>
    public int Components { get; }

    /// <summary>B, draws per component.</summary>
    public int SamplesPerComponent { get; }

    /// <summary>Whether all components share one set of ξ per call.</summary>
    public bool CommonRandomNumbers { get; }

    /// <summary>
    /// Estimates ∇_{m}F (N×d) and ∇_{ε}F (N) at (means, variances), using <paramref name="rng"/> for one 64-bit key.
    /// </summary>
    /// <returns>The by-product estimate of KL(q‖pi) − log Z: the mean of log q − log pi over the N·B draws.</returns>
    /// <exception cref="TargetEvaluationException">The target returned a non-finite value.</exception>
    public double Estimate(ReadOnlySpan<double> means, ReadOnlySpan<double> variances, Xoshiro256StarStar rng,
        Span<double> gradientMeans, Span<double> gradientVariances)
    {
        ArgumentNullException.ThrowIfNull(rng);
        int n = Components, d = _target.Dimension;
        if (variances.Length != n || means.Length != n * d || gradientMeans.Length != n * d || gradientVariances.Length != n)
            throw new ArgumentException($"expected {n} components in dimension {d}.");
        _stepKey = rng.NextUInt64();
        // Copy inputs into arrays owned here so the parallel body can reach them (spans cannot be captured).
        means.CopyTo(_means);
        variances.CopyTo(_variances);
        MixtureKernel.Prepare(_variances, d, _logNormalisers, _precisions);
        // Draw every component's points, evaluate the target on all N·B of them at once (a batched target sees one
        // large batch), then form each component's residuals and gradients.
        int total = n * SamplesPerComponent;
        if (_chunks == 1)
        {
            for (int i = 0; i < n; i++) Sample(i, 0);
            TargetEvaluator.LogDensityAndGradient(_target, _points, total, _targetLog, _targetGrad);
            ScoreChunk(0);
        }
        else
        {
            Parallel.For(0, _chunks, _parallelOptions, _sampleChunk);
            TargetEvaluator.LogDensityAndGradient(_target, _points, 0, total, _targetLog, 0, _targetGrad, _chunks);
            Parallel.For(0, _chunks, _parallelOptions, _scoreChunk);
        }
        _gradMeans.CopyTo(gradientMeans);
        _gradVariances.CopyTo(gradientVariances);
        return LinearAlgebra.Reductions.Sum(_componentObjective) / n;
    }

    private (int First, int Last) ChunkRange(int chunk) =>
        ((int)((long)Components * chunk / _chunks), (int)((long)Components * (chunk + 1) / _chunks));

    private void ForChunk(int chunk, Action<int, int> body)
    {
        (int first, int last) = ChunkRange(chunk);
        for (int i = first; i < last; i++) body(i, chunk);
    }

    // The mixture's log density and score at every point of the chunk's components in one batch (the residuals start
    // as the score), then each component's gradients.
    private void ScoreChunk(int chunk)
    {
        (int first, int last) = ChunkRange(chunk);
        int b = SamplesPerComponent, d = _target.Dimension, count = (last - first) * b;
        MixtureKernel.LogDensityAndScoreBatch(_means, _logNormalisers, _precisions, d, _points.AsSpan(first * b * d, count * d), count,
            _logQ.AsSpan(first * b, count), _residual.AsSpan(first * b * d, count * d), _scratch[chunk], _rowScratch[chunk]);
        for (int i = first; i < last; i++) Score(i);
    }

    // Component i's B points x = m_i + √ε_i ξ from its own stream.
    private void Sample(int i, int chunk)
    {
        int b = SamplesPerComponent, d = _target.Dimension;
        Span<double> xi = _xi.AsSpan(i * b * d, b * d);
        Span<double> points = _points.AsSpan(i * b * d, b * d);
        Xoshiro256StarStar generator = _generators[chunk];
        generator.Reseed(_stepKey, CommonRandomNumbers ? 0UL : (ulong)i);
        generator.FillStandardNormal(xi);
        double sd = Math.Sqrt(_variances[i]);
        ReadOnlySpan<double> mean = _means.AsSpan(i * d, d);
        if (d >= 16)
            for (int s = 0; s < b; s++)
                TensorPrimitives.MultiplyAdd(xi.Slice(s * d, d), sd, mean, points.Slice(s * d, d));
        else
            // Short rows: the same (ξ·√ε) + m without a call per draw.
            for (int s = 0; s < b; s++)
                for (int j = 0; j < d; j++) points[s * d + j] = xi[s * d + j] * sd + mean[j];
    }

    // Component i's residuals g = ∇log q − ∇log pi at its points (∇log q already in place), and its gradient estimates.
    private void Score(int i)
    {
        int n = Components, b = SamplesPerComponent, d = _target.Dimension;
        int offset = i * b * d;
        Span<double> xi = _xi.AsSpan(offset, b * d);
        Span<double> points = _points.AsSpan(offset, b * d);
        Span<double> targetGrad = _targetGrad.AsSpan(offset, b * d);
        Span<double> residual = _residual.AsSpan(offset, b * d);
        Span<double> targetLog = _targetLog.AsSpan(i * b, b);
        Span<double> logQ = _logQ.AsSpan(i * b, b);
        double variance = _variances[i];
        double sd = Math.Sqrt(variance);

        Span<double> gradMean = _gradMeans.AsSpan(i * d, d);
        gradMean.Clear();
        double spread = 0, objective = 0;
        TensorPrimitives.Subtract(residual, targetGrad, residual);
        for (int s = 0; s < b; s++)
        {
            Span<double> g = residual.Slice(s * d, d);
            if (d >= 16) TensorPrimitives.Add(gradMean, g, gradMean);
            else for (int j = 0; j < d; j++) gradMean[j] += g[j];
            // (x − m_i)ᵀ g = √ε_i ξᵀ g
            spread += sd * LinearAlgebra.Reductions.Dot(xi.Slice(s * d, d), g);
            objective += logQ[s] - targetLog[s];
        }
        // ∇_{m_i}F = (1/N) E_i[g];  ∇_{ε_i}F = E_i[(x − m_i)ᵀ g] / (2 N ε_i)
        TensorPrimitives.Multiply(gradMean, 1.0 / (n * b), gradMean);
        _gradVariances[i] = spread / b / (2.0 * n * variance);
        _componentObjective[i] = objective / b;
    }
}
