using System.Globalization;
using System.Numerics.Tensors;
using Wasserflow.Diagnostics;
using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Flows;

/// <summary>Settings of <see cref="BuresWassersteinSgd"/>.</summary>
/// <param name="StepSize">h. Range: h &gt; 0 (Theorem 4 asks h ≤ α²/60).</param>
/// <param name="ClipAlpha">α of the clip: eigenvalues of Σ above 1/α are set to 1/α after each step (the paper's
/// clip^{1/α}, there for the proof); null switches it off.</param>
public sealed record BuresWassersteinSgdOptions(double StepSize = 0.01, double? ClipAlpha = null)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (!(StepSize > 0) || !double.IsFinite(StepSize))
            throw new ArgumentException($"step size must be > 0 and finite, got {StepSize.ToString(CultureInfo.InvariantCulture)}", nameof(StepSize));
        if (ClipAlpha is { } a && (!(a > 0) || !double.IsFinite(a)))
            throw new ArgumentException($"the clip's α must be > 0 and finite, got {a.ToString(CultureInfo.InvariantCulture)}", nameof(ClipAlpha));
    }
}

/// <summary>
/// Bures–Wasserstein SGD (paper 002, Section 4.2, Algorithm 1 [Lambert2022]) for Gaussian VI: one draw X ~ N(m, Σ) per
/// step, m ← m − h∇V(X), M = I − h(∇²V(X) − Σ⁻¹), Σ ← clip^{1/α}(M Σ M).
/// </summary>
/// <remarks>
/// <para><b>Requirements</b>: the target's Hessian (<see cref="ITargetWithHessian"/>); checked when the flow is built.
/// Cost per step: one gradient and Hessian plus O(d³). Without the clip a step allocates nothing; the clip's
/// eigen-decomposition allocates O(d²).</para>
/// <para><b>Theorem 4</b>: if αI ⪯ ∇²V ⪯ I, h ≤ α²/60 and (α/9)I ⪯ Σ₀ ⪯ (1/α)I, then
/// E W2²(p_k, p̂) ≤ exp(−αkh) W2²(p₀, p̂) + 36dh/α².</para>
/// <para><b>Failure</b>: a non-finite value or M Σ M losing positive definiteness throws <see cref="FlowDivergedException"/>.</para>
/// </remarks>
public sealed class BuresWassersteinSgd : IVariationalFlow<GaussianParticleState>
{
    private readonly ITargetWithHessian _target;
    private readonly BuresWassersteinSgdOptions _options;
    private readonly int _d;
    private readonly double[] _xi, _x, _g, _h, _inverse, _m, _mr, _sigma;
    private readonly Xoshiro256StarStar _rngBackup = new(0);

    /// <summary>A BW-SGD flow on <paramref name="target"/>, which must provide its Hessian.</summary>
    /// <exception cref="ArgumentException">The target has no Hessian, or the options are invalid.</exception>
    public BuresWassersteinSgd(ITarget target, BuresWassersteinSgdOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        _target = target as ITargetWithHessian ?? throw new ArgumentException(
            $"BW-SGD needs the Hessian of log pi, and target '{target.Name}' does not provide one (it must implement ITargetWithHessian).",
            nameof(target));
        _options = options ?? new BuresWassersteinSgdOptions();
        _options.Validate();
        int d = _d = target.Dimension;
        _xi = new double[d];
        _x = new double[d];
        _g = new double[d];
        _h = new double[d * d];
        _inverse = new double[d * d];
        _m = new double[d * d];
        _mr = new double[d * d];
        _sigma = new double[d * d];
    }

    /// <inheritdoc/>
    public string Name => "bw-sgd";

    /// <inheritdoc/>
    public StepInfo Step(GaussianParticleState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        int d = _d;
        if (state.ComponentCount != 1 || state.Dimension != d)
            throw new ArgumentException($"BW-SGD runs one Gaussian in dimension {d}; the state has {state.ComponentCount} particles in dimension {state.Dimension}.");
        long iteration = state.Iteration + 1;
        double h = _options.StepSize;
        ReadOnlySpan<double> r = state.Factors;
        _rngBackup.CopyFrom(state.Rng);
        state.Rng.FillStandardNormal(_xi);
        Dense.MultiplyLower(r, d, _xi, _x);
        TensorPrimitives.Add(_x, state.Means, _x);
        double logPi = _target.LogDensityGradientAndHessian(_x, _g, _h);
        if (!double.IsFinite(logPi) || !TensorPrimitives.IsFiniteAll<double>(_g) || !TensorPrimitives.IsFiniteAll<double>(_h))
        {
            state.Rng.CopyFrom(_rngBackup);
            throw new TargetEvaluationException($"target '{_target.Name}' returned a non-finite value at x = {TargetEvaluator.Format(_x)}");
        }
        // One-draw estimate of KL − log Z = −H(p) − E log pi, reported as the step's objective.
        double logDet = 0;
        for (int i = 0; i < d; i++) logDet += Math.Log(r[i * d + i]);
        double objective = -(0.5 * d * (1 + Math.Log(2 * Math.PI)) + logDet) - logPi;
        // M = I + h(∇²log pi(X) + Σ⁻¹), Σ⁻¹ = R⁻ᵀR⁻¹.
        Dense.InvertLower(r, d, _inverse);
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
            {
                double precision = 0;
                for (int k = Math.Max(i, j); k < d; k++) precision += _inverse[k * d + i] * _inverse[k * d + j];
                _m[i * d + j] = (i == j ? 1.0 : 0.0) + h * (_h[i * d + j] + precision);
            }
        // Σ⁺ = (M R)(M R)ᵀ.
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
            {
                double s = 0;
                for (int k = j; k < d; k++) s += _m[i * d + k] * r[k * d + j];
                _mr[i * d + j] = s;
            }
        for (int i = 0; i < d; i++)
            for (int j = 0; j <= i; j++)
                _sigma[i * d + j] = _sigma[j * d + i] = LinearAlgebra.Reductions.Dot(_mr.AsSpan(i * d, d), _mr.AsSpan(j * d, d));
        if (_options.ClipAlpha is { } alpha)
        {
            double cap = 1.0 / alpha;
            Dense.SymmetricFunction(_sigma, d, v => Math.Min(v, cap), _sigma);
        }
        if (!Dense.TryCholesky(_sigma, d) || !TensorPrimitives.IsFiniteAll<double>(_sigma))
        {
            state.Rng.CopyFrom(_rngBackup);
            throw new FlowDivergedException($"iteration {iteration}: BW-SGD's covariance M Σ M is not positive definite (step {h.ToString("G3", CultureInfo.InvariantCulture)} too large?)", iteration, 0);
        }
        double change = 0;
        for (int i = 0; i < d; i++)
        {
            double step = h * _g[i];
            change += step * step;
            state.Means[i] += step;
        }
        for (int i = 0; i < d * d; i++)
        {
            double diff = _sigma[i] - state.Factors[i];
            change += diff * diff;
            state.Factors[i] = _sigma[i];
        }
        state.Iteration = iteration;
        state.Time += h;
        state.Substeps++;
        return new StepInfo(iteration, objective, Math.Sqrt(change));
    }

    /// <inheritdoc/>
    public KlEstimate EstimateKl(GaussianParticleState state, Xoshiro256StarStar rng, int draws)
    {
        ArgumentNullException.ThrowIfNull(state);
        return KlEstimator.Estimate(state.ToMixture(), _target, rng, draws);
    }
}
