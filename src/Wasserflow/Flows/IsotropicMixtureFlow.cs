using System.Globalization;
using System.Numerics.Tensors;
using Wasserflow.Diagnostics;
using Wasserflow.Expectations;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Flows;

/// <summary>Settings of <see cref="IsotropicMixtureFlow"/>.</summary>
/// <param name="StepSize">γ. Range: γ &gt; 0 (paper 000, Table 1: 0.1 in 2-D, 10⁻² to 10⁻³ in higher dimension).</param>
/// <param name="SamplesPerComponent">B, Monte Carlo draws per component and step (paper: 10). Range: ≥ 1.</param>
/// <param name="CommonRandomNumbers">Share one set of standard normals across components within a step.</param>
/// <param name="MaxDegreeOfParallelism">Threads (1: the calling thread only; the numbers do not depend on it).</param>
/// <param name="StepControl">Per-component backtracking on extreme draws: when a component's update would leave the
/// valid set (variance ≤ 0 or non-finite) or make a move no single step of a stable run makes (variance changed by more
/// than a factor <see cref="MaxVarianceRatio"/>, or mean moved more than <see cref="MaxMeanMove"/> of the component's
/// standard deviations √(dε)), that component's step is halved (same gradient draws) until it is acceptable, at most 30
/// times. Off: the raw update, and invalid values stop the run.</param>
public sealed record IsotropicMixtureFlowOptions(
    double StepSize = 0.1,
    int SamplesPerComponent = 10,
    bool CommonRandomNumbers = false,
    int MaxDegreeOfParallelism = 1,
    bool StepControl = true)
{
    /// <summary>Largest factor by which step control lets one step change a variance (up or down).</summary>
    public const double MaxVarianceRatio = 10.0;

    /// <summary>Largest mean move per step under step control, in units of the component's √(dε).</summary>
    public const double MaxMeanMove = 10.0;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (!(StepSize > 0) || !double.IsFinite(StepSize))
            throw new ArgumentException($"step size must be > 0 and finite, got {StepSize.ToString(CultureInfo.InvariantCulture)}", nameof(StepSize));
        if (SamplesPerComponent < 1)
            throw new ArgumentException($"samples per component must be ≥ 1, got {SamplesPerComponent}", nameof(SamplesPerComponent));
        if (MaxDegreeOfParallelism < 1)
            throw new ArgumentException($"max degree of parallelism must be ≥ 1, got {MaxDegreeOfParallelism}", nameof(MaxDegreeOfParallelism));
    }
}

/// <summary>
/// Variational inference with a uniform mixture of N isotropic Gaussians (paper 000, Algorithm 1 [PetitTalamon2025]):
/// each step estimates the KL gradients of all components in one pass
/// (<see cref="IsotropicMixtureGradientEstimator"/>) and applies an <see cref="IsotropicMixtureUpdateRule"/> (IBW, MD,
/// GD or NGD).
/// </summary>
/// <remarks>
/// <para><b>Arguments</b>: a target, an update rule, the number of components N and the options.</para>
/// <para><b>Output</b>: the state's means and variances (<see cref="IsotropicMixtureState.ToMixture"/>).</para>
/// <para><b>Observer info</b>: <see cref="StepInfo"/> with the step's KL estimate (from the gradient draws) and step norm.</para>
/// <para><b>Requirements</b>: log density and gradient of the target. Cost per step O(N²·B·d) plus N·B gradient
/// evaluations. A step allocates nothing on the single-threaded path.</para>
/// <para><b>Failure</b>: an update giving a non-positive or non-finite variance, or a non-finite mean, throws
/// <see cref="FlowDivergedException"/> and leaves the state unchanged.</para>
/// </remarks>
public sealed class IsotropicMixtureFlow : IVariationalFlow<IsotropicMixtureState>
{
    private readonly ITarget _target;
    private readonly IsotropicMixtureUpdateRule _rule;
    private readonly IsotropicMixtureFlowOptions _options;
    private readonly IsotropicMixtureGradientEstimator _estimator;
    private readonly double[] _gradMeans, _gradVariances, _nextMeans, _nextVariances;

    /// <summary>A flow for N-component mixtures on <paramref name="target"/>.</summary>
    public IsotropicMixtureFlow(ITarget target, IsotropicMixtureUpdateRule rule, int components, IsotropicMixtureFlowOptions? options = null)
    {
        _target = target ?? throw new ArgumentNullException(nameof(target));
        _rule = rule ?? throw new ArgumentNullException(nameof(rule));
        _options = options ?? new IsotropicMixtureFlowOptions();
        _options.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(components, 1);
        Components = components;
        int d = target.Dimension;
        _estimator = new IsotropicMixtureGradientEstimator(target, components, _options.SamplesPerComponent,
            _options.CommonRandomNumbers, _options.MaxDegreeOfParallelism);
        _gradMeans = new double[components * d];
        _gradVariances = new double[components];
        _nextMeans = new double[components * d];
        _nextVariances = new double[components];
    }

    /// <inheritdoc/>
    public string Name => _rule.Name;

    /// <summary>N.</summary>
    public int Components { get; }

    /// <summary>The settings.</summary>
    public IsotropicMixtureFlowOptions Options => _options;

    /// <summary>The target.</summary>
    public ITarget Target => _target;

    /// <inheritdoc/>
    public StepInfo Step(IsotropicMixtureState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        int n = Components, d = _target.Dimension;
        if (state.ComponentCount != n || state.Dimension != d)
            throw new ArgumentException($"state has {state.ComponentCount} components in dimension {state.Dimension}; the flow expects {n} in dimension {d}.", nameof(state));
        double objective = _estimator.Estimate(state.Means, state.Variances, state.Rng, _gradMeans, _gradVariances);
        long iteration = state.Iteration + 1;
        for (int i = 0; i < n; i++)
        {
            Span<double> newMean = _nextMeans.AsSpan(i * d, d);
            ReadOnlySpan<double> mean = state.Means.AsSpan(i * d, d);
            double variance = state.Variances[i], gamma = _options.StepSize;
            double v = _rule.Update(mean, variance, _gradMeans.AsSpan(i * d, d), _gradVariances[i], gamma, n, newMean);
            for (int halvings = 0; _options.StepControl && halvings < 30 && !Acceptable(v, variance, mean, newMean); halvings++)
            {
                gamma *= 0.5;
                state.StepReductions++;
                v = _rule.Update(mean, variance, _gradMeans.AsSpan(i * d, d), _gradVariances[i], gamma, n, newMean);
            }
            if (!(v > 0) || !double.IsFinite(v))
                throw new FlowDivergedException(
                    $"{_rule.Name.ToUpperInvariant()} produced variance {v.ToString("G6", CultureInfo.InvariantCulture)} for component {i} at iteration {iteration}; " +
                    "the step size is too large for this update (try a smaller --step-size)", iteration, i);
            if (!TargetEvaluator.AllFinite(newMean))
                throw new FlowDivergedException(
                    $"{_rule.Name.ToUpperInvariant()} produced a non-finite mean for component {i} at iteration {iteration}; try a smaller --step-size", iteration, i);
            _nextVariances[i] = v;
        }
        double stepNorm = Math.Sqrt(SquaredDistance(_nextMeans, state.Means) + SquaredDistance(_nextVariances, state.Variances));
        _nextMeans.CopyTo(state.Means, 0);
        _nextVariances.CopyTo(state.Variances, 0);
        state.Iteration = iteration;
        return new StepInfo(iteration, objective, stepNorm);
    }

    /// <inheritdoc/>
    public KlEstimate EstimateKl(IsotropicMixtureState state, Xoshiro256StarStar rng, int draws)
    {
        ArgumentNullException.ThrowIfNull(state);
        return KlEstimator.Estimate(state.ToMixture(), _target, rng, draws);
    }

    private static bool Acceptable(double newVariance, double variance, ReadOnlySpan<double> mean, ReadOnlySpan<double> newMean)
    {
        if (!(newVariance > 0) || !double.IsFinite(newVariance) || !TargetEvaluator.AllFinite(newMean)) return false;
        double ratio = newVariance / variance;
        if (ratio > IsotropicMixtureFlowOptions.MaxVarianceRatio || ratio < 1.0 / IsotropicMixtureFlowOptions.MaxVarianceRatio) return false;
        double move = Math.Sqrt(SquaredDistance(newMean, mean));
        return move <= IsotropicMixtureFlowOptions.MaxMeanMove * Math.Sqrt(mean.Length * variance);
    }

    private static double SquaredDistance(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) { double t = a[i] - b[i]; s += t * t; }
        return s;
    }
}
