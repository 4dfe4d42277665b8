using System.Globalization;
using System.Numerics.Tensors;
using Wasserflow.Diagnostics;
using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;
using Wasserflow.Running;
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
/// Stan's choice of η is <see cref="AdaptEta"/>; Stan's stopping rule (relative ELBO change every 100 iterations) is
/// <see cref="RelativeToleranceRule"/>, given to the run loop like any other rule.
/// </remarks>
public sealed class AdviFlow : IVariationalFlow<GaussianParticleState>
{
    private const double Alpha = 0.1, Tau = 1.0;
    private readonly ITarget _target;
    private readonly AdviOptions _options;
    private readonly int _d;
    private readonly double[] _epsilon, _zeta, _g, _gradMean, _gradScale, _meansBackup, _factorsBackup, _optimizerBackup;
    private readonly Xoshiro256StarStar _rngBackup = new(0);

    // Stan's η trials treat a draw where the target fails as a zero gradient (the step is then only the decay of s).
    private bool _zeroFailedGradient;

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
        bool gradientFailed = false;
        int m = _options.GradientDraws;
        for (int draw = 0; draw < m; draw++)
        {
            state.Rng.FillStandardNormal(_epsilon);
            Dense.MultiplyLower(l, d, _epsilon, _zeta);
            TensorPrimitives.Add(_zeta, state.Means, _zeta);
            double logPi = Evaluate(_zeta, _g, out bool failed);
            if (failed && _zeroFailedGradient)
            {
                gradientFailed = true;
                break;
            }
            if (failed)
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
        if (gradientFailed)
        {
            Array.Clear(_gradMean);
            Array.Clear(_gradScale);
            objective = double.NaN;
        }

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

    private double Evaluate(ReadOnlySpan<double> x, Span<double> gradient, out bool failed)
    {
        double logPi;
        try
        {
            logPi = _target.LogDensityAndGradient(x, gradient);
        }
        catch (TargetEvaluationException) when (_zeroFailedGradient)
        {
            failed = true;
            return double.NaN;
        }
        failed = !double.IsFinite(logPi) || !TensorPrimitives.IsFiniteAll<double>(gradient);
        return logPi;
    }

    /// <summary>The step sizes η Stan tries, in its order.</summary>
    public static IReadOnlyList<double> EtaSequence { get; } = [100, 10, 1, 0.1, 0.01];

    /// <summary>
    /// Chooses η as Stan's <c>adapt_eta</c> does: from <paramref name="start"/>, runs <paramref name="iterations"/> steps
    /// with each η of <see cref="EtaSequence"/> in turn (the running averages s reset between trials, a draw where the
    /// target fails counting as a zero gradient), estimates the ELBO after each trial from <paramref name="elboDraws"/>
    /// draws (−∞ when the fit left the valid set or the target failed), and stops at the first η whose ELBO is worse than
    /// the previous η's while that one beat the start's ELBO, keeping the previous η. When the sequence runs out, the last
    /// η is kept if its ELBO beats the start's. Trial k draws from stream Mix(<paramref name="seed"/>, k), its ELBO from
    /// Mix(seed, 100 + k) and the start's ELBO from Mix(seed, 99), so the choice is reproducible and leaves
    /// <paramref name="start"/> untouched.
    /// </summary>
    /// <param name="target">The target.</param>
    /// <param name="options">The family and gradient draws (<see cref="AdviOptions.Eta"/> is not used).</param>
    /// <param name="start">Where every trial starts (Stan: the initial values, unit scales).</param>
    /// <param name="seed">Seed of the trials' random streams.</param>
    /// <param name="iterations">Steps per trial (Stan's adapt_iter, 50).</param>
    /// <param name="elboDraws">Draws per ELBO estimate (Stan's elbo_samples, 100).</param>
    /// <param name="cancellationToken">Stops the search between steps.</param>
    /// <exception cref="TargetEvaluationException">The ELBO of the start cannot be computed, or every η failed (Stan's two errors).</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static AdviEtaSearch AdaptEta(ITarget target, AdviOptions options, GaussianParticleState start, ulong seed,
        int iterations = 50, int elboDraws = 100, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(start);
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(elboDraws, 1);
        double initial = Elbo(target, start, Xoshiro256StarStar.Mix(seed, 99), elboDraws);
        if (!double.IsFinite(initial))
            throw new TargetEvaluationException($"ADVI cannot choose η: the ELBO of the initial Gaussian cannot be computed on target '{target.Name}'");
        var trials = new List<AdviEtaTrial>();
        double best = double.NegativeInfinity, bestEta = double.NaN;
        for (int k = 0; k < EtaSequence.Count; k++)
        {
            double eta = EtaSequence[k];
            var flow = new AdviFlow(target, options with { Eta = eta }) { _zeroFailedGradient = true };
            var state = new GaussianParticleState((double[])start.Means.Clone(), (double[])start.Factors.Clone(), (double[])start.Weights.Clone(), 0,
                new Xoshiro256StarStar(Xoshiro256StarStar.Mix(seed, (ulong)k)));
            double elbo;
            try
            {
                for (int t = 0; t < iterations; t++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    flow.Step(state);
                }
                elbo = Elbo(target, state, Xoshiro256StarStar.Mix(seed, 100 + (ulong)k), elboDraws);
            }
            catch (FlowDivergedException)
            {
                elbo = double.NegativeInfinity;
            }
            trials.Add(new AdviEtaTrial(eta, elbo));
            if (elbo < best && best > initial) return new AdviEtaSearch(bestEta, initial, trials);
            if (k < EtaSequence.Count - 1)
            {
                best = elbo;
                bestEta = eta;
            }
            else if (elbo > initial) return new AdviEtaSearch(eta, initial, trials);
        }
        throw new TargetEvaluationException($"ADVI cannot choose η: every step size in {{{string.Join(", ", EtaSequence.Select(e => e.ToString(CultureInfo.InvariantCulture)))}}} failed to improve the ELBO of the initial Gaussian ({initial.ToString("G6", CultureInfo.InvariantCulture)}) on target '{target.Name}'; the model may be ill-conditioned or misspecified");
    }

    // The ELBO of one Gaussian state (−KL + log Z; the target's constant kept), −∞ where the target fails.
    private static double Elbo(ITarget target, GaussianParticleState state, ulong stream, int draws)
    {
        try
        {
            KlEstimate kl = KlEstimator.Estimate(state.ToMixture(), target, new Xoshiro256StarStar(stream), draws);
            double elbo = (target.LogNormalizer ?? 0.0) - kl.Value;
            return double.IsNaN(elbo) ? double.NegativeInfinity : elbo;
        }
        catch (TargetEvaluationException)
        {
            return double.NegativeInfinity;
        }
    }

    /// <inheritdoc/>
    public KlEstimate EstimateKl(GaussianParticleState state, Xoshiro256StarStar rng, int draws)
    {
        ArgumentNullException.ThrowIfNull(state);
        return KlEstimator.Estimate(state.ToMixture(), _target, rng, draws);
    }
}

/// <summary>One trial of <see cref="AdviFlow.AdaptEta"/>.</summary>
/// <param name="Eta">The η tried.</param>
/// <param name="Elbo">The ELBO after the trial's steps; −∞ when the fit left the valid set or the target failed.</param>
public readonly record struct AdviEtaTrial(double Eta, double Elbo);

/// <summary>The outcome of <see cref="AdviFlow.AdaptEta"/>.</summary>
/// <param name="Eta">The η chosen.</param>
/// <param name="InitialElbo">The ELBO of the start.</param>
/// <param name="Trials">Every trial run, in order.</param>
public sealed record AdviEtaSearch(double Eta, double InitialElbo, IReadOnlyList<AdviEtaTrial> Trials);
