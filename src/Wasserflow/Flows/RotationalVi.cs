using System.Numerics.Tensors;
using Wasserflow.Families;
using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Flows;

/// <summary>How the weights λ of the polyhedral maps are updated (../specs/rovi-mfvi.md §4).</summary>
public enum MeanFieldStepKind
{
    /// <summary>(B), the default: potential explicit, exact entropy implicit, solved by projected Newton; stable for any mesh.</summary>
    ForwardBackward,

    /// <summary>(A), the paper's Algorithm 1: projected Q-gradient step with τ = η_MF/max(L, κ) (the curvature cap is ours).</summary>
    ProjectedGradient,
}

/// <summary>Settings of polyhedral MFVI and rotational VI (spec §6 defaults).</summary>
public sealed record RotationalViOptions
{
    /// <summary>The dictionary of every coordinate's map (default Q40 with midpoint steps, α = 0.1).</summary>
    public PolyhedralDictionary? Dictionary { get; init; }

    /// <summary>Learn the rotation O (RoVI); false keeps O = I (polyhedral MFVI).</summary>
    public bool Rotate { get; init; } = true;

    /// <summary>Monte Carlo batch N per iteration (each iteration costs 2N gradients of the target with rotation, N without).</summary>
    public int BatchSize { get; init; } = 1000;

    /// <summary>Iteration cap T.</summary>
    public int MaxIterations { get; init; } = 3000;

    /// <summary>The λ update.</summary>
    public MeanFieldStepKind Step { get; init; } = MeanFieldStepKind.ForwardBackward;

    /// <summary>τ of step (B), also the step of v.</summary>
    public double StepSize { get; init; } = 0.01;

    /// <summary>η_MF of step (A); κτ = η_MF once the curvature cap is active, so keep it ≤ 1 (a warning says when κτ &gt; 1).</summary>
    public double MeanFieldRate { get; init; } = 1e-3;

    /// <summary>L of step (A): τ = η_MF/max(L, κ), and v moves by η_MF/L.</summary>
    public double Smoothness { get; init; } = 1.0;

    /// <summary>η_O, the rotation step.</summary>
    public double RotationStepSize { get; init; } = 0.01;

    /// <summary>R, independent restarts; the one with the lowest F̂ is returned as best.</summary>
    public int Restarts { get; init; } = 8;

    /// <summary>s_v: initial offsets v₀ ~ N(0, s_v² I), so the fit starts around c + O v₀ (<see cref="InitialCenter"/>).</summary>
    public double InitialSpread { get; init; } = 2.0;

    /// <summary>
    /// Slope of the initial maps: S_i(t) = s₀·t, so μ₀ = N(O v₀, s₀² I) (spec: 1). A wide start overlaps several basins
    /// at once (docs/experiments.md, paper 003).
    /// </summary>
    public double InitialScale { get; init; } = 1.0;

    /// <summary>
    /// c, the fixed centre of rotation, z = c + O·T_θ(x) (length d; null: the origin, the paper's family). Restarts start
    /// around it (v₀ ~ N(0, s_v² I)), and the rotation turns the fit about it rather than about the origin. Restarts
    /// that start between the modes split the mass evenly far more often (docs/experiments.md, paper 003), so a rough
    /// guess of the target's mean helps.
    /// </summary>
    public double[]? InitialCenter { get; init; }

    /// <summary>
    /// A rotation (d×d row-major, orthogonal) for the first restart to start from instead of I: a warm start, such as the
    /// rotation of Proposition 3.1 (<see cref="Diagnostics.MeanFieldTheory.RotationBound"/>) or principal directions
    /// the user knows. The other restarts still start from Haar rotations. Ignored without rotation.
    /// </summary>
    public double[]? InitialRotation { get; init; }

    /// <summary>Iterations between F̂ estimates (m).</summary>
    public int EvaluateEvery { get; init; } = 50;

    /// <summary>Fresh samples per running F̂ estimate.</summary>
    public int EvaluationSamples { get; init; } = 20_000;

    /// <summary>Fresh samples for the final F̂ of each restart.</summary>
    public int FinalSamples { get; init; } = 400_000;

    /// <summary>Stop when the means of the last two windows of 10 estimates differ by less than max(this, 2 SE).</summary>
    public double Tolerance { get; init; } = 1e-3;

    /// <summary>Apply the window rule (spec §6); false runs every restart for <see cref="MaxIterations"/> iterations.</summary>
    public bool StopEarly { get; init; } = true;

    /// <summary>Restarts run at once, one per thread (results do not depend on it).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Seed of every restart's stream.</summary>
    public ulong Seed { get; init; }

    /// <summary>Checks every setting.</summary>
    /// <exception cref="ArgumentException">One is out of range; the message names it.</exception>
    public void Validate()
    {
        static void Positive(double v, string name)
        {
            if (!(v > 0) || !double.IsFinite(v)) throw new ArgumentException($"{name} must be finite and > 0 (got {v}).");
        }
        if (BatchSize < 2) throw new ArgumentException($"batch size must be ≥ 2 (got {BatchSize}).");
        if (MaxIterations < 1) throw new ArgumentException($"iterations must be ≥ 1 (got {MaxIterations}).");
        if (Restarts < 1) throw new ArgumentException($"restarts must be ≥ 1 (got {Restarts}).");
        if (EvaluateEvery < 1) throw new ArgumentException($"evaluate-every must be ≥ 1 (got {EvaluateEvery}).");
        if (EvaluationSamples < 2 || FinalSamples < 2) throw new ArgumentException($"evaluation samples must be ≥ 2 (got {EvaluationSamples}, {FinalSamples}).");
        if (Threads < 1) throw new ArgumentException($"threads must be ≥ 1 (got {Threads}).");
        Positive(StepSize, "step size τ");
        Positive(MeanFieldRate, "η_MF");
        Positive(Smoothness, "L");
        Positive(RotationStepSize, "η_O");
        Positive(Tolerance, "tolerance");
        Positive(InitialScale, "initial scale");
        if (InitialRotation is { } o)
        {
            int d = (int)Math.Round(Math.Sqrt(o.Length));
            if (d * d != o.Length || d == 0) throw new ArgumentException($"initial rotation: {o.Length} numbers do not make a square matrix.");
            if (Dense.OrthogonalityDefect(o, d) is { } defect) throw new ArgumentException($"initial rotation: not orthogonal ({defect}).");
        }
        if (!(InitialSpread >= 0) || !double.IsFinite(InitialSpread)) throw new ArgumentException($"initial spread must be finite and ≥ 0 (got {InitialSpread}).");
    }
}

/// <summary>One restart's outcome: final F̂ ± SE on fresh samples, the fit, its F̂ trace and any warnings.</summary>
public sealed record RotationalViRestart(
    int Index, double FreeEnergy, double StandardError, int Iterations, bool Converged, RotatedProduct Fit,
    IReadOnlyList<(int Iteration, double Estimate)> Trace, IReadOnlyList<string> Warnings);

/// <summary>All restarts, and the best (lowest F̂).</summary>
public sealed record RotationalViResult(IReadOnlyList<RotationalViRestart> Restarts)
{
    /// <summary>The restart with the lowest final F̂.</summary>
    public RotationalViRestart Best => Restarts.MinBy(r => r.FreeEnergy)!;
}

/// <summary>
/// Polyhedral mean-field VI and rotational VI (paper 003, Algorithm 1; ../specs/rovi-mfvi.md): minimises
/// F(O, λ, v) = E V(O T_θ(x)) − Σ_i E log S_i'(x_i) − (d/2)(1 + log 2π) = KL((O∘T_θ)#ρ ‖ π) − log Z over the
/// <see cref="RotatedProduct"/> family, alternating an MFVI step on (λ, v) against π rotated by O and a Riemannian
/// gradient step on O retracted by QR. Several restarts, the first with O₀ = I (so the best restart is in practice
/// never worse than MFVI), the others from Haar-distributed O₀; each stops by the window rule of spec §6.
/// </summary>
public static class RotationalVi
{
    /// <summary>Runs every restart on <paramref name="target"/> and returns them all.</summary>
    /// <exception cref="ArgumentException">Options out of range.</exception>
    /// <exception cref="TargetEvaluationException">The target returned a non-finite value (the message names the point).</exception>
    public static RotationalViResult Fit(ITarget target, RotationalViOptions options, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.InitialCenter is { } center && (center.Length != target.Dimension || !center.All(double.IsFinite)))
            throw new ArgumentException($"initial center: needs {target.Dimension} finite numbers (the target's dimension), got [{string.Join(", ", center)}].");
        if (options.InitialRotation is { } rotation && rotation.Length != target.Dimension * target.Dimension)
            throw new ArgumentException($"initial rotation: {rotation.Length} numbers, but the target has dimension {target.Dimension} (needs {target.Dimension * target.Dimension}).");
        var dictionary = options.Dictionary ?? PolyhedralDictionary.GaussianQuantile();
        var results = new RotationalViRestart[options.Restarts];
        try
        {
            Parallel.For(0, options.Restarts, new ParallelOptions { MaxDegreeOfParallelism = options.Threads, CancellationToken = cancellation },
                r => results[r] = new Run(target, dictionary, options, r, cancellation).Execute());
        }
        catch (AggregateException e) when (e.InnerExceptions.Count >= 1)
        {
            // One clear error (the first restart's), not a wrapper.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
        return new RotationalViResult(results);
    }

    /// <summary>
    /// F̂ = mean of V(z) + Σ_i N(λ_i) − (d/2)(1 + log 2π) over <paramref name="samples"/> fresh draws of
    /// <paramref name="fit"/>, and its standard error sd(V(z))/√samples (the entropy part is exact). When
    /// <paramref name="potentials"/> is given it receives the V(z) values.
    /// </summary>
    public static (double FreeEnergy, double StandardError) EstimateFreeEnergy(ITarget target, RotatedProduct fit, int samples, Xoshiro256StarStar rng, double[]? potentials = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(fit);
        ArgumentNullException.ThrowIfNull(rng);
        int d = fit.Dimension;
        if (target.Dimension != d) throw new ArgumentException($"the target has dimension {target.Dimension}, the fit {d}.");
        const int Block = 4096;
        var x = new double[Block * d];
        var z = new double[Block * d];
        var gradients = new double[Block * d];
        var logDensities = new double[Block];
        ArgumentOutOfRangeException.ThrowIfLessThan(samples, 2);
        // Sums of V − V(first draw): the shift keeps the variance free of cancellation when V is large.
        double sum = 0, sumSquares = 0, shift = double.NaN;
        for (int start = 0; start < samples; start += Block)
        {
            int count = Math.Min(Block, samples - start);
            rng.FillStandardNormal(x.AsSpan(0, count * d));
            fit.Push(x, count, default, z);
            TargetEvaluator.LogDensityAndGradient(target, z, count, logDensities, gradients);
            for (int p = 0; p < count; p++)
            {
                double v = -logDensities[p];
                if (double.IsNaN(shift)) shift = v;
                sum += v - shift;
                sumSquares += (v - shift) * (v - shift);
                if (potentials is not null) potentials[start + p] = v;
            }
        }
        double mean = sum / samples;
        double variance = Math.Max(0, (sumSquares - samples * mean * mean) / (samples - 1));
        return (shift + mean + fit.NegativeLogDeterminant() - 0.5 * d * (1 + Math.Log(2 * Math.PI)), Math.Sqrt(variance / samples));
    }

    /// <summary>
    /// A data-driven start for RoVI (ours; docs/experiments.md, paper 003): runs <paramref name="chains"/> short ULA
    /// chains from wide starts N(0, <paramref name="spread"/>² I), so that they fall into the basins of several modes,
    /// and returns their mean as a centre of rotation and the eigenvectors of their covariance (largest first) as a first
    /// rotation. Use them as <see cref="RotationalViOptions.InitialCenter"/> and <see cref="RotationalViOptions.InitialRotation"/>
    /// with a small <see cref="RotationalViOptions.InitialSpread"/>: the leading direction then points across the modes.
    /// </summary>
    public static (double[] Center, double[] Rotation) LangevinStart(ITarget target, ulong seed, int chains = 256, int steps = 300,
        double stepSize = 0.05, double spread = 5, int threads = 1)
    {
        ArgumentNullException.ThrowIfNull(target);
        int d = target.Dimension;
        if (chains < 2) throw new ArgumentException($"need chains ≥ 2 (got {chains}).");
        if (!(spread >= 0) || !double.IsFinite(spread)) throw new ArgumentException($"spread must be finite and ≥ 0 (got {spread}).");
        var starts = new double[chains * d];
        new Xoshiro256StarStar(Xoshiro256StarStar.Mix(seed, 1)).FillStandardNormal(starts);
        TensorPrimitives.Multiply(starts, spread, starts);
        double[] x = Baselines.Langevin.Sample(target, starts, steps, stepSize, Xoshiro256StarStar.Mix(seed, 2), threads);
        var center = new double[d];
        for (int c = 0; c < chains; c++) TensorPrimitives.Add(center, x.AsSpan(c * d, d), center);
        TensorPrimitives.Multiply(center, 1.0 / chains, center);
        var covariance = new double[d * d];
        for (int c = 0; c < chains; c++)
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++) covariance[i * d + j] += (x[c * d + i] - center[i]) * (x[c * d + j] - center[j]) / (chains - 1);
        var values = new double[d];
        var vectors = new double[d * d];
        Dense.SymmetricEigen(covariance, d, values, vectors); // ascending
        var rotation = new double[d * d];
        for (int column = 0; column < d; column++)
            for (int r = 0; r < d; r++) rotation[r * d + column] = vectors[r * d + (d - 1 - column)];
        return (center, rotation);
    }

    /// <summary>A Haar-distributed rotation: the sign-fixed QR factor of a d×d standard Gaussian matrix.</summary>
    public static double[] HaarRotation(Xoshiro256StarStar rng, int d)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var o = new double[d * d];
        rng.FillStandardNormal(o);
        Dense.OrthogonalFactor(o, d);
        return o;
    }

    /// <summary>
    /// One Monte Carlo batch of reference points x (N×d) with their dictionary features, and the batch objective's
    /// gradients at given (O, v, λ): y = T_θ(x), z = O y, g = ∇V(z), u = Oᵀ g; ∂/∂v = mean u, the potential part of
    /// ∂/∂λ_i = mean u_i f(x_i), ∂/∂O = mean g yᵀ (spec §3). Reused by every iteration of a restart.
    /// </summary>
    internal sealed class MonteCarloBatch
    {
        private readonly ITarget _target;
        private readonly PolyhedralDictionary _dictionary;
        private readonly int _d, _n, _count;
        private readonly double[] _x, _y, _z, _g, _logDensities;
        // Where each x_pi falls in the dictionary (coordinate-major, i·N + p): the atoms' values follow from these, so
        // y and the λ-gradient cost O(1) per point and coordinate plus O(n) per coordinate instead of O(n) per point.
        private readonly int[] _passed, _below;
        private readonly double[] _fraction;
        private readonly double[] _rampPrefix, _stepPrefix, _passedSums, _fractionSums, _belowSums;

        public MonteCarloBatch(ITarget target, PolyhedralDictionary dictionary, int count)
        {
            _target = target;
            _dictionary = dictionary;
            _d = target.Dimension;
            _n = dictionary.Size;
            _count = count;
            _x = new double[count * _d];
            _y = new double[count * _d];
            _z = new double[count * _d];
            _g = new double[count * _d];
            _logDensities = new double[count];
            _passed = new int[count * _d];
            _below = new int[count * _d];
            _fraction = new double[count * _d];
            int ramps = dictionary.Ramps, steps = dictionary.Steps;
            _rampPrefix = new double[ramps + 1];
            _stepPrefix = new double[steps + 1];
            _passedSums = new double[ramps + 1];
            _fractionSums = new double[ramps];
            _belowSums = new double[steps + 1];
            OffsetGradient = new double[_d];
            PotentialGradient = new double[_d * _n];
            RotationGradient = new double[_d * _d];
        }

        /// <summary>mean u = ∂(mean V)/∂v after <see cref="Evaluate"/>.</summary>
        public double[] OffsetGradient { get; }

        /// <summary>mean u_i f(x_i) = ∂(mean V)/∂λ_i, d×n, after <see cref="Evaluate"/>.</summary>
        public double[] PotentialGradient { get; }

        /// <summary>mean g yᵀ = ∂(mean V)/∂O, d×d, after <see cref="Evaluate"/> with the rotation gradient asked for.</summary>
        public double[] RotationGradient { get; }

        /// <summary>Draws fresh x ~ N(0, I) and locates them in the dictionary.</summary>
        public void Draw(Xoshiro256StarStar rng)
        {
            rng.FillStandardNormal(_x);
            Locate();
        }

        /// <summary>Uses the given points x (N×d) instead of drawing.</summary>
        public void SetPoints(ReadOnlySpan<double> x)
        {
            x[..(_count * _d)].CopyTo(_x);
            Locate();
        }

        private void Locate()
        {
            int d = _d, b = _count;
            for (int i = 0; i < d; i++)
                for (int p = 0; p < b; p++)
                {
                    int at = i * b + p;
                    _dictionary.Locate(_x[p * d + i], out _passed[at], out _fraction[at], out _below[at]);
                }
        }

        /// <summary>
        /// Pushes the batch through (O, v, λ) about the centre c (z = c + O y), evaluates the target and returns mean V(z);
        /// fills the v and λ gradients when <paramref name="meanField"/>, and G when <paramref name="rotation"/>.
        /// </summary>
        public double Evaluate(ReadOnlySpan<double> rotationMatrix, ReadOnlySpan<double> offset, ReadOnlySpan<double> lambda, ReadOnlySpan<double> center, bool meanField, bool rotation)
        {
            int d = _d, n = _n, b = _count, ramps = _dictionary.Ramps, steps = _dictionary.Steps;
            ReadOnlySpan<double> rampMeans = _dictionary.RampMeans, stepMeans = _dictionary.StepMeans;
            for (int i = 0; i < d; i++)
            {
                // y = v + (α + λ₀)x + Σ_{k < passed} λ_k + λ_passed·fraction + Σ_{j < below} λ_{J+j} − Σ_a λ_a E f_a.
                ReadOnlySpan<double> li = lambda.Slice(i * n, n);
                double centre = 0;
                _rampPrefix[0] = 0;
                for (int k = 0; k < ramps; k++)
                {
                    _rampPrefix[k + 1] = _rampPrefix[k] + li[1 + k];
                    centre += li[1 + k] * rampMeans[k];
                }
                _stepPrefix[0] = 0;
                for (int j = 0; j < steps; j++)
                {
                    _stepPrefix[j + 1] = _stepPrefix[j] + li[1 + ramps + j];
                    centre += li[1 + ramps + j] * stepMeans[j];
                }
                double slope = _dictionary.Alpha + li[0], shift = offset[i] - centre;
                for (int p = 0; p < b; p++)
                {
                    int at = i * b + p, passed = _passed[at];
                    double partial = passed < ramps ? li[1 + passed] * _fraction[at] : 0.0;
                    _y[p * d + i] = shift + slope * _x[p * d + i] + _rampPrefix[passed] + partial + _stepPrefix[_below[at]];
                }
            }
            for (int p = 0; p < b; p++)
            {
                RotatedProduct.Rotate(rotationMatrix, d, _y.AsSpan(p * d, d), _z.AsSpan(p * d, d));
                TensorPrimitives.Add(_z.AsSpan(p * d, d), center, _z.AsSpan(p * d, d));
            }
            TargetEvaluator.LogDensityAndGradient(_target, _z, b, _logDensities, _g);
            TensorPrimitives.Negate(_g, _g); // ∇V = −∇log π
            double inverse = 1.0 / b;
            if (meanField)
            {
                for (int c = 0; c < d; c++)
                {
                    // u_c = (Oᵀg)_c per point, binned by where x_pc fell.
                    Array.Clear(_passedSums);
                    Array.Clear(_fractionSums);
                    Array.Clear(_belowSums);
                    double mean = 0, moment = 0;
                    for (int p = 0; p < b; p++)
                    {
                        double u = 0;
                        for (int r = 0; r < d; r++) u += rotationMatrix[r * d + c] * _g[p * d + r];
                        u *= inverse;
                        int at = c * b + p, passed = _passed[at];
                        mean += u;
                        moment += u * _x[p * d + c];
                        _passedSums[passed] += u;
                        if (passed < ramps) _fractionSums[passed] += u * _fraction[at];
                        _belowSums[_below[at]] += u;
                    }
                    OffsetGradient[c] = mean;
                    Span<double> gradient = PotentialGradient.AsSpan(c * n, n);
                    gradient[0] = moment;
                    // Ramp k is 1 for points that passed more than k ramps: a suffix sum.
                    double beyond = 0;
                    for (int k = ramps - 1; k >= 0; k--)
                    {
                        beyond += _passedSums[k + 1];
                        gradient[1 + k] = beyond + _fractionSums[k] - rampMeans[k] * mean;
                    }
                    beyond = 0;
                    for (int j = steps - 1; j >= 0; j--)
                    {
                        beyond += _belowSums[j + 1];
                        gradient[1 + ramps + j] = beyond - stepMeans[j] * mean;
                    }
                }
            }
            if (rotation)
            {
                Array.Clear(RotationGradient);
                for (int p = 0; p < b; p++)
                    for (int r = 0; r < d; r++)
                        TensorPrimitives.MultiplyAdd(_y.AsSpan(p * d, d), _g[p * d + r] * inverse, RotationGradient.AsSpan(r * d, d), RotationGradient.AsSpan(r * d, d));
            }
            return -TensorPrimitives.Sum<double>(_logDensities) * inverse;
        }

        /// <summary>The pushed points y = T_θ(x) of the last <see cref="Evaluate"/> (N×d).</summary>
        internal ReadOnlySpan<double> Pushed => _y;
    }

    // One restart: its stream, its state and its buffers.
    internal sealed class Run
    {
        private readonly ITarget _target;
        private readonly PolyhedralDictionary _dictionary;
        private readonly RotationalViOptions _o;
        private readonly int _index, _d, _n;
        private readonly CancellationToken _cancellation;
        private readonly Xoshiro256StarStar _rng;
        private readonly double[] _rotation, _offset, _lambda, _center, _projected, _work;
        private readonly MonteCarloBatch _batch;
        private readonly PolyhedralStep _step;
        private readonly List<string> _warnings = [];

        public Run(ITarget target, PolyhedralDictionary dictionary, RotationalViOptions o, int index, CancellationToken cancellation)
        {
            _target = target;
            _dictionary = dictionary;
            _o = o;
            _index = index;
            _cancellation = cancellation;
            _d = target.Dimension;
            _n = dictionary.Size;
            _rng = new Xoshiro256StarStar(Xoshiro256StarStar.Mix(o.Seed, (ulong)index));
            int d = _d, n = _n;
            // Restart 0 starts from O = I (or the given warm start); the others from Haar (all stay at I without rotation).
            _rotation = !o.Rotate ? Identity(d) : index > 0 ? HaarRotation(_rng, d) : o.InitialRotation is { } start ? (double[])start.Clone() : Identity(d);
            _offset = new double[d];
            _rng.FillStandardNormal(_offset);
            TensorPrimitives.Multiply(_offset, o.InitialSpread, _offset);
            _center = o.InitialCenter is { } c ? (double[])c.Clone() : new double[d];
            _lambda = new double[d * n];
            for (int i = 0; i < d; i++) _lambda[i * n] = Math.Max(0, o.InitialScale - dictionary.Alpha); // S(t) = s₀t: μ₀ = N(O v₀, s₀²I)
            _projected = new double[d * d];
            _work = new double[d * d];
            _batch = new MonteCarloBatch(target, dictionary, o.BatchSize);
            _step = new PolyhedralStep(dictionary);
            if (dictionary.GramRegularized) _warnings.Add($"the Gram matrix of {dictionary.Name} needed a 1e−12·tr(Q)/n ridge to factor.");
        }

        private static double[] Identity(int d)
        {
            var o = new double[d * d];
            for (int i = 0; i < d; i++) o[i * d + i] = 1;
            return o;
        }

        public RotationalViRestart Execute()
        {
            var trace = new List<(int, double)>();
            int iteration = 0;
            bool converged = false;
            bool warnedCurvature = false;
            while (iteration < _o.MaxIterations)
            {
                _cancellation.ThrowIfCancellationRequested();
                Iterate(ref warnedCurvature);
                iteration++;
                if (iteration % _o.EvaluateEvery == 0)
                {
                    var (estimate, _) = EstimateFreeEnergy(_target, Current(), _o.EvaluationSamples, _rng);
                    trace.Add((iteration, estimate));
                    if (_o.StopEarly && WindowsAgree(trace)) { converged = true; break; }
                }
            }
            RotatedProduct fit = Current();
            var potentials = new double[_o.FinalSamples];
            var (free, se) = EstimateFreeEnergy(_target, fit, _o.FinalSamples, _rng, potentials);
            WarnAboutGaps(potentials);
            return new RotationalViRestart(_index, free, se, iteration, converged, fit, trace, _warnings);
        }

        private RotatedProduct Current() => new(_dictionary, _rotation, _offset, _lambda, _center);

        // Stop when the means of the last two windows of 10 estimates differ by less than max(tolerance, 2 SE of the difference).
        private bool WindowsAgree(List<(int Iteration, double Estimate)> trace)
        {
            const int Window = 10;
            if (trace.Count < 2 * Window) return false;
            double MeanOf(int from) => Enumerable.Range(from, Window).Average(i => trace[i].Estimate);
            double VarianceOf(int from, double mean) => Enumerable.Range(from, Window).Sum(i => (trace[i].Estimate - mean) * (trace[i].Estimate - mean)) / (Window - 1);
            int last = trace.Count - Window, previous = trace.Count - 2 * Window;
            double a = MeanOf(last), b = MeanOf(previous);
            double se = Math.Sqrt((VarianceOf(last, a) + VarianceOf(previous, b)) / Window);
            return Math.Abs(a - b) < Math.Max(_o.Tolerance, 2 * se);
        }

        /// <summary>One iteration (MFVI step, then the rotation step when rotating), as <see cref="Execute"/> runs it.</summary>
        internal void Step()
        {
            bool warned = true;
            Iterate(ref warned);
        }

        private void Iterate(ref bool warnedCurvature)
        {
            int d = _d, n = _n;
            _batch.Draw(_rng);
            _batch.Evaluate(_rotation, _offset, _lambda, _center, meanField: true, rotation: false);
            double vStep;
            if (_o.Step == MeanFieldStepKind.ForwardBackward)
            {
                for (int i = 0; i < d; i++) _step.ForwardBackward(_lambda.AsSpan(i * n, n), _batch.PotentialGradient.AsSpan(i * n, n), _o.StepSize);
                vStep = _o.StepSize;
            }
            else
            {
                for (int i = 0; i < d; i++)
                {
                    double kappa = _step.ProjectedGradient(_lambda.AsSpan(i * n, n), _batch.PotentialGradient.AsSpan(i * n, n), _o.MeanFieldRate, _o.Smoothness);
                    double product = kappa * _o.MeanFieldRate / Math.Max(_o.Smoothness, kappa); // κτ ≤ η_MF with the cap
                    if (!warnedCurvature && product > 1)
                    {
                        warnedCurvature = true;
                        _warnings.Add($"κτ = {product:G3} > 1 (entropy curvature κ = {kappa:G3}, τ = η_MF/max(L, κ)): the explicit step is past half its stability limit; use η_MF ≤ 1 (spec §4 A).");
                    }
                }
                vStep = _o.MeanFieldRate / _o.Smoothness;
            }
            TensorPrimitives.MultiplyAdd(_batch.OffsetGradient, -vStep, _offset, _offset);
            if (!_o.Rotate) return;
            // Rotation step at θ_{t+1} on the same draws: G = mean g yᵀ, G̃ = ½(G − O Gᵀ O), O ← qf(O − η_O G̃).
            _batch.Evaluate(_rotation, _offset, _lambda, _center, meanField: false, rotation: true);
            double[] g = _batch.RotationGradient;
            for (int r = 0; r < d; r++)
                for (int e = 0; e < d; e++)
                    _work[r * d + e] = TensorPrimitives.Dot(_rotation.AsSpan(r * d, d), g.AsSpan(e * d, d)); // (O Gᵀ)_re
            Dense.Multiply(_work, _rotation, d, _projected);                                                  // O Gᵀ O
            for (int k = 0; k < d * d; k++) _rotation[k] -= _o.RotationStepSize * 0.5 * (g[k] - _projected[k]);
            Dense.OrthogonalFactor(_rotation, d);
        }

        // Spec §6 "users will expect": more than 1% of the mass where V exceeds its sample median by 20 means a ramp
        // carries mass across a valley (a gap a step should make).
        private void WarnAboutGaps(double[] potentials)
        {
            var sorted = (double[])potentials.Clone();
            Array.Sort(sorted);
            double median = sorted[sorted.Length / 2];
            int high = 0;
            foreach (double v in potentials) if (v > median + 20) high++;
            if (high > 0.01 * potentials.Length)
                _warnings.Add($"{100.0 * high / potentials.Length:F1}% of the fit's mass sits where V exceeds its median by more than 20: a ramp is carrying mass across a gap (use a dictionary with steps).");
        }
    }
}
