using System.Numerics.Tensors;
using Wasserflow.Families;
using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;
using Wasserflow.Running;
using Wasserflow.Targets;

namespace Wasserflow.Flows;

/// <summary>How the weights λ of the polyhedral maps are updated (docs/specs/rovi-mfvi.md §4).</summary>
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
/// Polyhedral mean-field VI and rotational VI (paper 003, Algorithm 1; docs/specs/rovi-mfvi.md): minimises
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
    /// <param name="target">The target.</param>
    /// <param name="options">The settings.</param>
    /// <param name="cancellation">Stops every restart after its current step (each writes its checkpoint first); the call then throws <see cref="OperationCanceledException"/>.</param>
    /// <param name="checkpoints">Where each restart keeps its checkpoint ("restart-i"), resuming from it when there is one; null for none.</param>
    /// <param name="observers">An observer for restart i (progress: its steps and their fresh-sample estimates); null or returning null for none. Restarts may run in parallel.</param>
    public static RotationalViResult Fit(ITarget target, RotationalViOptions options, CancellationToken cancellation = default, CheckpointStore? checkpoints = null,
        Func<int, Running.IRunObserver?>? observers = null)
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
                r => results[r] = Restart(target, dictionary, options, r, cancellation, checkpoints?.Slot($"restart-{r}"), observers?.Invoke(r)));
        }
        catch (AggregateException e) when (e.InnerExceptions.Count >= 1)
        {
            // One clear error (the first restart's), not a wrapper.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
        return new RotationalViResult(results);
    }

    /// <summary>
    /// One restart on the shared run loop: the flow from restart <paramref name="index"/>'s start, stopped by the window
    /// rule (when <see cref="RotationalViOptions.StopEarly"/>) or the iteration cap, then F̂ ± SE on fresh draws of its
    /// stream and the gap warning.
    /// </summary>
    /// <exception cref="TargetEvaluationException">The target returned a non-finite value.</exception>
    /// <param name="target">The target.</param>
    /// <param name="dictionary">The dictionary of the maps.</param>
    /// <param name="options">The settings.</param>
    /// <param name="index">The restart's index (its stream and, for 0, the identity start).</param>
    /// <param name="cancellation">Stops the restart after its current step (writing its checkpoint); the call then throws <see cref="OperationCanceledException"/>.</param>
    /// <param name="checkpoint">Where the restart keeps its checkpoint, resuming from it when there is one; null for none.</param>
    /// <param name="observer">Sees each step (with the flow's fresh-sample estimate when it made one); null for none.</param>
    public static RotationalViRestart Restart(ITarget target, PolyhedralDictionary dictionary, RotationalViOptions options, int index,
        CancellationToken cancellation = default, CheckpointSlot? checkpoint = null, Running.IRunObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(dictionary);
        ArgumentNullException.ThrowIfNull(options);
        var flow = new RotationalViFlow(target, dictionary, options);
        var window = new Running.EvaluationWindow(options.Tolerance, options.StopEarly);
        var run = Running.VariationalRunner.Run(flow, RotationalViState.Start(target.Dimension, dictionary, options, index),
            new Running.RunOptions(options.MaxIterations, TraceEvery: 0, StopRule: window), observer, cancellation, checkpoint);
        cancellation.ThrowIfCancellationRequested();
        if (run.Status == Running.RunStatus.Failed) throw new TargetEvaluationException(run.Message ?? "the target returned a non-finite value");
        RotationalViState state = run.FinalState;
        RotatedProduct fit = state.Fit(dictionary);
        var potentials = new double[options.FinalSamples];
        var (free, se) = EstimateFreeEnergy(target, fit, options.FinalSamples, state.Rng, potentials);
        if (GapWarning(potentials) is { } gap) state.Warn(gap);
        return new RotationalViRestart(index, free, se, (int)state.Iteration, run.Status == Running.RunStatus.Converged, fit, window.Trace, state.Warnings);
    }

    // Spec §6 "users will expect": more than 1% of the mass where V exceeds its sample median by 20 means a ramp
    // carries mass across a valley (a gap a step should make).
    private static string? GapWarning(double[] potentials)
    {
        var sorted = (double[])potentials.Clone();
        Array.Sort(sorted);
        double median = sorted[sorted.Length / 2];
        int high = potentials.Count(v => v > median + 20);
        return high > 0.01 * potentials.Length
            ? $"{100.0 * high / potentials.Length:F1}% of the fit's mass sits where V exceeds its median by more than 20: a ramp is carrying mass across a gap (use a dictionary with steps)."
            : null;
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

}
