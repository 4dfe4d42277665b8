using System.Numerics.Tensors;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Baselines;

/// <summary>
/// The unadjusted Langevin algorithm (ULA, the LMC baseline of paper 003; docs/specs/rovi-mfvi.md §7): independent chains
/// X ← X + h∇log π(X) + √(2h) ξ, all started at the same point; the final states are the sample. Chains do not cross
/// between well-separated modes, so the split they show reflects basins of attraction, not the mixture weights.
/// </summary>
public static class Langevin
{
    /// <summary>
    /// Runs <paramref name="chains"/> chains for <paramref name="steps"/> steps of size <paramref name="stepSize"/> from
    /// <paramref name="start"/> and returns their final states (chains×d row-major). Chains are evaluated in parallel
    /// blocks on up to <paramref name="threads"/> threads; the numbers do not depend on the thread count.
    /// </summary>
    /// <exception cref="ArgumentException">A setting is out of range or <paramref name="start"/> has the wrong length.</exception>
    /// <exception cref="TargetEvaluationException">The target returned a non-finite value; the message names the point.</exception>
    public static double[] Sample(ITarget target, ReadOnlySpan<double> start, int chains, int steps, double stepSize, ulong seed, int threads = 1)
    {
        ArgumentNullException.ThrowIfNull(target);
        int d = target.Dimension;
        if (start.Length != d) throw new ArgumentException($"the start point has {start.Length} coordinates, the target {d}.");
        if (chains < 1) throw new ArgumentException($"need chains ≥ 1 (got {chains}).");
        var starts = new double[chains * d];
        for (int c = 0; c < chains; c++) start.CopyTo(starts.AsSpan(c * d, d));
        return Sample(target, starts, steps, stepSize, seed, threads);
    }

    /// <summary>
    /// As above, with chain c started at row c of <paramref name="starts"/> (chains×d); returns the final states. The
    /// array is not modified.
    /// </summary>
    public static double[] Sample(ITarget target, double[] starts, int steps, double stepSize, ulong seed, int threads = 1)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(starts);
        int d = target.Dimension, chains = starts.Length / d;
        if (chains < 1 || starts.Length != chains * d) throw new ArgumentException($"the starts must be chains × {d} numbers with chains ≥ 1 (got {starts.Length}).");
        if (steps < 0) throw new ArgumentException($"need steps ≥ 0 (got {steps}).");
        if (!(stepSize > 0) || !double.IsFinite(stepSize)) throw new ArgumentException($"step size must be finite and > 0 (got {stepSize}).");
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        var states = (double[])starts.Clone();
        const int Block = 256;
        int blocks = (chains + Block - 1) / Block;
        double noise = Math.Sqrt(2 * stepSize);
        Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = threads }, block =>
        {
            int first = block * Block, count = Math.Min(Block, chains - first);
            var rng = new Xoshiro256StarStar(Xoshiro256StarStar.Mix(seed, (ulong)block));
            Span<double> x = states.AsSpan(first * d, count * d);
            var gradients = new double[count * d];
            var xi = new double[count * d];
            var logDensities = new double[count];
            for (int s = 0; s < steps; s++)
            {
                TargetEvaluator.LogDensityAndGradient(target, x, count, logDensities, gradients);
                rng.FillStandardNormal(xi);
                TensorPrimitives.MultiplyAdd(gradients, stepSize, x, x);
                TensorPrimitives.MultiplyAdd(xi, noise, x, x);
            }
        });
        return states;
    }
}
