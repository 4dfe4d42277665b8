using System.Numerics.Tensors;
using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;

namespace Wasserflow.Flows;

/// <summary>
/// A stochastic potential U(z) ≈ −log pi(z) + const for minibatch training: each call estimates U and ∇U on the current
/// minibatch (scaled to the whole data set) plus the prior. Several calls may run at once, one per worker index, each
/// with its own buffers.
/// </summary>
public interface IStochasticPotential
{
    /// <summary>d, the length of z.</summary>
    int Dimension { get; }

    /// <summary>How many evaluations may run at the same time (worker indices 0 … Workers − 1).</summary>
    int Workers { get; }

    /// <summary>Writes ∇U(z) into <paramref name="gradient"/> and returns U(z), using worker <paramref name="worker"/>'s buffers.</summary>
    double Evaluate(int worker, ReadOnlySpan<double> z, Span<double> gradient);
}

/// <summary>
/// The mean-field mixture of paper 000, Appendix E.5.1, for very large d (a network's weights): every coordinate's
/// marginal is an N-component univariate mixture q_j = (1/N) Σ_i N(m^i[j], ε^i), the variances ε^i shared by all
/// coordinates, and q = Π_j q_j. Means and variances move by an isotropic update rule (IBW, MD, …) from stochastic
/// gradients of F(q) = Σ_j E[log q_j] + E_q[U].
/// </summary>
/// <remarks>
/// <para>The gradients (docs/specs/mig.md, §"Mean-field mixtures"): with g = ∇U + ∇log q (∂_j log q = (log q_j)′),
/// ∇_{m^i[j]}F = (1/N) E[g_j | z_j ~ N(m^i[j], ε^i), z_{−j} ~ q_{−j}] and
/// ∇_{ε^i}F = Σ_j E[(z_j − m^i[j]) g_j | same] / (2Nε^i): the isotropic mixture's formulas, so IBW and MD apply as
/// they are with d the number of weights.</para>
/// <para>The estimator draws N points per step with stratified components: coordinate j of point s takes component
/// (s + o_j) mod N with o_j uniform, so every (component, coordinate) pair is seen exactly once per step while each
/// point's coordinates are independent draws from q — an unbiased estimate of both gradients from N evaluations of U.
/// Point s's normals come from stream Mix(key, s) and every reduction has a fixed order (not TensorPrimitives' sums,
/// whose order follows the array's alignment), so the numbers do not depend on how many workers run.</para>
/// </remarks>
public sealed class MeanFieldMixtureFlow
{
    private const int Chunk = 512;
    private readonly IsotropicMixtureUpdateRule _rule;
    private readonly double[] _means, _variances, _points, _gradients, _values, _logQ, _gradMeans, _gradVariances, _newMeans;
    private readonly double[] _newVariances;
    private readonly byte[] _offsets;
    private readonly Action<int> _workerBody;
    private IStochasticPotential? _potential;
    private ulong _key;
    private int _workers;
    private readonly double[][] _scratch;
    private readonly Xoshiro256StarStar[] _streams;

    /// <summary>A mixture of N = variances.Length components over d = means.Length / N coordinates, moved by <paramref name="rule"/>.</summary>
    /// <param name="rule">The update of one component (IBW, MD, …).</param>
    /// <param name="means">m, N×d (component i's means in row i); copied.</param>
    /// <param name="variances">ε, N positive values; copied.</param>
    /// <exception cref="ArgumentException">Shapes disagree, N &gt; 255, or a value is not finite or a variance not positive.</exception>
    public MeanFieldMixtureFlow(IsotropicMixtureUpdateRule rule, ReadOnlySpan<double> means, ReadOnlySpan<double> variances)
    {
        ArgumentNullException.ThrowIfNull(rule);
        int n = variances.Length;
        if (n < 1 || n > 255) throw new ArgumentException($"N must be between 1 and 255 (got {n}).", nameof(variances));
        if (means.Length == 0 || means.Length % n != 0) throw new ArgumentException($"means hold {means.Length} values, not N×d for N = {n}.", nameof(means));
        foreach (double v in variances)
            if (!(v > 0) || !double.IsFinite(v)) throw new ArgumentException($"every variance must be finite and positive (got {v}).", nameof(variances));
        if (!TensorPrimitives.IsFiniteAll(means)) throw new ArgumentException("every mean must be finite.", nameof(means));
        _rule = rule;
        Components = n;
        Dimension = means.Length / n;
        _means = means.ToArray();
        _variances = variances.ToArray();
        _points = new double[n * Dimension];
        _gradients = new double[n * Dimension];
        _values = new double[n];
        _logQ = new double[n];
        _gradMeans = new double[n * Dimension];
        _gradVariances = new double[n];
        _newMeans = new double[n * Dimension];
        _newVariances = new double[n];
        _workerBody = w =>
        {
            for (int s = w; s < Components; s += _workers) Point(_potential!, _key, s, w);
        };
        _offsets = new byte[Dimension];
        _scratch = new double[n][];
        _streams = new Xoshiro256StarStar[n];
        for (int s = 0; s < n; s++)
        {
            _scratch[s] = new double[(2 * n + 2) * Chunk];
            _streams[s] = new Xoshiro256StarStar(0);
        }
    }

    /// <summary>N.</summary>
    public int Components { get; }

    /// <summary>d.</summary>
    public int Dimension { get; }

    /// <summary>m, N×d (live view; do not modify).</summary>
    public ReadOnlySpan<double> Means => _means;

    /// <summary>ε, N (live view; do not modify).</summary>
    public ReadOnlySpan<double> Variances => _variances;

    /// <summary>The points of the last step, N×d: independent draws from q before the step (row s is point s).</summary>
    public ReadOnlySpan<double> LastPoints => _points;

    /// <summary>Writes a draw from q into <paramref name="z"/> (each coordinate's component uniform and independent).</summary>
    public void Draw(Xoshiro256StarStar rng, Span<double> z)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (z.Length != Dimension) throw new ArgumentException($"z must have length {Dimension}.", nameof(z));
        Span<double> sd = stackalloc double[Components];
        for (int i = 0; i < Components; i++) sd[i] = Math.Sqrt(_variances[i]);
        rng.FillStandardNormal(z);
        for (int j = 0; j < z.Length; j++)
        {
            int i = rng.NextInt(Components);
            z[j] = _means[i * Dimension + j] + sd[i] * z[j];
        }
    }

    /// <summary>
    /// Estimates the gradients at the current (m, ε) from N evaluations of <paramref name="potential"/> and applies the
    /// rule with step size γ = <paramref name="stepSize"/>.
    /// </summary>
    /// <returns>The step's estimate of F = KL(q‖pi) + const: the mean over the N points of log q(z) + U(z).</returns>
    /// <exception cref="ArgumentException">The potential's dimension is not d.</exception>
    /// <exception cref="Targets.TargetEvaluationException">U or its gradient is not finite at a point (nothing moved).</exception>
    /// <exception cref="InvalidOperationException">The rule produced a non-finite mean or a variance that is not positive (nothing moved).</exception>
    public double Step(IStochasticPotential potential, double stepSize, Xoshiro256StarStar rng)
    {
        Estimate(potential, rng);
        int n = Components, d = Dimension;
        // Every component's update into the buffers first, checked, then committed: a failure moves nothing.
        for (int i = 0; i < n; i++)
        {
            Span<double> newMean = _newMeans.AsSpan(i * d, d);
            double variance = _rule.Update(_means.AsSpan(i * d, d), _variances[i], _gradMeans.AsSpan(i * d, d), _gradVariances[i], stepSize, n, newMean);
            if (!(variance > 0) || !double.IsFinite(variance) || !TensorPrimitives.IsFiniteAll<double>(newMean))
                throw new InvalidOperationException($"{_rule.Name}: component {i} left the valid set (variance {variance}); take a smaller step size.");
            _newVariances[i] = variance;
        }
        _newMeans.CopyTo(_means, 0);
        _newVariances.CopyTo(_variances, 0);
        double total = 0;
        for (int s = 0; s < n; s++) total += _values[s] + _logQ[s];
        return total / n;
    }

    /// <summary>
    /// The stochastic gradients ∇_m F (N×d) and ∇_ε F (N) at the current (m, ε), as <see cref="Step"/> uses them,
    /// without moving (for tests and diagnostics).
    /// </summary>
    public void Gradients(IStochasticPotential potential, Xoshiro256StarStar rng, Span<double> gradientMeans, Span<double> gradientVariances)
    {
        Estimate(potential, rng);
        _gradMeans.CopyTo(gradientMeans);
        _gradVariances.CopyTo(gradientVariances);
    }

    private void Estimate(IStochasticPotential potential, Xoshiro256StarStar rng)
    {
        ArgumentNullException.ThrowIfNull(potential);
        ArgumentNullException.ThrowIfNull(rng);
        int n = Components, d = Dimension;
        if (potential.Dimension != d) throw new ArgumentException($"the potential has dimension {potential.Dimension}, the mixture {d}.", nameof(potential));
        ulong key = rng.NextUInt64();
        for (int j = 0; j < d; j++) _offsets[j] = (byte)rng.NextInt(n);
        int workers = Math.Clamp(potential.Workers, 1, n);
        if (workers == 1)
            for (int s = 0; s < n; s++) Point(potential, key, s, 0);
        else
        {
            (_potential, _key, _workers) = (potential, key, workers);
            try
            {
                Parallel.For(0, workers, _workerBody);
            }
            catch (AggregateException e) when (e.InnerExceptions.Count >= 1)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
            }
            finally
            {
                _potential = null;
            }
        }
        // Gather: the pair (i, j) was seen by point s = (i − o_j) mod N.
        Array.Clear(_gradVariances);
        for (int j = 0; j < d; j++)
        {
            int o = _offsets[j];
            for (int s = 0; s < n; s++)
            {
                int i = s + o < n ? s + o : s + o - n;
                double g = _gradients[s * d + j];
                _gradMeans[i * d + j] = g / n;
                _gradVariances[i] += (_points[s * d + j] - _means[i * d + j]) * g;
            }
        }
        for (int i = 0; i < n; i++) _gradVariances[i] /= 2.0 * n * _variances[i];
    }

    // Point s: draw it, evaluate U and ∇U, then add ∇log q and accumulate log q.
    private void Point(IStochasticPotential potential, ulong key, int s, int worker)
    {
        int n = Components, d = Dimension;
        Span<double> z = _points.AsSpan(s * d, d), g = _gradients.AsSpan(s * d, d);
        Xoshiro256StarStar stream = _streams[s];
        stream.Reseed(key, (ulong)s);
        stream.FillStandardNormal(z);
        Span<double> sd = stackalloc double[n];
        for (int i = 0; i < n; i++) sd[i] = Math.Sqrt(_variances[i]);
        for (int j = 0; j < d; j++)
        {
            int i = s + _offsets[j];
            if (i >= n) i -= n;
            z[j] = _means[i * d + j] + sd[i] * z[j];
        }
        double u = potential.Evaluate(worker, z, g);
        if (!double.IsFinite(u) || !TensorPrimitives.IsFiniteAll<double>(g))
            throw new Targets.TargetEvaluationException($"the potential is not finite at a draw of the mixture (U = {u}).");
        _values[s] = u;
        _logQ[s] = AddScore(z, g, _scratch[s]);
    }

    // g += ∇log q(z) coordinate-wise; returns log q(z). Chunked so the N rows of log-terms stay in cache.
    private double AddScore(ReadOnlySpan<double> z, Span<double> g, double[] scratch)
    {
        int n = Components, d = Dimension;
        double logQ = 0, constant = -0.5 * Math.Log(2 * Math.PI) - Math.Log(n);
        for (int start = 0; start < d; start += Chunk)
        {
            int len = Math.Min(Chunk, d - start);
            Span<double> max = scratch.AsSpan(2 * n * Chunk, len), sum = scratch.AsSpan(2 * n * Chunk + Chunk, len);
            ReadOnlySpan<double> zc = z.Slice(start, len);
            for (int i = 0; i < n; i++)
            {
                Span<double> t = scratch.AsSpan(i * Chunk, len), a = scratch.AsSpan((n + i) * Chunk, len);
                TensorPrimitives.Subtract(zc, _means.AsSpan(i * d + start, len), t);             // t = z − m^i
                TensorPrimitives.Multiply(t, t, a);
                TensorPrimitives.Multiply(a, -0.5 / _variances[i], a);
                TensorPrimitives.Add(a, -0.5 * Math.Log(_variances[i]), a);
                if (i == 0) a.CopyTo(max);
                else TensorPrimitives.Max(max, a, max);
            }
            sum.Clear();
            for (int i = 0; i < n; i++)
            {
                Span<double> a = scratch.AsSpan((n + i) * Chunk, len);
                TensorPrimitives.Subtract(a, max, a);
                VectorMath.Exp(a, a);
                TensorPrimitives.Add(sum, a, sum);
            }
            Span<double> gc = g.Slice(start, len);
            for (int i = 0; i < n; i++)
            {
                // g −= r_i t_i / ε_i with r_i = a_i / sum.
                Span<double> t = scratch.AsSpan(i * Chunk, len), a = scratch.AsSpan((n + i) * Chunk, len);
                TensorPrimitives.Divide(a, sum, a);
                TensorPrimitives.Multiply(a, t, a);
                TensorPrimitives.MultiplyAdd(a, -1.0 / _variances[i], gc, gc);
            }
            VectorMath.Log(sum, sum);
            logQ += VectorKernels.Sum(max) + VectorKernels.Sum(sum) + len * constant;
        }
        return logQ;
    }
}
