using System.Globalization;
using System.Numerics.Tensors;
using Wasserflow.Diagnostics;
using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Flows;

/// <summary>The Gaussian family of ADVI.</summary>
public enum AdviFamily
{
    /// <summary>Diagonal covariance: q = N(μ, diag(e^{2ω})).</summary>
    MeanField,

    /// <summary>Full covariance: q = N(μ, L Lᵀ), L lower triangular.</summary>
    FullRank,
}

/// <summary>Settings of <see cref="AdviFlow"/>.</summary>
/// <param name="Family">Mean-field or full-rank.</param>
/// <param name="Eta">η, the scale of Stan's step-size sequence (Stan adapts it over {100, 10, 1, 0.1, 0.01}; here it is given).</param>
/// <param name="GradientDraws">M, Monte Carlo draws per gradient (Stan's default 1).</param>
public sealed record AdviOptions(AdviFamily Family = AdviFamily.MeanField, double Eta = 0.1, int GradientDraws = 1)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (!(Eta > 0) || !double.IsFinite(Eta)) throw new ArgumentException($"η must be > 0 and finite, got {Eta.ToString(CultureInfo.InvariantCulture)}", nameof(Eta));
        if (GradientDraws < 1) throw new ArgumentException($"gradient draws must be ≥ 1, got {GradientDraws}", nameof(GradientDraws));
    }
}

/// <summary>
/// Automatic differentiation variational inference as Stan runs it (Kucukelbir et al. 2017): stochastic gradient
/// ascent on the ELBO of a Gaussian q = N(μ, LLᵀ) by the reparameterisation ζ = μ + L ε, ε ~ N(0, I), with Stan's
/// adaptive step-size sequence ρ_k = η · k^{−1/2+ε} / (τ + √s_k), s_k = α g_k² + (1 − α) s_{k−1} (α = 0.1, τ = 1,
/// per coordinate). The baseline that VI users run today, so fits can be compared in one tool.
/// </summary>
/// <remarks>
/// Gradients (one draw shown; M draws averaged): ∇_μ = ∇log π(ζ); mean-field ∇_ω = ∇log π(ζ) ⊙ ε ⊙ e^ω + 1;
/// full-rank ∇_L = tril(∇log π(ζ) εᵀ) + diag(1/L_ii). The state's factor holds L (mean-field: diag(e^ω)); a negative
/// diagonal entry of a full-rank L is turned positive by flipping its column, which leaves LLᵀ unchanged. The running
/// averages s live in <see cref="GaussianParticleState.Optimizer"/>, so checkpoints and continued runs keep them.
/// Stan's stopping rule (relative ELBO change) is not used: the run loop's rules apply to every flow alike. Deviation
/// from Stan: η is fixed rather than chosen by Stan's 50-iteration trials.
/// </remarks>
public sealed class AdviFlow : IVariationalFlow<GaussianParticleState>
{
    private const double Alpha = 0.1, Tau = 1.0;
    private readonly ITarget _target;
    private readonly AdviOptions _options;
    private readonly int _d;
    private readonly double[] _epsilon, _zeta, _g, _gradMean, _gradScale, _meansBackup, _factorsBackup, _optimizerBackup;
    private readonly Xoshiro256StarStar _rngBackup = new(0);

    /// <summary>ADVI on <paramref name="target"/>.</summary>
    /// <exception cref="ArgumentException">Invalid options.</exception>
    public AdviFlow(ITarget target, AdviOptions? options = null)
    {
        _target = target ?? throw new ArgumentNullException(nameof(target));
        _options = options ?? new AdviOptions();
        _options.Validate();
        int d = _d = target.Dimension;
        _epsilon = new double[d];
        _zeta = new double[d];
        _g = new double[d];
        _gradMean = new double[d];
        _gradScale = new double[_options.Family == AdviFamily.MeanField ? d : d * d];
        _meansBackup = new double[d];
        _factorsBackup = new double[d * d];
        _optimizerBackup = new double[d + _gradScale.Length];
    }

    /// <inheritdoc/>
    public string Name => _options.Family == AdviFamily.MeanField ? "advi-mf" : "advi-fr";

    /// <inheritdoc/>
    public StepInfo Step(GaussianParticleState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        int d = _d;
        if (state.ComponentCount != 1 || state.Dimension != d)
            throw new ArgumentException($"ADVI fits one Gaussian in dimension {d}; the state has {state.ComponentCount} particles in dimension {state.Dimension}.");
        bool meanField = _options.Family == AdviFamily.MeanField;
        int scaleCount = _gradScale.Length;
        if (state.Optimizer.Length != d + scaleCount) state.Optimizer = new double[d + scaleCount];
        long iteration = state.Iteration + 1;
        double[] l = state.Factors;
        _rngBackup.CopyFrom(state.Rng);
        Array.Clear(_gradMean);
        Array.Clear(_gradScale);
        double logPiSum = 0;
        int m = _options.GradientDraws;
        for (int draw = 0; draw < m; draw++)
        {
            state.Rng.FillStandardNormal(_epsilon);
            Dense.MultiplyLower(l, d, _epsilon, _zeta);
            TensorPrimitives.Add(_zeta, state.Means, _zeta);
            double logPi = _target.LogDensityAndGradient(_zeta, _g);
            if (!double.IsFinite(logPi) || !TensorPrimitives.IsFiniteAll<double>(_g))
            {
                state.Rng.CopyFrom(_rngBackup);
                throw new TargetEvaluationException($"target '{_target.Name}' returned a non-finite value at x = {TargetEvaluator.Format(_zeta)}");
            }
            logPiSum += logPi;
            TensorPrimitives.MultiplyAdd(_g, 1.0 / m, _gradMean, _gradMean);
            if (meanField)
                for (int i = 0; i < d; i++) _gradScale[i] += _g[i] * _epsilon[i] * l[i * d + i] / m;
            else
                for (int i = 0; i < d; i++)
                    for (int j = 0; j <= i; j++) _gradScale[i * d + j] += _g[i] * _epsilon[j] / m;
        }
        // Entropy: Σ log|L_ii| (+ constants): ∂/∂ω_i = 1, ∂/∂L_ii = 1/L_ii.
        double logDet = 0;
        for (int i = 0; i < d; i++)
        {
            double lii = l[i * d + i];
            logDet += Math.Log(Math.Abs(lii));
            if (meanField) _gradScale[i] += 1;
            else _gradScale[i * d + i] += 1 / lii;
        }
        double objective = -(logPiSum / m + 0.5 * d * (1 + Math.Log(2 * Math.PI)) + logDet);

        // Kept so that a failed update leaves the state as it was.
        state.Means.CopyTo(_meansBackup, 0);
        l.CopyTo(_factorsBackup, 0);
        state.Optimizer.CopyTo(_optimizerBackup, 0);

        // Stan's sequence: s ← g² at the first step, then α g² + (1 − α) s; ρ = η k^{−1/2+1e−16} / (τ + √s).
        Span<double> s = state.Optimizer;
        double decay = _options.Eta * Math.Pow(iteration, -0.5 + 1e-16);
        double change = 0;
        for (int i = 0; i < d; i++)
        {
            double g = _gradMean[i];
            s[i] = iteration == 1 ? g * g : Alpha * g * g + (1 - Alpha) * s[i];
            double step = decay / (Tau + Math.Sqrt(s[i])) * g;
            state.Means[i] += step;
            change += step * step;
        }
        for (int k = 0; k < scaleCount; k++)
        {
            if (!meanField && k % d > k / d) continue; // above the diagonal of L
            double g = _gradScale[k];
            ref double sk = ref s[d + k];
            sk = iteration == 1 ? g * g : Alpha * g * g + (1 - Alpha) * sk;
            double step = decay / (Tau + Math.Sqrt(sk)) * g;
            change += step * step;
            if (meanField) l[k * d + k] = Math.Exp(Math.Log(l[k * d + k]) + step);
            else l[k] += step;
        }
        if (!meanField)
            for (int j = 0; j < d; j++)
                if (l[j * d + j] < 0)
                    for (int i = j; i < d; i++) l[i * d + j] = -l[i * d + j];
        bool valid = TensorPrimitives.IsFiniteAll<double>(state.Means) && TensorPrimitives.IsFiniteAll<double>(l);
        for (int i = 0; i < d && valid; i++) valid = l[i * d + i] > 0;
        if (!valid)
        {
            state.Rng.CopyFrom(_rngBackup);
            _meansBackup.CopyTo(state.Means, 0);
            _factorsBackup.CopyTo(l, 0);
            _optimizerBackup.CopyTo(state.Optimizer, 0);
            throw new FlowDivergedException($"iteration {iteration}: ADVI's Gaussian left the valid set (a non-finite or zero scale; lower η)", iteration, 0);
        }
        state.Iteration = iteration;
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
