using Wasserflow.Families;
using Wasserflow.Randomness;

namespace Wasserflow.Flows;

/// <summary>
/// The state of the Bures–Wasserstein flows (paper 002): K Gaussian particles N(m_k, R_k R_kᵀ) with weights w_k (uniform
/// unless Wasserstein–Fisher–Rao), the iteration count, the integration time and the RNG position. One particle is
/// Gaussian VI. Steps update it in place; <see cref="Clone"/> takes a snapshot.
/// </summary>
public sealed class GaussianParticleState : IFlowState<GaussianParticleState>
{
    /// <summary>A state from means (K×d), lower-triangular factors (K×d×d) and weights (K), at iteration <paramref name="iteration"/>.</summary>
    public GaussianParticleState(double[] means, double[] factors, double[] weights, long iteration, Xoshiro256StarStar rng)
    {
        ArgumentNullException.ThrowIfNull(means);
        ArgumentNullException.ThrowIfNull(factors);
        ArgumentNullException.ThrowIfNull(weights);
        int k = weights.Length;
        if (k == 0 || means.Length == 0 || means.Length % k != 0)
            throw new ArgumentException("means must hold K×d numbers for the K weights.");
        int d = means.Length / k;
        if (factors.Length != k * d * d) throw new ArgumentException($"factors must hold K×d×d = {k * d * d} numbers.");
        Means = means;
        Factors = factors;
        Weights = weights;
        Iteration = iteration;
        Rng = rng ?? throw new ArgumentNullException(nameof(rng));
    }

    /// <summary>K particles with means uniform in a ball of the given radius and covariance variance·I, uniform weights.</summary>
    public static GaussianParticleState BallStart(Xoshiro256StarStar rng, int particles, int dimension, double radius, double variance, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(rng);
        int d = dimension;
        var means = new double[particles * d];
        var factors = new double[particles * d * d];
        var direction = new double[d];
        for (int k = 0; k < particles; k++)
        {
            rng.FillStandardNormal(direction);
            double norm = Math.Sqrt(direction.Sum(v => v * v));
            double r = radius * Math.Pow(rng.NextDouble(), 1.0 / d);
            for (int i = 0; i < d; i++)
            {
                means[k * d + i] = r * direction[i] / norm;
                factors[k * d * d + i * d + i] = Math.Sqrt(variance);
            }
        }
        return new GaussianParticleState(means, factors, Enumerable.Repeat(1.0 / particles, particles).ToArray(), 0, new Xoshiro256StarStar(seed));
    }

    /// <summary>The starting state for a mixture q0 and a seed.</summary>
    public static GaussianParticleState Start(GaussianMixture initial, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(initial);
        int k = initial.ComponentCount, d = initial.Dimension;
        var factors = new double[k * d * d];
        for (int j = 0; j < k; j++) initial.Component(j).CholeskyFactor.CopyTo(factors.AsSpan(j * d * d, d * d));
        return new GaussianParticleState(initial.Means.ToArray(), factors, initial.Weights.ToArray(), 0, new Xoshiro256StarStar(seed));
    }

    /// <summary>The starting state of Gaussian VI from p0 and a seed.</summary>
    public static GaussianParticleState Start(Gaussian initial, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(initial);
        return new GaussianParticleState(initial.Mean.ToArray(), initial.CholeskyFactor.ToArray(), [1.0], 0, new Xoshiro256StarStar(seed));
    }

    /// <summary>Means, K×d row-major.</summary>
    public double[] Means { get; }

    /// <summary>Cholesky factors R_k (lower triangular), K×d×d row-major.</summary>
    public double[] Factors { get; }

    /// <summary>Weights w_k (sum 1).</summary>
    public double[] Weights { get; }

    /// <inheritdoc/>
    public long Iteration { get; internal set; }

    /// <summary>Integration time reached (Σ of step sizes).</summary>
    public double Time { get; internal set; }

    /// <summary>Integrator steps actually taken: more than <see cref="Iteration"/> when stability control split steps.</summary>
    public long Substeps { get; internal set; }

    /// <summary>The RNG the algorithm draws from (Monte Carlo expectations, BW-SGD).</summary>
    public Xoshiro256StarStar Rng { get; }

    /// <summary>K.</summary>
    public int ComponentCount => Weights.Length;

    /// <summary>
    /// An optimiser's memory carried with the state (ADVI's running average of squared gradients); empty for the flows
    /// that need none. Checkpointed with the rest, so a resumed run continues with the same step sizes.
    /// </summary>
    public double[] Optimizer { get; internal set; } = [];

    /// <summary>d.</summary>
    public int Dimension => Means.Length / Weights.Length;

    /// <summary>The mixture this state describes.</summary>
    public GaussianMixture ToMixture() => new(Means, Factors, Weights, ComponentCount);

    /// <summary>Particle <paramref name="k"/> as a Gaussian (for K = 1, the Gaussian VI fit).</summary>
    public Gaussian Particle(int k = 0)
    {
        int d = Dimension;
        return Gaussian.FromCholesky(Means.AsSpan(k * d, d), Factors.AsSpan(k * d * d, d * d));
    }

    /// <inheritdoc/>
    public double Spread
    {
        get
        {
            // The largest marginal standard deviation: sqrt of the largest diagonal entry of R Rᵀ, i.e. of a row's norm².
            int d = Dimension;
            double largest = 0;
            for (int row = 0; row < Factors.Length / d; row++)
            {
                ReadOnlySpan<double> r = Factors.AsSpan(row * d, d);
                double s = 0;
                foreach (double v in r) s += v * v;
                largest = Math.Max(largest, s);
            }
            return Math.Sqrt(largest);
        }
    }

    /// <inheritdoc/>
    public double[]? Moments()
    {
        // mean = Σ w_k m_k; variance_i = Σ w_k (Σ_ii^k + m_ki²) − mean_i², Σ_ii^k the squared norm of row i of L_k.
        int n = ComponentCount, d = Dimension;
        var moments = new double[2 * d];
        for (int k = 0; k < n; k++)
            for (int i = 0; i < d; i++)
            {
                double m = Means[k * d + i], w = Weights[k], rowSquares = 0;
                foreach (double v in Factors.AsSpan(k * d * d + i * d, d)) rowSquares += v * v;
                moments[i] += w * m;
                moments[d + i] += w * (rowSquares + m * m);
            }
        for (int i = 0; i < d; i++) moments[d + i] = Math.Sqrt(Math.Max(moments[d + i] - moments[i] * moments[i], 0));
        return moments;
    }

    /// <inheritdoc/>
    public void Write(BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        Running.CheckpointStore.WriteDoubles(writer, Means);
        Running.CheckpointStore.WriteDoubles(writer, Factors);
        Running.CheckpointStore.WriteDoubles(writer, Weights);
        writer.Write(Iteration);
        writer.Write(Time);
        writer.Write(Substeps);
        Running.CheckpointStore.WriteRng(writer, Rng);
        Running.CheckpointStore.WriteDoubles(writer, Optimizer);
    }

    /// <inheritdoc/>
    public static GaussianParticleState Read(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        double[] means = Running.CheckpointStore.ReadDoubles(reader), factors = Running.CheckpointStore.ReadDoubles(reader), weights = Running.CheckpointStore.ReadDoubles(reader);
        long iteration = reader.ReadInt64();
        double time = reader.ReadDouble();
        long substeps = reader.ReadInt64();
        try
        {
            Xoshiro256StarStar rng = Running.CheckpointStore.ReadRng(reader);
            return new GaussianParticleState(means, factors, weights, iteration, rng) { Time = time, Substeps = substeps, Optimizer = Running.CheckpointStore.ReadDoubles(reader) };
        }
        catch (ArgumentException ex)
        {
            throw new Data.DataFormatException(ex.Message);
        }
    }

    /// <inheritdoc/>
    public GaussianParticleState Clone() =>
        new((double[])Means.Clone(), (double[])Factors.Clone(), (double[])Weights.Clone(), Iteration, Rng.Clone())
        {
            Time = Time,
            Substeps = Substeps,
            Optimizer = (double[])Optimizer.Clone(),
        };
}
