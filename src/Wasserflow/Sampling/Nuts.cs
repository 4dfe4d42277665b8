using System.Diagnostics;
using System.Numerics.Tensors;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Sampling;

/// <summary>Settings of <see cref="Nuts.Sample"/>; the defaults are Stan's.</summary>
public sealed record NutsOptions
{
    /// <summary>Independent chains (each has its own random stream, so results do not depend on <see cref="Threads"/>).</summary>
    public int Chains { get; init; } = 4;

    /// <summary>Warmup iterations per chain (step size and metric adaptation; not kept).</summary>
    public int Warmup { get; init; } = 1000;

    /// <summary>Kept iterations per chain.</summary>
    public int Draws { get; init; } = 1000;

    /// <summary>Largest tree depth: at most 2^depth leapfrog steps per iteration.</summary>
    public int MaxTreeDepth { get; init; } = 10;

    /// <summary>δ, the mean acceptance statistic dual averaging aims at.</summary>
    public double TargetAcceptance { get; init; } = 0.8;

    /// <summary>Adapt a dense inverse metric (the posterior covariance) instead of a diagonal one.</summary>
    public bool DenseMetric { get; init; }

    /// <summary>The first step size tried (then doubled or halved until one leapfrog step's acceptance crosses 0.8).</summary>
    public double InitialStepSize { get; init; } = 1;

    /// <summary>Chains start uniform in [−r, r]^d on the unconstrained scale (Stan: 2), unless <see cref="Initial"/> is given.</summary>
    public double InitRadius { get; init; } = 2;

    /// <summary>A starting point for every chain (unconstrained), or null for random starts.</summary>
    public IReadOnlyList<double>? Initial { get; init; }

    /// <summary>Seed: chain c draws from stream Mix(seed, c).</summary>
    public ulong Seed { get; init; }

    /// <summary>Chains run at once (at most <see cref="Chains"/>).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Checks every range.</summary>
    /// <exception cref="ArgumentException">The first bad setting, named.</exception>
    public void Validate()
    {
        if (Chains < 1) throw new ArgumentException($"chains must be ≥ 1, got {Chains}.");
        if (Warmup < 0) throw new ArgumentException($"warmup must be ≥ 0, got {Warmup}.");
        if (Draws < 1) throw new ArgumentException($"draws must be ≥ 1, got {Draws}.");
        if (MaxTreeDepth is < 1 or > 30) throw new ArgumentException($"the maximum tree depth must be in [1, 30], got {MaxTreeDepth}.");
        if (!(TargetAcceptance is > 0 and < 1)) throw new ArgumentException($"the target acceptance must lie in (0, 1), got {TargetAcceptance}.");
        if (!(InitialStepSize > 0) || !double.IsFinite(InitialStepSize)) throw new ArgumentException($"the initial step size must be positive, got {InitialStepSize}.");
        if (!(InitRadius >= 0) || !double.IsFinite(InitRadius)) throw new ArgumentException($"the init radius must be ≥ 0, got {InitRadius}.");
        if (Threads < 1) throw new ArgumentException($"threads must be ≥ 1, got {Threads}.");
    }
}

/// <summary>One chain's kept iterations and what the sampler did.</summary>
/// <param name="Draws">Kept draws, Draws × d row-major, on the target's (unconstrained) coordinates.</param>
/// <param name="LogDensity">log π at each draw.</param>
/// <param name="AcceptStat">Mean Metropolis acceptance over the trajectory's points.</param>
/// <param name="TreeDepth">Depth of each iteration's tree.</param>
/// <param name="Leapfrogs">Leapfrog steps (gradient evaluations) of each iteration.</param>
/// <param name="Divergent">Whether the trajectory diverged (H rose by more than 1000).</param>
/// <param name="Energy">The Hamiltonian at each draw (for E-BFMI).</param>
/// <param name="StepSize">The adapted step size.</param>
/// <param name="InverseMetric">The adapted inverse metric: its diagonal (d) or the full d×d matrix.</param>
/// <param name="WarmupLeapfrogs">Leapfrog steps spent in warmup.</param>
/// <param name="Seconds">Wall-clock seconds of this chain (its thread's time).</param>
public sealed record NutsChain(double[] Draws, double[] LogDensity, double[] AcceptStat, int[] TreeDepth, int[] Leapfrogs, bool[] Divergent,
    double[] Energy, double StepSize, double[] InverseMetric, long WarmupLeapfrogs, double Seconds)
{
    /// <summary>Points (warmup included) where the target threw <see cref="TargetEvaluationException"/>: rejected as infinite energy.</summary>
    public long Rejections { get; init; }

    /// <summary>The first such exception's message, or null.</summary>
    public string? FirstRejection { get; init; }
}

/// <summary>The chains of a NUTS run.</summary>
/// <param name="Chains">One per chain, in chain order.</param>
/// <param name="Dimension">d.</param>
/// <param name="Options">The settings used.</param>
public sealed record NutsResult(IReadOnlyList<NutsChain> Chains, int Dimension, NutsOptions Options)
{
    /// <summary>Divergent kept iterations over all chains.</summary>
    public int Divergences => Chains.Sum(c => c.Divergent.Count(x => x));

    /// <summary>Kept iterations that hit the maximum tree depth.</summary>
    public int MaxDepthHits => Chains.Sum(c => c.TreeDepth.Count(x => x >= Options.MaxTreeDepth));

    /// <summary>Gradient evaluations over all chains, warmup included.</summary>
    public long GradientEvaluations => Chains.Sum(c => c.WarmupLeapfrogs + c.Leapfrogs.Sum(x => (long)x));

    /// <summary>Points where the target threw and the point was rejected, over all chains.</summary>
    public long Rejections => Chains.Sum(c => c.Rejections);

    /// <summary>Sum of the chains' seconds (CPU seconds when each chain has its own core).</summary>
    public double ChainSeconds => Chains.Sum(c => c.Seconds);

    /// <summary>Kept draws of coordinate <paramref name="j"/>, chain-major (the layout <see cref="Diagnostics.McmcDiagnostics"/> takes).</summary>
    public double[] Coordinate(int j)
    {
        int n = Options.Draws, d = Dimension;
        var x = new double[Chains.Count * n];
        for (int c = 0; c < Chains.Count; c++)
            for (int i = 0; i < n; i++) x[c * n + i] = Chains[c].Draws[i * d + j];
        return x;
    }
}

/// <summary>
/// The No-U-Turn sampler as Stan runs it (Hoffman and Gelman 2014; Betancourt 2017): multinomial sampling of the
/// trajectory, biased progressive sampling between subtrees, the generalised no-U-turn criterion checked across merged
/// subtrees and between neighbouring ones, dual-averaging step size (γ = 0.05, t₀ = 10, κ = 0.75, μ = log 10ε) and
/// windowed metric adaptation (init buffer 75, doubling windows from 25, term buffer 50; variances shrunk towards 1e−3
/// as Stan does). Divergence: the Hamiltonian rising by more than 1000 over the start.
/// </summary>
/// <remarks>
/// Chains run in parallel, each on its own stream Mix(seed, chain) and in its own buffers: the draws are bit-identical
/// for any thread count. A leapfrog step allocates nothing (one gradient of the target, a few vector updates). A
/// non-finite log density or gradient, or a <see cref="TargetEvaluationException"/> from the target, counts as infinite energy (the trajectory ends there), as Stan treats a domain error.
/// </remarks>
public static class Nuts
{
    /// <summary>Runs <see cref="NutsOptions.Chains"/> chains on <paramref name="target"/>.</summary>
    /// <param name="target">The density; called from several threads at once when <see cref="NutsOptions.Threads"/> &gt; 1.</param>
    /// <param name="options">Settings.</param>
    /// <param name="onIteration">Called after every iteration with (chain, iteration counted from the first warmup one), from the chain's thread.</param>
    /// <param name="cancellationToken">Stops every chain at its next iteration.</param>
    /// <exception cref="ArgumentException">Bad settings, or a given start of the wrong length or with a non-finite density.</exception>
    /// <exception cref="TargetEvaluationException">No finite start found in 100 random tries, or no usable step size.</exception>
    public static NutsResult Sample(ITarget target, NutsOptions options, Action<int, int>? onIteration = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.Initial is { } init && init.Count != target.Dimension)
            throw new ArgumentException($"the start has {init.Count} coordinates; the target '{target.Name}' has {target.Dimension}.");
        var chains = new NutsChain[options.Chains];
        try
        {
            Parallel.For(0, options.Chains, new ParallelOptions { MaxDegreeOfParallelism = Math.Min(options.Threads, options.Chains), CancellationToken = cancellationToken },
                c => chains[c] = new NutsChainSampler(target, options, c).Run(onIteration, cancellationToken));
        }
        catch (AggregateException e)
        {
            // The first chain's error, as if the chains had run one after another.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.Flatten().InnerExceptions[0]);
        }
        return new NutsResult(chains, target.Dimension, options);
    }
}

// One chain: the phase-space points, the tree's buffers per depth, and the adaptation state. Stan's base_nuts,
// diag_e/dense_e metrics, expl_leapfrog, stepsize_adaptation and windowed var/covar adaptation, in one place.
internal sealed class NutsChainSampler
{
    private sealed class Point(int d)
    {
        public readonly double[] Q = new double[d], P = new double[d], G = new double[d];
        public double V; // −log π(q)

        public void CopyFrom(Point other)
        {
            other.Q.CopyTo(Q, 0);
            other.P.CopyTo(P, 0);
            other.G.CopyTo(G, 0);
            V = other.V;
        }
    }

    // The vectors one level of the recursion needs (build_tree's locals).
    private sealed class Level(int d)
    {
        public readonly double[] PInitEnd = new double[d], PSharpInitEnd = new double[d], RhoInit = new double[d];
        public readonly double[] PFinalBeg = new double[d], PSharpFinalBeg = new double[d], RhoFinal = new double[d], RhoSubtree = new double[d];
        public readonly Point ProposeFinal = new(d);
    }

    private const double MaxDeltaH = 1000;
    private readonly ITarget _target;
    private readonly NutsOptions _options;
    private readonly int _d, _chain;
    private readonly Xoshiro256StarStar _rng;
    private readonly Point _z, _fwd, _bck, _sample, _propose, _init;
    private readonly Level[] _levels;
    private readonly double[] _pFwdFwd, _pSharpFwdFwd, _pFwdBck, _pSharpFwdBck, _pBckFwd, _pSharpBckFwd, _pBckBck, _pSharpBckBck;
    private readonly double[] _rho, _rhoFwd, _rhoBck, _extended, _noise;
    private readonly double[] _inverseMetric, _choleskyOfInverse; // diagonal: d; dense: d×d (Σ and its Cholesky factor)
    private double _epsilon, _h0, _sumMetroProb;
    private int _leapfrogs;
    private bool _divergent;
    private long _rejections;
    private string? _firstRejection;

    public NutsChainSampler(ITarget target, NutsOptions options, int chain)
    {
        _target = target;
        _options = options;
        _d = target.Dimension;
        _chain = chain;
        _rng = new Xoshiro256StarStar(Xoshiro256StarStar.Mix(options.Seed, (ulong)chain));
        int d = _d;
        (_z, _fwd, _bck, _sample, _propose, _init) = (new Point(d), new Point(d), new Point(d), new Point(d), new Point(d), new Point(d));
        _levels = [.. Enumerable.Range(0, options.MaxTreeDepth + 1).Select(_ => new Level(d))];
        double[] V() => new double[d];
        (_pFwdFwd, _pSharpFwdFwd, _pFwdBck, _pSharpFwdBck) = (V(), V(), V(), V());
        (_pBckFwd, _pSharpBckFwd, _pBckBck, _pSharpBckBck) = (V(), V(), V(), V());
        (_rho, _rhoFwd, _rhoBck, _extended, _noise) = (V(), V(), V(), V(), V());
        if (options.DenseMetric)
        {
            _inverseMetric = new double[d * d];
            _choleskyOfInverse = new double[d * d];
            for (int i = 0; i < d; i++) _inverseMetric[i * d + i] = _choleskyOfInverse[i * d + i] = 1;
        }
        else
        {
            _inverseMetric = new double[d];
            Array.Fill(_inverseMetric, 1.0);
            _choleskyOfInverse = [];
        }
        _epsilon = options.InitialStepSize;
    }

    public NutsChain Run(Action<int, int>? onIteration, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        Initialise();
        int d = _d, warmup = _options.Warmup, n = _options.Draws;
        InitStepSize();
        var adaptation = new DualAveraging(_options.TargetAcceptance, _epsilon);
        var windows = new AdaptationWindows(warmup);
        var estimator = new MomentEstimator(d, _options.DenseMetric);
        long warmupLeapfrogs = 0;
        for (int it = 0; it < warmup; it++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            double accept = Transition();
            warmupLeapfrogs += _leapfrogs;
            _epsilon = adaptation.Learn(accept);
            if (windows.InWindow) estimator.Add(_z.Q);
            if (windows.EndOfWindow)
            {
                windows.ComputeNextWindow();
                estimator.Regularised(_inverseMetric);
                estimator.Restart();
                if (_options.DenseMetric) FactorInverseMetric();
                InitStepSize();
                adaptation.Restart(_epsilon);
            }
            windows.Advance();
            onIteration?.Invoke(_chain, it);
        }
        if (warmup > 0) _epsilon = adaptation.Final;
        var draws = new double[n * d];
        var logDensity = new double[n];
        var acceptStat = new double[n];
        var depth = new int[n];
        var leapfrogs = new int[n];
        var divergent = new bool[n];
        var energy = new double[n];
        for (int i = 0; i < n; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            acceptStat[i] = Transition(out depth[i]);
            _z.Q.CopyTo(draws, i * d);
            logDensity[i] = -_z.V;
            leapfrogs[i] = _leapfrogs;
            divergent[i] = _divergent;
            energy[i] = Hamiltonian(_z);
            onIteration?.Invoke(_chain, warmup + i);
        }
        return new NutsChain(draws, logDensity, acceptStat, depth, leapfrogs, divergent, energy, _epsilon, (double[])_inverseMetric.Clone(), warmupLeapfrogs, clock.Elapsed.TotalSeconds)
        {
            Rejections = _rejections,
            FirstRejection = _firstRejection,
        };
    }

    /// <summary>For the benchmarks: a started chain (initial point, momentum drawn) at step size <paramref name="epsilon"/>.</summary>
    internal void Start(double epsilon)
    {
        Initialise();
        SampleMomentum(_z);
        _epsilon = epsilon;
    }

    /// <summary>For the benchmarks: one leapfrog step of the current point (one gradient evaluation).</summary>
    internal void LeapfrogStep() => Leapfrog(_z, _epsilon);

    /// <summary>For the benchmarks: one NUTS transition from the current point; returns its leapfrog count.</summary>
    internal int TransitionStep()
    {
        Transition();
        return _leapfrogs;
    }

    private void Initialise()
    {
        if (_options.Initial is { } start)
        {
            for (int i = 0; i < _d; i++) _z.Q[i] = start[i];
            Evaluate(_z);
            if (!double.IsFinite(_z.V))
                throw new ArgumentException($"the target '{_target.Name}' has no finite log density and gradient at the given start.");
            return;
        }
        for (int attempt = 0; attempt < 100; attempt++)
        {
            for (int i = 0; i < _d; i++) _z.Q[i] = _rng.NextDouble(-_options.InitRadius, _options.InitRadius);
            Evaluate(_z);
            if (double.IsFinite(_z.V)) return;
        }
        throw new TargetEvaluationException($"chain {_chain + 1}: no point with a finite log density and gradient in 100 random starts in [-{_options.InitRadius}, {_options.InitRadius}]^{_d} of target '{_target.Name}'.");
    }

    // V = −log π and G = ∇log π at Q; V = +∞ when either is not finite (the trajectory then counts as divergent).
    private void Evaluate(Point z)
    {
        double logDensity;
        try
        {
            logDensity = _target.LogDensityAndGradient(z.Q, z.G);
        }
        catch (TargetEvaluationException e)
        {
            // A model that cannot evaluate an extreme point (a kernel matrix that is no longer positive definite)
            // rejects it, as Stan treats a domain error: infinite energy, so the trajectory ends there.
            _rejections++;
            _firstRejection ??= e.Message;
            z.V = double.PositiveInfinity;
            return;
        }
        z.V = double.IsFinite(logDensity) && double.IsFinite(LinearAlgebra.Reductions.Sum(z.G)) ? -logDensity : double.PositiveInfinity;
    }

    private void SampleMomentum(Point z)
    {
        _rng.FillStandardNormal(_noise);
        if (_options.DenseMetric)
        {
            LinearAlgebra.Dense.SolveLowerTransposed(_choleskyOfInverse, _d, _noise, z.P); // p = L⁻ᵀ u: Cov(p) = Σ⁻¹
            return;
        }
        for (int i = 0; i < _d; i++) z.P[i] = _noise[i] / Math.Sqrt(_inverseMetric[i]);
    }

    // ∂τ/∂p = M⁻¹ p.
    private void Sharp(ReadOnlySpan<double> p, Span<double> result)
    {
        if (!_options.DenseMetric)
        {
            TensorPrimitives.Multiply(p, _inverseMetric, result);
            return;
        }
        for (int i = 0; i < _d; i++) result[i] = LinearAlgebra.Reductions.Dot(_inverseMetric.AsSpan(i * _d, _d), p);
    }

    private double Hamiltonian(Point z)
    {
        if (!double.IsFinite(z.V)) return double.PositiveInfinity;
        double kinetic;
        if (_options.DenseMetric)
        {
            Span<double> sharp = _extended;
            Sharp(z.P, sharp);
            kinetic = 0.5 * LinearAlgebra.Reductions.Dot(z.P, sharp);
        }
        else
        {
            kinetic = 0;
            for (int i = 0; i < _d; i++) kinetic += z.P[i] * z.P[i] * _inverseMetric[i];
            kinetic *= 0.5;
        }
        return z.V + kinetic;
    }

    // One leapfrog step of size ε (signed): half kick, drift, gradient, half kick.
    private void Leapfrog(Point z, double epsilon)
    {
        TensorPrimitives.MultiplyAdd(z.G, 0.5 * epsilon, z.P, z.P);
        Sharp(z.P, _extended);
        TensorPrimitives.MultiplyAdd(_extended, epsilon, z.Q, z.Q);
        Evaluate(z);
        if (double.IsFinite(z.V)) TensorPrimitives.MultiplyAdd(z.G, 0.5 * epsilon, z.P, z.P);
    }

    // Stan's init_stepsize: double or halve ε until one leapfrog step's acceptance crosses 0.8.
    private void InitStepSize()
    {
        _init.CopyFrom(_z);
        int direction = 0;
        while (true)
        {
            _z.CopyFrom(_init);
            SampleMomentum(_z);
            double h0 = Hamiltonian(_z);
            Leapfrog(_z, _epsilon);
            double h = Hamiltonian(_z);
            if (double.IsNaN(h)) h = double.PositiveInfinity;
            double deltaH = h0 - h;
            if (direction == 0) direction = deltaH > Math.Log(0.8) ? 1 : -1;
            else if (direction == 1 && !(deltaH > Math.Log(0.8))) break;
            else if (direction == -1 && !(deltaH < Math.Log(0.8))) break;
            _epsilon = direction == 1 ? 2 * _epsilon : 0.5 * _epsilon;
            if (_epsilon > 1e7)
                throw new TargetEvaluationException($"chain {_chain + 1}: the step size grew past 1e7 while every leapfrog step was accepted: the posterior of '{_target.Name}' looks improper (is it normalisable?).");
            if (_epsilon == 0)
                throw new TargetEvaluationException($"chain {_chain + 1}: no acceptably small step size for target '{_target.Name}' (the log density may be discontinuous or its gradient wrong).");
        }
        _z.CopyFrom(_init);
    }

    private double Transition() => Transition(out _);

    // One NUTS transition from _z; leaves the selected point in _z and returns the mean acceptance statistic.
    private double Transition(out int depth)
    {
        SampleMomentum(_z); // _z keeps its log density and gradient from the last transition (Stan recomputes them; same values)
        _fwd.CopyFrom(_z);
        _bck.CopyFrom(_z);
        _sample.CopyFrom(_z);
        _propose.CopyFrom(_z);
        Sharp(_z.P, _pSharpFwdFwd);
        _z.P.CopyTo(_pFwdFwd, 0);
        _z.P.CopyTo(_pFwdBck, 0);
        _pSharpFwdFwd.CopyTo(_pSharpFwdBck, 0);
        _z.P.CopyTo(_pBckFwd, 0);
        _pSharpFwdFwd.CopyTo(_pSharpBckFwd, 0);
        _z.P.CopyTo(_pBckBck, 0);
        _pSharpFwdFwd.CopyTo(_pSharpBckBck, 0);
        _z.P.CopyTo(_rho, 0);
        double logSumWeight = 0;
        _h0 = Hamiltonian(_z);
        _leapfrogs = 0;
        _sumMetroProb = 0;
        _divergent = false;
        depth = 0;
        while (depth < _options.MaxTreeDepth)
        {
            Array.Clear(_rhoFwd);
            Array.Clear(_rhoBck);
            double logSumWeightSubtree = double.NegativeInfinity;
            bool valid;
            if (_rng.NextDouble() > 0.5)
            {
                // The trajectory so far becomes the backward part; its forward end is the old forward end.
                _rho.CopyTo(_rhoBck, 0);
                _pFwdFwd.CopyTo(_pBckFwd, 0);
                _pSharpFwdFwd.CopyTo(_pSharpBckFwd, 0);
                valid = BuildTree(depth, _fwd, _propose, _pSharpFwdBck, _pSharpFwdFwd, _rhoFwd, _pFwdBck, _pFwdFwd, 1, ref logSumWeightSubtree);
            }
            else
            {
                _rho.CopyTo(_rhoFwd, 0);
                _pBckBck.CopyTo(_pFwdBck, 0);
                _pSharpBckBck.CopyTo(_pSharpFwdBck, 0);
                valid = BuildTree(depth, _bck, _propose, _pSharpBckFwd, _pSharpBckBck, _rhoBck, _pBckFwd, _pBckBck, -1, ref logSumWeightSubtree);
            }
            if (!valid) break;
            depth++;
            if (logSumWeightSubtree > logSumWeight) _sample.CopyFrom(_propose);
            else if (_rng.NextDouble() < Math.Exp(logSumWeightSubtree - logSumWeight)) _sample.CopyFrom(_propose);
            logSumWeight = LogSumExp(logSumWeight, logSumWeightSubtree);
            TensorPrimitives.Add(_rhoBck, _rhoFwd, _rho);
            bool persist = Criterion(_pSharpBckBck, _pSharpFwdFwd, _rho);
            TensorPrimitives.Add(_rhoBck, _pFwdBck, _extended);
            persist &= Criterion(_pSharpBckBck, _pSharpFwdBck, _extended);
            TensorPrimitives.Add(_rhoFwd, _pBckFwd, _extended);
            persist &= Criterion(_pSharpBckFwd, _pSharpFwdFwd, _extended);
            if (!persist) break;
        }
        _z.CopyFrom(_sample);
        return _sumMetroProb / _leapfrogs;
    }

    private static bool Criterion(ReadOnlySpan<double> pSharpMinus, ReadOnlySpan<double> pSharpPlus, ReadOnlySpan<double> rho) =>
        LinearAlgebra.Reductions.Dot(pSharpPlus, rho) > 0 && LinearAlgebra.Reductions.Dot(pSharpMinus, rho) > 0;

    // Stan's build_tree: extends the trajectory from its end `z` by 2^depth leapfrog steps in direction `sign`.
    private bool BuildTree(int depth, Point z, Point propose, double[] pSharpBeg, double[] pSharpEnd, double[] rho, double[] pBeg, double[] pEnd,
        int sign, ref double logSumWeight)
    {
        if (depth == 0)
        {
            Leapfrog(z, sign * _epsilon);
            _leapfrogs++;
            double h = Hamiltonian(z);
            if (double.IsNaN(h)) h = double.PositiveInfinity;
            if (h - _h0 > MaxDeltaH) _divergent = true;
            logSumWeight = LogSumExp(logSumWeight, _h0 - h);
            _sumMetroProb += _h0 - h > 0 ? 1 : Math.Exp(_h0 - h);
            propose.CopyFrom(z);
            Sharp(z.P, pSharpBeg);
            pSharpBeg.CopyTo(pSharpEnd, 0);
            TensorPrimitives.Add(rho, z.P, rho);
            z.P.CopyTo(pBeg, 0);
            z.P.CopyTo(pEnd, 0);
            return !_divergent;
        }
        Level level = _levels[depth];
        double logSumWeightInit = double.NegativeInfinity;
        Array.Clear(level.RhoInit);
        if (!BuildTree(depth - 1, z, propose, pSharpBeg, level.PSharpInitEnd, level.RhoInit, pBeg, level.PInitEnd, sign, ref logSumWeightInit))
            return false;
        level.ProposeFinal.CopyFrom(z);
        double logSumWeightFinal = double.NegativeInfinity;
        Array.Clear(level.RhoFinal);
        if (!BuildTree(depth - 1, z, level.ProposeFinal, level.PSharpFinalBeg, pSharpEnd, level.RhoFinal, level.PFinalBeg, pEnd, sign, ref logSumWeightFinal))
            return false;
        double logSumWeightSubtree = LogSumExp(logSumWeightInit, logSumWeightFinal);
        logSumWeight = LogSumExp(logSumWeight, logSumWeightSubtree);
        if (logSumWeightFinal > logSumWeightSubtree) propose.CopyFrom(level.ProposeFinal);
        else if (_rng.NextDouble() < Math.Exp(logSumWeightFinal - logSumWeightSubtree)) propose.CopyFrom(level.ProposeFinal);
        TensorPrimitives.Add(level.RhoInit, level.RhoFinal, level.RhoSubtree);
        TensorPrimitives.Add(rho, level.RhoSubtree, rho);
        bool persist = Criterion(pSharpBeg, pSharpEnd, level.RhoSubtree);
        TensorPrimitives.Add(level.RhoInit, level.PFinalBeg, _extended);
        persist &= Criterion(pSharpBeg, level.PSharpFinalBeg, _extended);
        TensorPrimitives.Add(level.RhoFinal, level.PInitEnd, _extended);
        persist &= Criterion(level.PSharpInitEnd, pSharpEnd, _extended);
        return persist;
    }

    private static double LogSumExp(double a, double b)
    {
        if (double.IsNegativeInfinity(a)) return b;
        if (double.IsNegativeInfinity(b)) return a;
        double max = Math.Max(a, b);
        return max + Math.Log(Math.Exp(a - max) + Math.Exp(b - max));
    }

    private void FactorInverseMetric()
    {
        _inverseMetric.CopyTo(_choleskyOfInverse, 0);
        if (!LinearAlgebra.Dense.TryCholesky(_choleskyOfInverse, _d))
            throw new TargetEvaluationException($"chain {_chain + 1}: the adapted dense metric of '{_target.Name}' is not positive definite.");
    }

    // Stan's stepsize_adaptation (Nesterov dual averaging).
    private sealed class DualAveraging
    {
        private const double Gamma = 0.05, T0 = 10, Kappa = 0.75;
        private readonly double _delta;
        private double _mu, _sBar, _xBar;
        private int _counter;

        public DualAveraging(double delta, double epsilon)
        {
            _delta = delta;
            Restart(epsilon);
        }

        public double Final => Math.Exp(_xBar);

        public void Restart(double epsilon)
        {
            _mu = Math.Log(10 * epsilon);
            _counter = 0;
            _sBar = 0;
            _xBar = 0;
        }

        public double Learn(double acceptStat)
        {
            _counter++;
            acceptStat = Math.Min(1, acceptStat);
            double eta = 1.0 / (_counter + T0);
            _sBar = (1 - eta) * _sBar + eta * (_delta - acceptStat);
            double x = _mu - _sBar * Math.Sqrt(_counter) / Gamma;
            double xEta = Math.Pow(_counter, -Kappa);
            _xBar = (1 - xEta) * _xBar + xEta * x;
            return Math.Exp(x);
        }
    }

    // Stan's windowed_adaptation: a fast initial buffer, slow windows that double, a fast terminal buffer.
    private sealed class AdaptationWindows
    {
        private readonly int _warmup, _initBuffer, _termBuffer;
        private int _windowSize, _nextWindow, _counter;

        public AdaptationWindows(int warmup)
        {
            _warmup = warmup;
            (_initBuffer, _termBuffer, int baseWindow) = (75, 50, 25);
            if (warmup < 20)
            {
                (_initBuffer, _termBuffer, baseWindow) = (warmup, 0, 0); // too short: step size only
            }
            else if (_initBuffer + baseWindow + _termBuffer > warmup)
            {
                _initBuffer = (int)(0.15 * warmup);
                _termBuffer = (int)(0.1 * warmup);
                baseWindow = warmup - (_initBuffer + _termBuffer);
            }
            _windowSize = baseWindow;
            _nextWindow = _initBuffer + _windowSize - 1;
        }

        public bool InWindow => _counter >= _initBuffer && _counter < _warmup - _termBuffer && _counter != _warmup;

        public bool EndOfWindow => _windowSize > 0 && _counter == _nextWindow && _counter != _warmup;

        public void Advance() => _counter++;

        public void ComputeNextWindow()
        {
            if (_nextWindow == _warmup - _termBuffer - 1) return;
            _windowSize *= 2;
            _nextWindow = _counter + _windowSize;
            if (_nextWindow != _warmup - _termBuffer - 1 && _nextWindow + 2 * _windowSize >= _warmup - _termBuffer)
                _nextWindow = _warmup - _termBuffer - 1;
        }
    }

    // Welford estimates of the variances (or covariance) of the warmup draws in a window.
    private sealed class MomentEstimator(int d, bool dense)
    {
        private readonly double[] _mean = new double[d], _m2 = new double[dense ? d * d : d], _delta = new double[d];
        private int _n;

        public void Restart()
        {
            _n = 0;
            Array.Clear(_mean);
            Array.Clear(_m2);
        }

        public void Add(ReadOnlySpan<double> q)
        {
            _n++;
            for (int i = 0; i < d; i++)
            {
                _delta[i] = q[i] - _mean[i];
                _mean[i] += _delta[i] / _n;
            }
            if (dense)
            {
                for (int i = 0; i < d; i++)
                    for (int j = 0; j < d; j++) _m2[i * d + j] += (q[i] - _mean[i]) * _delta[j];
            }
            else
            {
                for (int i = 0; i < d; i++) _m2[i] += _delta[i] * (q[i] - _mean[i]);
            }
        }

        // Stan: (n/(n+5))·S + 1e−3·(5/(n+5))·I, S the sample (co)variance.
        public void Regularised(double[] result)
        {
            double n = _n, shrink = n / (n + 5), floor = 1e-3 * (5 / (n + 5));
            for (int k = 0; k < _m2.Length; k++) result[k] = shrink * _m2[k] / (n - 1);
            if (dense) for (int i = 0; i < d; i++) result[i * d + i] += floor;
            else for (int i = 0; i < d; i++) result[i] += floor;
        }
    }
}
