using Wasserflow.Families;
using Wasserflow.Randomness;

namespace Wasserflow.Flows;

/// <summary>
/// The state of the isotropic-mixture algorithms (IBW, MD, GD, NGD): means (N×d row-major), variances (N), the
/// iteration count and the RNG position. Steps update it in place; <see cref="Clone"/> takes a snapshot, and a state
/// carried over to a new run continues exactly where it stopped.
/// </summary>
public sealed class IsotropicMixtureState : IFlowState<IsotropicMixtureState>
{
    /// <summary>A state at iteration <paramref name="iteration"/> with the given parameters and RNG.</summary>
    public IsotropicMixtureState(double[] means, double[] variances, long iteration, Xoshiro256StarStar rng)
    {
        ArgumentNullException.ThrowIfNull(means);
        ArgumentNullException.ThrowIfNull(variances);
        if (variances.Length == 0 || means.Length % variances.Length != 0)
            throw new ArgumentException("means must hold N×d numbers for the N variances.");
        Means = means;
        Variances = variances;
        Iteration = iteration;
        Rng = rng ?? throw new ArgumentNullException(nameof(rng));
    }

    /// <summary>The starting state of a run: q0's parameters, iteration 0, and an RNG seeded with <paramref name="seed"/>.</summary>
    public static IsotropicMixtureState Start(IsotropicGaussianMixture initial, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(initial);
        return new IsotropicMixtureState(initial.Means.ToArray(), initial.Variances.ToArray(), 0, new Xoshiro256StarStar(seed));
    }

    /// <summary>Means, N×d row-major.</summary>
    public double[] Means { get; }

    /// <summary>Variances ε_j.</summary>
    public double[] Variances { get; }

    /// <inheritdoc/>
    public long Iteration { get; internal set; }

    /// <summary>How many times step control halved a component's step (0 when it never engaged).</summary>
    public long StepReductions { get; internal set; }

    /// <summary>The RNG the algorithm draws from.</summary>
    public Xoshiro256StarStar Rng { get; }

    /// <summary>N.</summary>
    public int ComponentCount => Variances.Length;

    /// <summary>d.</summary>
    public int Dimension => Means.Length / Variances.Length;

    /// <summary>The mixture this state describes.</summary>
    public IsotropicGaussianMixture ToMixture() => IsotropicGaussianMixture.FromMeansVariances(Means, Variances);

    /// <inheritdoc/>
    public double Spread => Math.Sqrt(Variances.Max());

    /// <inheritdoc/>
    public double[]? Moments()
    {
        // Uniform weights: mean = (1/N) Σ m_k; variance_i = (1/N) Σ (ε_k + m_ki²) − mean_i².
        int n = ComponentCount, d = Dimension;
        var moments = new double[2 * d];
        for (int k = 0; k < n; k++)
            for (int i = 0; i < d; i++)
            {
                double m = Means[k * d + i];
                moments[i] += m / n;
                moments[d + i] += (Variances[k] + m * m) / n;
            }
        for (int i = 0; i < d; i++) moments[d + i] = Math.Sqrt(Math.Max(moments[d + i] - moments[i] * moments[i], 0));
        return moments;
    }

    /// <inheritdoc/>
    public void Write(BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        Running.CheckpointStore.WriteDoubles(writer, Means);
        Running.CheckpointStore.WriteDoubles(writer, Variances);
        writer.Write(Iteration);
        writer.Write(StepReductions);
        Running.CheckpointStore.WriteRng(writer, Rng);
    }

    /// <inheritdoc/>
    public static IsotropicMixtureState Read(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        double[] means = Running.CheckpointStore.ReadDoubles(reader), variances = Running.CheckpointStore.ReadDoubles(reader);
        if (variances.Length == 0 || means.Length % variances.Length != 0)
            throw new Data.DataFormatException($"{means.Length} means do not fit {variances.Length} variances.");
        long iteration = reader.ReadInt64(), reductions = reader.ReadInt64();
        return new IsotropicMixtureState(means, variances, iteration, Running.CheckpointStore.ReadRng(reader)) { StepReductions = reductions };
    }

    /// <inheritdoc/>
    public IsotropicMixtureState Clone() =>
        new((double[])Means.Clone(), (double[])Variances.Clone(), Iteration, Rng.Clone()) { StepReductions = StepReductions };
}
