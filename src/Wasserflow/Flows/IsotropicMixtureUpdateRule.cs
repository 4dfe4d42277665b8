namespace Wasserflow.Flows;

/// <summary>
/// How one component of a uniform isotropic mixture moves given its KL gradients: the part that differs between IBW,
/// MD, GD and NGD (paper 000, Algorithm 1 and Appendix C; docs/specs/mig.md). Each rule is one small type; register new
/// ones in <see cref="IsotropicMixtureAlgorithms"/>.
/// </summary>
public abstract class IsotropicMixtureUpdateRule
{
    /// <summary>Short name, as on the command line.</summary>
    public abstract string Name { get; }

    /// <summary>
    /// Writes the new mean of one component into <paramref name="newMean"/> and returns its new variance.
    /// The caller checks the result (positive, finite) before committing it.
    /// </summary>
    /// <param name="mean">Current m_i.</param>
    /// <param name="variance">Current ε_i.</param>
    /// <param name="gradientMean">∇_{m_i}F.</param>
    /// <param name="gradientVariance">∇_{ε_i}F.</param>
    /// <param name="stepSize">γ.</param>
    /// <param name="components">N.</param>
    /// <param name="newMean">Destination for m_i'.</param>
    public abstract double Update(ReadOnlySpan<double> mean, double variance, ReadOnlySpan<double> gradientMean,
        double gradientVariance, double stepSize, int components, Span<double> newMean);

    /// <summary>The gradient step on the means shared by IBW, MD and GD: m_i' = m_i − γ N ∇_{m_i}F.</summary>
    protected static void GradientStepOnMean(ReadOnlySpan<double> mean, ReadOnlySpan<double> gradientMean, double stepSize,
        int components, Span<double> newMean) =>
        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(gradientMean, -stepSize * components, mean, newMean);
}

/// <summary>Creates update rules by name.</summary>
public static class IsotropicMixtureAlgorithms
{
    private static readonly Dictionary<string, Func<IsotropicMixtureUpdateRule>> Registry = new(StringComparer.OrdinalIgnoreCase)
    {
        ["ibw"] = () => new IbwUpdate(),
        ["md"] = () => new MirrorDescentUpdate(),
        ["gd"] = () => new MeansOnlyGradientUpdate(),
        ["ngd"] = () => new NaturalGradientUpdate(),
    };

    /// <summary>The registered names: ibw, md, gd, ngd.</summary>
    public static IReadOnlyCollection<string> Names => Registry.Keys;

    /// <summary>The rule called <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">Unknown name; the message lists the known ones.</exception>
    public static IsotropicMixtureUpdateRule Create(string name)
    {
        if (name is not null && Registry.TryGetValue(name, out var factory)) return factory();
        throw new ArgumentException($"unknown algorithm '{name}'; expected one of: {string.Join(", ", Registry.Keys)}", nameof(name));
    }
}
