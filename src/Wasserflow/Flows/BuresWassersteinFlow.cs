using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Wasserflow.Diagnostics;
using Wasserflow.Expectations;
using Wasserflow.Families;
using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Flows;

/// <summary>How the Bures–Wasserstein ODE is integrated in time.</summary>
public enum OdeIntegrator
{
    /// <summary>Classical fourth-order Runge–Kutta on the stacked square-root state (paper 002, Appendix I.2).</summary>
    RungeKutta4,
    /// <summary>Explicit Euler on the same state.</summary>
    Euler,
}

/// <summary>How the particles' weights evolve.</summary>
public enum ParticleWeighting
{
    /// <summary>Fixed uniform weights 1/K (paper 002, Section 5.2).</summary>
    Uniform,
    /// <summary>Wasserstein–Fisher–Rao: r_k = √w_k follows ṙ_k = −(E_k − Σ_j w_j E_j) r_k (paper 002, Appendix H).</summary>
    WassersteinFisherRao,
}

/// <summary>Settings of <see cref="BuresWassersteinFlow"/>.</summary>
/// <param name="StepSize">h, the integration step. Range: h &gt; 0 (paper: 0.1; 1 also works in 2-D).</param>
/// <param name="Integrator">RK4 (default) or explicit Euler.</param>
/// <param name="Expectation">Cubature (default) or Monte Carlo with B draws per particle.</param>
/// <param name="Weighting">Uniform (default) or Wasserstein–Fisher–Rao weights.</param>
/// <param name="StabilityControl">Split a step into equal sub-steps when h·μ exceeds the stability limit of the
/// integrator, μ = 2·λmax of the target's expected Hessian estimated from the step's own points (Stein's identity).
/// Keeps the time grid; the count of sub-steps is in <see cref="GaussianParticleState.Substeps"/>.</param>
/// <param name="GaussianFormForSingleParticle">With one particle and uniform weights, use Eq 4's exact 2I term
/// instead of the mixture score (the same flow; lower Monte Carlo variance). False runs the general mixture field.</param>
/// <param name="MaxDegreeOfParallelism">Threads: over particles when K &gt; 1, over the expectation points when K = 1
/// (1: the calling thread only; the numbers do not depend on it).</param>
/// <param name="Hessian">One Gaussian only: take E[∇²log pi] from the target's mean Hessian over the step's points
/// (<see cref="ITargetWithMeanHessian"/>) instead of Stein's E[∇log pi ξᵀ]R⁻¹ — the two agree exactly for a Gaussian
/// target under cubature; on other targets the Hessian form has less noise for the same points.</param>
public sealed record BuresWassersteinFlowOptions(
    double StepSize = 0.1,
    OdeIntegrator Integrator = OdeIntegrator.RungeKutta4,
    GaussianExpectation? Expectation = null,
    ParticleWeighting Weighting = ParticleWeighting.Uniform,
    bool StabilityControl = true,
    bool GaussianFormForSingleParticle = true,
    int MaxDegreeOfParallelism = 1,
    bool Hessian = false)
{
    /// <summary>The expectation rule in use (cubature when not set).</summary>
    public GaussianExpectation ExpectationRule => Expectation ?? GaussianExpectation.Cubature;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (!(StepSize > 0) || !double.IsFinite(StepSize))
            throw new ArgumentException($"step size must be > 0 and finite, got {StepSize.ToString(CultureInfo.InvariantCulture)}", nameof(StepSize));
        ExpectationRule.Validate();
        if (MaxDegreeOfParallelism < 1)
            throw new ArgumentException($"max degree of parallelism must be ≥ 1, got {MaxDegreeOfParallelism}", nameof(MaxDegreeOfParallelism));
    }
}

/// <summary>
/// Gaussian VI and mixtures of Gaussian particles as Bures–Wasserstein gradient flows of KL(·‖pi) (paper 002
/// [Lambert2022], Eq 4 and Eq 11–12 in the Hessian-free form of Appendix J.2.1), integrated by RK4 or Euler on the
/// stacked square-root state [m_1..m_K, R_1..R_K (, r_1..r_K)], with uniform or Wasserstein–Fisher–Rao weights.
/// </summary>
/// <remarks>
/// <para><b>Field</b>: for particle k with Y = m_k + R_k ξ and s = ∇log p − ∇log pi,
/// ṁ_k = −E s(Y), Σ̇_k = −E[s (Y − m_k)ᵀ + (Y − m_k) sᵀ], and Ṙ_k = R_k Tria(R_k⁻¹ Σ̇_k R_k⁻ᵀ) where
/// R_k⁻¹ Σ̇_k R_k⁻ᵀ = −E[u ξᵀ + ξ uᵀ], u = R_k⁻¹ s. One Gaussian: ṁ = E∇log pi, Σ̇ = 2I + E[∇log pi (Y − m)ᵀ + …].</para>
/// <para><b>Output</b>: the state's particles (<see cref="GaussianParticleState.ToMixture"/>, <see cref="GaussianParticleState.Particle"/>).</para>
/// <para><b>Requirements</b>: log density and gradient of the target. Cost per field evaluation: K·P target gradients
/// (P = 2d for cubature) plus O(K²·P·d²) for the mixture score and O(K·d³) for the factor inverses. A step allocates
/// nothing on the single-threaded path.</para>
/// <para><b>Failure</b>: a non-finite value or a factor losing its positive diagonal throws
/// <see cref="FlowDivergedException"/> (naming the iteration and the particle) and leaves the state unchanged.</para>
/// </remarks>
public sealed class BuresWassersteinFlow : IVariationalFlow<GaussianParticleState>
{
    /// <summary>RK4's stability interval on the negative real axis is about [−2.785, 0]; we keep a margin.</summary>
    internal const double StabilityLimitRk4 = 2.5;

    /// <summary>Explicit Euler is stable for h·μ ≤ 2; with a margin.</summary>
    internal const double StabilityLimitEuler = 1.8;

    private const int MaxSubsteps = 1024;

    private readonly ITarget _target;
    private readonly BuresWassersteinFlowOptions _options;
    private readonly GaussianExpectation _rule;
    private readonly int _k, _d, _p;
    private readonly bool _gaussianForm, _wfr, _cubature;
    private readonly int _stateLength;
    private readonly double[] _y, _k1, _k1Start, _k2, _k3, _k4, _stage;
    private readonly double[] _xi, _points, _gradients, _logPi, _logP, _scores, _inverse, _matrix, _u, _v, _c, _energies;
    private readonly double[] _kernelScratch, _power;
    private readonly FullMixtureKernel _kernel;
    private readonly ITargetWithMeanHessian? _meanHessian;
    private readonly ILinearPredictorTarget? _linear;
    private readonly double[] _directions = [], _predictors = [], _linearScratch = [], _pulled = [];
    private readonly double[] _hessian = [];
    private readonly double[] _weightsBuffer;
    private readonly Xoshiro256StarStar _rngBackup = new(0);
    private long _currentIteration;
    private double _lastObjective;

    /// <summary>A flow for K-particle states on <paramref name="target"/>.</summary>
    /// <exception cref="ArgumentException">Invalid options or K &lt; 1.</exception>
    public BuresWassersteinFlow(ITarget target, int particles, BuresWassersteinFlowOptions? options = null)
    {
        _target = target ?? throw new ArgumentNullException(nameof(target));
        _options = options ?? new BuresWassersteinFlowOptions();
        _options.Validate();
        if (particles < 1) throw new ArgumentException($"the number of particles must be ≥ 1, got {particles}.", nameof(particles));
        _rule = _options.ExpectationRule;
        _k = particles;
        _d = target.Dimension;
        _p = _rule.PointCount(_d);
        _wfr = _options.Weighting == ParticleWeighting.WassersteinFisherRao;
        _cubature = _rule.Kind == GaussianExpectationKind.Cubature;
        _gaussianForm = particles == 1 && !_wfr && _options.GaussianFormForSingleParticle;
        if (_options.Hessian)
        {
            if (!_gaussianForm) throw new ArgumentException("the Hessian form applies to one Gaussian (K = 1, uniform weights, Gaussian form).", nameof(options));
            _meanHessian = target as ITargetWithMeanHessian is { HasMeanHessian: true } h ? h
                : throw new ArgumentException($"the Hessian form needs a target with a mean Hessian, and '{target.Name}' has none.", nameof(options));
            _hessian = new double[2 * _d * _d];
        }
        int k = _k, d = _d, p = _p;
        _stateLength = k * d + k * d * d + (_wfr ? k : 0);
        _y = new double[_stateLength];
        _k1 = new double[_stateLength];
        _k1Start = new double[_stateLength];
        _k2 = new double[_stateLength];
        _k3 = new double[_stateLength];
        _k4 = new double[_stateLength];
        _stage = new double[_stateLength];
        _xi = new double[p * d];
        _points = new double[k * p * d];
        _gradients = new double[k * p * d];
        _scores = new double[k * p * d];
        _logPi = new double[k * p];
        _logP = new double[k * p];
        _inverse = new double[k * d * d];
        _matrix = new double[k * d * d];
        _c = new double[k * d * d];
        _u = new double[k * p * d];
        _v = new double[k * p * d];
        _energies = new double[k];
        _weightsBuffer = new double[k];
        _kernel = new FullMixtureKernel(k, d);
        _kernelScratch = new double[k * FullMixtureKernel.ScratchLength(k, d)];
        _power = new double[k * 2 * d];
        if (_gaussianForm && _cubature && _meanHessian is null && target is ILinearPredictorTarget { HasLinearPredictors: true } linear && d >= LinearPredictorMinimumDimension)
        {
            _linear = linear;
            int rows = LinearPredictorRowsPerBlock(d, linear.PredictorCount);
            _directions = new double[(d + 1) * d];
            _predictors = new double[(d + 2) * rows];
            _linearScratch = new double[Math.Max(4 * rows, d)];
            _pulled = new double[(d + 1) * d];
        }
    }

    /// <inheritdoc/>
    public string Name => _options.Weighting == ParticleWeighting.WassersteinFisherRao ? "bw-wfr" : _k == 1 ? "bw-gaussian" : "bw-particles";

    /// <summary>The options in use.</summary>
    public BuresWassersteinFlowOptions Options => _options;

    /// <inheritdoc/>
    public StepInfo Step(GaussianParticleState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        CheckState(state);
        _currentIteration = state.Iteration + 1;
        Pack(state, _y);
        // Monte Carlo points are drawn once per step and shared by its stages (and sub-steps), so the step integrates
        // one smooth field; a failed step puts the RNG back where it was.
        _rngBackup.CopyFrom(state.Rng);
        try
        {
            return Advance(state);
        }
        catch
        {
            state.Rng.CopyFrom(_rngBackup);
            throw;
        }
    }

    private StepInfo Advance(GaussianParticleState state)
    {
        _rule.FillStandardPoints(_xi, _d, state.Rng);

        double h = _options.StepSize;
        double mu = Field(_y, _k1, estimateStiffness: _options.StabilityControl, values: true);
        double objective = _lastObjective;
        double limit = _options.Integrator == OdeIntegrator.RungeKutta4 ? StabilityLimitRk4 : StabilityLimitEuler;
        int substeps = _options.StabilityControl && h * mu > limit ? (int)Math.Min(MaxSubsteps, Math.Ceiling(h * mu / limit)) : 1;
        if (substeps >= MaxSubsteps)
            throw new FlowDivergedException(
                $"iteration {_currentIteration}: the flow is too stiff for step {h.ToString("G3", CultureInfo.InvariantCulture)} " +
                $"(estimated stiffness {mu.ToString("G3", CultureInfo.InvariantCulture)} would need more than {MaxSubsteps} sub-steps)",
                _currentIteration, 0);
        _k1.CopyTo(_k1Start, 0);
        // Step rejection: a sub-step that leaves the valid set (a factor's diagonal crossing zero in a stage, a
        // non-finite value) is retried from the step's start with twice as many sub-steps, when control is on.
        while (true)
        {
            try
            {
                Integrate(substeps, h / substeps);
                break;
            }
            catch (FlowDivergedException) when (_options.StabilityControl && substeps * 2 <= MaxSubsteps)
            {
                Pack(state, _y);
                _k1Start.CopyTo(_k1, 0);
                substeps *= 2;
            }
        }

        double stepNorm = Unpack(_y, state);
        state.Iteration = _currentIteration;
        state.Time += h;
        state.Substeps += substeps;
        return new StepInfo(state.Iteration, objective, stepNorm);
    }

    private void Integrate(int substeps, double dt)
    {
        for (int s = 0; s < substeps; s++)
        {
            if (s > 0) Field(_y, _k1, estimateStiffness: false, values: false);
            if (_options.Integrator == OdeIntegrator.Euler)
            {
                TensorPrimitives.MultiplyAdd(_k1, dt, _y, _y);
            }
            else
            {
                TensorPrimitives.MultiplyAdd(_k1, dt / 2, _y, _stage);
                Field(_stage, _k2, false, false);
                TensorPrimitives.MultiplyAdd(_k2, dt / 2, _y, _stage);
                Field(_stage, _k3, false, false);
                TensorPrimitives.MultiplyAdd(_k3, dt, _y, _stage);
                Field(_stage, _k4, false, false);
                // y += dt/6 (k1 + 2k2 + 2k3 + k4)
                TensorPrimitives.Add(_k2, _k3, _k2);
                TensorPrimitives.MultiplyAdd(_k2, 2.0, _k1, _k1);
                TensorPrimitives.Add(_k1, _k4, _k1);
                TensorPrimitives.MultiplyAdd(_k1, dt / 6, _y, _y);
            }
            Validate(_y);
        }
    }

    /// <inheritdoc/>
    public KlEstimate EstimateKl(GaussianParticleState state, Xoshiro256StarStar rng, int draws)
    {
        ArgumentNullException.ThrowIfNull(state);
        return KlEstimator.Estimate(state.ToMixture(), _target, rng, draws);
    }

    /// <summary>
    /// Evaluates the field at y into dy; returns the stiffness estimate μ = 2·max_k |λmax(C_k)| with
    /// C_k = −R_k⁻¹ E[∇log pi(Y) ξᵀ] (similar to E∇²V by Stein's identity) when asked, else 0. Without
    /// <paramref name="values"/> a path that can skip log pi (the linear-predictor one) does, and the particles' energies
    /// (the reported objective) stay those of the last evaluation with values: the inner RK4 stages need only the field.
    /// </summary>
    private double Field(double[] y, double[] dy, bool estimateStiffness, bool values)
    {
        int k = _k, d = _d;
        ReadOnlySpan<double> means = y.AsSpan(0, k * d);
        ReadOnlySpan<double> factors = y.AsSpan(k * d, k * d * d);
        Span<double> weights = _weightsBuffer;
        if (_wfr)
        {
            ReadOnlySpan<double> r = y.AsSpan(k * d + k * d * d, k);
            double total = LinearAlgebra.Reductions.SumOfSquares(r);
            for (int j = 0; j < k; j++) weights[j] = r[j] * r[j] / total;
        }
        else weights.Fill(1.0 / k);

        for (int j = 0; j < k; j++)
        {
            ReadOnlySpan<double> rj = factors.Slice(j * d * d, d * d);
            for (int i = 0; i < d; i++)
                if (!(rj[i * d + i] > 0))
                    throw new FlowDivergedException(
                        $"iteration {_currentIteration}: particle {j}'s covariance factor lost its positive diagonal (step too large?)",
                        _currentIteration, j);
            Dense.InvertLower(rj, d, _inverse.AsSpan(j * d * d, d * d));
        }
        if (!_gaussianForm && !_kernel.Prepare(means, factors, weights))
            throw new FlowDivergedException($"iteration {_currentIteration}: a particle's covariance became singular", _currentIteration, 0);

        if (_options.MaxDegreeOfParallelism > 1 && k > 1)
            ParallelParticleFields(y, dy, values);
        else
            for (int j = 0; j < k; j++) ParticleField(j, y, dy, values);

        double objective = 0;
        for (int j = 0; j < k; j++) objective += weights[j] * _energies[j];
        _lastObjective = objective;
        if (_wfr)
        {
            ReadOnlySpan<double> r = y.AsSpan(k * d + k * d * d, k);
            Span<double> rdot = dy.AsSpan(k * d + k * d * d, k);
            for (int j = 0; j < k; j++) rdot[j] = -(_energies[j] - objective) * r[j];
        }

        if (!estimateStiffness) return 0.0;
        double mu = 0;
        for (int j = 0; j < k; j++) mu = Math.Max(mu, 2.0 * SpectralRadius(_c.AsSpan(j * d * d, d * d), _power.AsSpan(j * 2 * d, 2 * d)));
        return mu;
    }

    // C = −R⁻¹ H̄ R with H̄ the target's mean Hessian over the points: what Stein's −(1/P) Σ v_n ξ_nᵀ estimates
    // (E[∇log pi(m + Rξ) ξᵀ] = E[∇²log pi] R). Row i of H̄R is Σ_k H̄_ik (row k of R); row i of R⁻¹T is Σ_{k ≤ i} inv_ik (row k of T).
    private void HessianForm(ReadOnlySpan<double> points, ReadOnlySpan<double> r, ReadOnlySpan<double> inv, Span<double> c)
    {
        int d = _d;
        Span<double> h = _hessian.AsSpan(0, d * d), t = _hessian.AsSpan(d * d, d * d);
        _meanHessian!.MeanHessian(points, _p, h);
        t.Clear();
        for (int i = 0; i < d; i++)
            for (int k = 0; k < d; k++)
            {
                double hik = h[i * d + k];
                if (hik != 0) TensorPrimitives.MultiplyAdd(r.Slice(k * d, k + 1), hik, t.Slice(i * d, k + 1), t.Slice(i * d, k + 1));
            }
        c[..(d * d)].Clear();
        for (int i = 0; i < d; i++)
            for (int k = 0; k <= i; k++)
            {
                double ik = -inv[i * d + k];
                if (ik != 0) TensorPrimitives.MultiplyAdd(t.Slice(k * d, d), ik, c.Slice(i * d, d), c.Slice(i * d, d));
            }
    }

    // Kept out of Field: a lambda capturing y and dy there would allocate its closure on every call, parallel or not.
    private void ParallelParticleFields(double[] y, double[] dy, bool values) =>
        Parallel.For(0, _k, new ParallelOptions { MaxDegreeOfParallelism = _options.MaxDegreeOfParallelism }, j => ParticleField(j, y, dy, values));

    private void ParticleField(int j, double[] y, double[] dy, bool values)
    {
        int k = _k, d = _d, p = _p;
        ReadOnlySpan<double> m = y.AsSpan(j * d, d);
        ReadOnlySpan<double> r = y.AsSpan(k * d + j * d * d, d * d);
        ReadOnlySpan<double> inv = _inverse.AsSpan(j * d * d, d * d);
        Span<double> points = _points.AsSpan(j * p * d, p * d);
        Span<double> grads = _gradients.AsSpan(j * p * d, p * d);
        Span<double> logPi = _logPi.AsSpan(j * p, p);
        Span<double> logP = _logP.AsSpan(j * p, p);
        Span<double> scores = _scores.AsSpan(j * p * d, p * d);
        Span<double> u = _u.AsSpan(j * p * d, p * d);
        Span<double> v = _v.AsSpan(j * p * d, p * d);
        Span<double> a = _matrix.AsSpan(j * d * d, d * d);
        Span<double> c = _c.AsSpan(j * d * d, d * d);
        Span<double> scratch = _kernelScratch.AsSpan(j * FullMixtureKernel.ScratchLength(k, d), FullMixtureKernel.ScratchLength(k, d));

        Span<double> mdot = dy.AsSpan(j * d, d);
        bool linear = _linear is not null && LinearPredictorField(m, r, inv, logPi, c, mdot, values);
        if (!linear)
        {
            if (_cubature)
            {
                // x_{±i} = m ± √d R e_i: columns of R, O(P·d) instead of O(P·d²).
                double root = Math.Sqrt(d);
                for (int i = 0; i < d; i++)
                {
                    Span<double> plus = points.Slice(i * d, d), minus = points.Slice((d + i) * d, d);
                    for (int row = 0; row < d; row++)
                    {
                        double rc = row >= i ? root * r[row * d + i] : 0.0;
                        plus[row] = m[row] + rc;
                        minus[row] = m[row] - rc;
                    }
                }
            }
            else
            {
                for (int n = 0; n < p; n++)
                {
                    Span<double> x = points.Slice(n * d, d);
                    Dense.MultiplyLower(r, d, _xi.AsSpan(n * d, d), x);
                    TensorPrimitives.Add(x, m, x);
                }
            }
            if (k == 1 && _options.MaxDegreeOfParallelism > 1)
                TargetEvaluator.LogDensityAndGradient(_target, _points, 0, p, _logPi, 0, _gradients, _options.MaxDegreeOfParallelism);
            else
                TargetEvaluator.LogDensityAndGradient(_target, points, p, logPi, grads);

            if (_meanHessian is not null) HessianForm(points, r, inv, c);
            else
            {
                // v_n = R⁻¹ ∇log pi(x_n);  C = −(1/P) Σ v_n ξ_nᵀ.
                // Four points at a time through the register-blocked kernel (it ignores R⁻¹'s zero upper triangle: twice the
                // multiply-adds of a triangular product, but vectorised and blocked).
                int blocked = p - p % 4;
                for (int n = 0; n < blocked; n += 4)
                    Dense.RowDots(inv, d, d, grads.Slice(n * d, 4 * d), 4, v.Slice(n * d, 4 * d));
                for (int n = blocked; n < p; n++) Dense.MultiplyLower(inv, d, grads.Slice(n * d, d), v.Slice(n * d, d));
                OuterSum(v, p, d, -1.0 / p, c);
            }
        }

        Span<double> rdot = dy.AsSpan(k * d + j * d * d, d * d);
        double energy = 0;
        if (_gaussianForm)
        {
            // ṁ = E∇log pi;  R⁻¹Σ̇R⁻ᵀ = 2R⁻¹R⁻ᵀ − C − Cᵀ.
            if (!linear)
            {
                mdot.Clear();
                for (int n = 0; n < p; n++) TensorPrimitives.Add(mdot, grads.Slice(n * d, d), mdot);
                TensorPrimitives.Multiply(mdot, 1.0 / p, mdot);
            }
            // (R⁻¹R⁻ᵀ)_{row,col} = inv_row · inv_col (lower triangle only), then A's lower triangle in place.
            Dense.LowerGram(inv, d, a);
            for (int row = 0; row < d; row++)
                for (int col = 0; col <= row; col++)
                    a[row * d + col] = 2.0 * a[row * d + col] - c[row * d + col] - c[col * d + row];
            if (linear && !values) energy = _energies[j]; // log pi was not evaluated: the particle's energy is the last one computed
            else
            {
                double meanLogPi = LinearAlgebra.Reductions.Sum(logPi) / p;
                double logDet = 0;
                for (int i = 0; i < d; i++) logDet += Math.Log(r[i * d + i]);
                energy = -(0.5 * d * (1 + Math.Log(2 * Math.PI)) + logDet) - meanLogPi;
            }
        }
        else
        {
            // s_n = ∇log p(x_n) − ∇log pi(x_n); u_n = R⁻¹ s_n; ṁ = −(1/P)Σ s_n; R⁻¹Σ̇R⁻ᵀ = −(1/P)Σ(u ξᵀ + ξ uᵀ).
            for (int n = 0; n < p; n++)
            {
                Span<double> s = scores.Slice(n * d, d);
                logP[n] = _kernel.LogDensityAndScore(points.Slice(n * d, d), s, scratch);
                TensorPrimitives.Subtract(s, grads.Slice(n * d, d), s);
                Dense.MultiplyLower(inv, d, s, u.Slice(n * d, d));
                energy += logP[n] - logPi[n];
            }
            energy /= p;
            mdot.Clear();
            for (int n = 0; n < p; n++) TensorPrimitives.Subtract(mdot, scores.Slice(n * d, d), mdot);
            TensorPrimitives.Multiply(mdot, 1.0 / p, mdot);
            OuterSum(u, p, d, -1.0 / p, a);
            for (int row = 0; row < d; row++)
                for (int col = 0; col <= row; col++)
                    a[row * d + col] += a[col * d + row];
        }
        _energies[j] = energy;
        // Tria(A): lower triangle of the symmetric A with the diagonal halved (only the lower triangle of a is valid here).
        for (int row = 0; row < d; row++) a[row * d + row] *= 0.5;
        // Ṙ = R · Tria(A): both lower triangular, so the product is too (a's upper triangle is not valid and not read).
        Dense.MultiplyLowerLower(r, a, d, rdot);
    }

    // Below this dimension the linear-predictor path's per-point calls cost more than the products it saves (measured:
    // logistic d = 10, n = 50, no faster; d = 20 and 50, 1.2× faster per RK4 step; d = 100, 1.35×).
    private const int LinearPredictorMinimumDimension = 16;

    // Data rows per block of the linear-predictor path: about 64 KB of covariates (8,192 numbers), so a block's rows,
    // predictors and weights stay in the core's L2 cache (256 KB or more on current x64 cores) while the d + 1
    // directions go through them; a multiple of 4 (the kernels' lanes), at least 4.
    internal static int LinearPredictorRowsPerBlock(int d, int n) => Math.Min(n, Math.Max(4, 8192 / d / 4 * 4));

    // The Gaussian form's cubature expectations on a linear-predictor target (one Gaussian, P = 2d points
    // x_{±i} = m ± c_i, c_i = √d R e_i): the predictors of all 2d points from X m and X c_i (one product with d + 1
    // directions instead of 2d), the likelihood at each point, then E∇log pi = Xᵀ(Σ w)/P − λm and, for
    // C = −(1/P) Σ R⁻¹∇log pi(x_n) ξ_nᵀ, the differences ∇log pi(x_{+i}) − ∇log pi(x_{−i}) = Xᵀ(w_{+i} − w_{−i}) − 2λc_i
    // from a second product with d + 1 weight vectors: about half the multiply-adds of the point-by-point path, and a
    // d×d R⁻¹ product per direction pair instead of per point. Both products go through the data in blocks of rows
    // (LinearPredictorRowsPerBlock): a block's predictors, likelihoods and pulled-back weights are formed while its rows
    // are in cache, so X is read from memory once per evaluation, whatever the cache sizes (the whole-data products
    // read it once per four directions). With values, writes log pi at the 2d points (same order as the general path);
    // without, only the derivatives are formed (the flow's inner RK4 stages, whose energies nobody reads). Writes C and
    // ṁ. Returns false, leaving the general path to run (and report), when a value or a gradient is not finite.
    private bool LinearPredictorField(ReadOnlySpan<double> m, ReadOnlySpan<double> r, ReadOnlySpan<double> inv, Span<double> logPi,
        Span<double> c, Span<double> mdot, bool values)
    {
        ILinearPredictorTarget target = _linear!;
        int d = _d, n = target.PredictorCount, p = _p;
        double root = Math.Sqrt(d), lambda = target.PriorPrecision, constant = target.LogConstant;
        Span<double> directions = _directions, block = _predictors, scratch = _linearScratch, pulled = _pulled;
        m.CopyTo(directions);
        for (int i = 0; i < d; i++)
        {
            Span<double> ci = directions.Slice((i + 1) * d, d);
            for (int row = 0; row < d; row++) ci[row] = row >= i ? root * r[row * d + i] : 0.0;
        }
        pulled.Clear();
        if (values) logPi[..p].Fill(constant);
        int rowsPerBlock = LinearPredictorRowsPerBlock(d, n);
        for (int first = 0; first < n; first += rowsPerBlock)
        {
            int rows = Math.Min(rowsPerBlock, n - first);
            Span<double> predictors = block[..((d + 2) * rows)];
            target.Predictors(directions, d + 1, first, rows, predictors[..((d + 1) * rows)]);
            // Row 0 (X m) is needed by every i; row i + 1 (X c_i) turns into w_{+i} − w_{−i}, row d + 1 collects Σ w.
            ReadOnlySpan<double> center = predictors[..rows];
            Span<double> sum = predictors.Slice((d + 1) * rows, rows);
            Span<double> tPlus = scratch[..rows], tMinus = scratch.Slice(rows, rows), wPlus = scratch.Slice(2 * rows, rows), wMinus = scratch.Slice(3 * rows, rows);
            sum.Clear();
            for (int i = 0; i < d; i++)
            {
                Span<double> row = predictors.Slice((i + 1) * rows, rows);
                PlusMinus(center, row, tPlus, tMinus);
                if (values)
                {
                    logPi[i] += target.Likelihood(first, tPlus, wPlus);
                    logPi[d + i] += target.Likelihood(first, tMinus, wMinus);
                }
                else
                {
                    target.LikelihoodDerivatives(first, tPlus, wPlus);
                    target.LikelihoodDerivatives(first, tMinus, wMinus);
                }
                DifferenceAndSum(wPlus, wMinus, row, sum);
            }
            target.AddPullBack(predictors.Slice(rows, (d + 1) * rows), d + 1, first, rows, pulled);
        }
        // A non-finite derivative makes its whole row of the pulled-back products non-finite (∞·0 is NaN).
        if (!TensorPrimitives.IsFiniteAll<double>(pulled)) return false;
        if (values)
        {
            Span<double> x = scratch[..d];
            for (int i = 0; i < d; i++)
            {
                ReadOnlySpan<double> ci = directions.Slice((i + 1) * d, d);
                TensorPrimitives.Add(m, ci, x);
                logPi[i] -= 0.5 * lambda * LinearAlgebra.Reductions.SumOfSquares(x);
                TensorPrimitives.Subtract(m, ci, x);
                logPi[d + i] -= 0.5 * lambda * LinearAlgebra.Reductions.SumOfSquares(x);
            }
            if (!TensorPrimitives.IsFiniteAll<double>(logPi[..p])) return false;
        }
        // ṁ = E∇log pi = Xᵀ(Σ w)/P − λm (the points' mean is m).
        ReadOnlySpan<double> pulledSum = pulled.Slice(d * d, d);
        for (int row = 0; row < d; row++) mdot[row] = pulledSum[row] / p - lambda * m[row];
        // G_i = ∇log pi(x_{+i}) − ∇log pi(x_{−i}) = Xᵀ(w_{+i} − w_{−i}) − 2λc_i, then V_i = R⁻¹G_i, four at a time.
        Span<double> g = pulled[..(d * d)];
        if (lambda != 0)
            for (int i = 0; i < d; i++) TensorPrimitives.MultiplyAdd(directions.Slice((i + 1) * d, d), -2 * lambda, g.Slice(i * d, d), g.Slice(i * d, d));
        Span<double> v = _v.AsSpan(0, d * d);
        int blocked = d - d % 4;
        for (int i = 0; i < blocked; i += 4) Dense.RowDots(inv, d, d, g.Slice(i * d, 4 * d), 4, v.Slice(i * d, 4 * d));
        for (int i = blocked; i < d; i++) Dense.MultiplyLower(inv, d, g.Slice(i * d, d), v.Slice(i * d, d));
        // C = −(1/P) Σ_n v_n ξ_nᵀ with ξ_{±i} = ±√d e_i: column i is −(√d/P) V_i (as OuterSum forms it).
        double scale = -1.0 / p * root;
        for (int i = 0; i < d; i++)
            for (int row = 0; row < d; row++) c[row * d + i] = scale * v[i * d + row];
        return true;
    }

    // plus = a + b, minus = a − b in one pass (elementwise: the same bits as two passes).
    private static void PlusMinus(ReadOnlySpan<double> a, ReadOnlySpan<double> b, Span<double> plus, Span<double> minus)
    {
        int n = a.Length, i = 0;
        if (b.Length < n || plus.Length < n || minus.Length < n) throw new ArgumentException("spans are shorter than the first.");
        ref double a0 = ref MemoryMarshal.GetReference(a), b0 = ref MemoryMarshal.GetReference(b);
        ref double p0 = ref MemoryMarshal.GetReference(plus), m0 = ref MemoryMarshal.GetReference(minus);
        for (; i + 3 < n; i += 4)
        {
            Vector256<double> x = Vector256.LoadUnsafe(ref a0, (nuint)i), y = Vector256.LoadUnsafe(ref b0, (nuint)i);
            (x + y).StoreUnsafe(ref p0, (nuint)i);
            (x - y).StoreUnsafe(ref m0, (nuint)i);
        }
        for (; i < n; i++)
        {
            plus[i] = a[i] + b[i];
            minus[i] = a[i] - b[i];
        }
    }

    // difference = a − b and sum = (sum + a) + b in one pass (elementwise: the same bits as three passes).
    private static void DifferenceAndSum(ReadOnlySpan<double> a, ReadOnlySpan<double> b, Span<double> difference, Span<double> sum)
    {
        int n = a.Length, i = 0;
        if (b.Length < n || difference.Length < n || sum.Length < n) throw new ArgumentException("spans are shorter than the first.");
        ref double a0 = ref MemoryMarshal.GetReference(a), b0 = ref MemoryMarshal.GetReference(b);
        ref double d0 = ref MemoryMarshal.GetReference(difference), s0 = ref MemoryMarshal.GetReference(sum);
        for (; i + 3 < n; i += 4)
        {
            Vector256<double> x = Vector256.LoadUnsafe(ref a0, (nuint)i), y = Vector256.LoadUnsafe(ref b0, (nuint)i);
            (x - y).StoreUnsafe(ref d0, (nuint)i);
            (Vector256.LoadUnsafe(ref s0, (nuint)i) + x + y).StoreUnsafe(ref s0, (nuint)i);
        }
        for (; i < n; i++)
        {
            difference[i] = a[i] - b[i];
            sum[i] = sum[i] + a[i] + b[i];
        }
    }

    // out = scale · Σ_n a_n ξ_nᵀ (d×d), a and ξ P×d row-major. For cubature ξ_{±i} = ±√d e_i, so column i is
    // scale·√d (a_{+i} − a_{−i}): O(P·d).
    private void OuterSum(ReadOnlySpan<double> a, int p, int d, double scale, Span<double> result)
    {
        if (_cubature)
        {
            double c = scale * Math.Sqrt(d);
            for (int i = 0; i < d; i++)
            {
                ReadOnlySpan<double> plus = a.Slice(i * d, d), minus = a.Slice((d + i) * d, d);
                for (int row = 0; row < d; row++) result[row * d + i] = c * (plus[row] - minus[row]);
            }
            return;
        }
        ReadOnlySpan<double> b = _xi;
        result.Clear();
        for (int n = 0; n < p; n++)
        {
            ReadOnlySpan<double> an = a.Slice(n * d, d), bn = b.Slice(n * d, d);
            for (int i = 0; i < d; i++)
            {
                double ai = an[i];
                if (ai != 0.0) TensorPrimitives.MultiplyAdd(bn, ai * scale, result.Slice(i * d, d), result.Slice(i * d, d));
            }
        }
    }

    // |λmax| of a d×d matrix with real eigenvalues, by power iteration (a few dozen mat-vecs).
    private static double SpectralRadius(ReadOnlySpan<double> c, Span<double> work)
    {
        int d = (int)Math.Sqrt(c.Length);
        Span<double> v = work[..d], w = work.Slice(d, d);
        v.Fill(1.0 / Math.Sqrt(d));
        double estimate = 0;
        for (int it = 0; it < 50; it++)
        {
            for (int i = 0; i < d; i++) w[i] = LinearAlgebra.Reductions.Dot(c.Slice(i * d, d), v);
            double norm = Math.Sqrt(LinearAlgebra.Reductions.SumOfSquares(w));
            if (!(norm > 0) || !double.IsFinite(norm)) return double.IsFinite(norm) ? 0.0 : double.PositiveInfinity;
            TensorPrimitives.Multiply(w, 1.0 / norm, v);
            if (Math.Abs(norm - estimate) <= 1e-3 * norm) return norm;
            estimate = norm;
        }
        return estimate;
    }

    private void Validate(ReadOnlySpan<double> y)
    {
        int k = _k, d = _d;
        for (int i = 0; i < y.Length; i++)
        {
            if (double.IsFinite(y[i])) continue;
            int particle = i < k * d ? i / d : i < k * d + k * d * d ? (i - k * d) / (d * d) : i - k * d - k * d * d;
            throw new FlowDivergedException($"iteration {_currentIteration}: particle {particle}'s parameters became non-finite", _currentIteration, particle);
        }
        for (int j = 0; j < k; j++)
            for (int i = 0; i < d; i++)
                if (!(y[k * d + j * d * d + i * d + i] > 0))
                    throw new FlowDivergedException(
                        $"iteration {_currentIteration}: particle {j}'s covariance factor lost its positive diagonal (step too large?)",
                        _currentIteration, j);
    }

    private void CheckState(GaussianParticleState state)
    {
        if (state.ComponentCount != _k || state.Dimension != _d)
            throw new ArgumentException(
                $"the state has {state.ComponentCount} particles in dimension {state.Dimension}, the flow expects {_k} in dimension {_d}.");
    }

    private void Pack(GaussianParticleState state, Span<double> y)
    {
        int k = _k, d = _d;
        state.Means.CopyTo(y);
        state.Factors.CopyTo(y[(k * d)..]);
        if (_wfr)
            for (int j = 0; j < k; j++) y[k * d + k * d * d + j] = Math.Sqrt(state.Weights[j]);
    }

    // Writes y into the state (weights renormalised to remove round-off) and returns the parameter change's norm.
    private double Unpack(ReadOnlySpan<double> y, GaussianParticleState state)
    {
        int k = _k, d = _d;
        double change = 0;
        for (int i = 0; i < k * d; i++) change += (y[i] - state.Means[i]) * (y[i] - state.Means[i]);
        for (int i = 0; i < k * d * d; i++) change += (y[k * d + i] - state.Factors[i]) * (y[k * d + i] - state.Factors[i]);
        y[..(k * d)].CopyTo(state.Means);
        y.Slice(k * d, k * d * d).CopyTo(state.Factors);
        if (_wfr)
        {
            ReadOnlySpan<double> r = y.Slice(k * d + k * d * d, k);
            double total = LinearAlgebra.Reductions.SumOfSquares(r);
            for (int j = 0; j < k; j++) state.Weights[j] = r[j] * r[j] / total;
        }
        return Math.Sqrt(change);
    }
}
