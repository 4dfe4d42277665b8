namespace Wasserflow.Flows;

/// <summary>
/// GD, gradient descent on the means with the variances fixed at their initial values [Huix2024]:
/// m_i' = m_i − γN∇_{m_i}F, ε_i' = ε_i.
/// </summary>
public sealed class MeansOnlyGradientUpdate : IsotropicMixtureUpdateRule
{
    /// <inheritdoc/>
    public override string Name => "gd";

    /// <inheritdoc/>
    public override double Update(ReadOnlySpan<double> mean, double variance, ReadOnlySpan<double> gradientMean,
        double gradientVariance, double stepSize, int components, Span<double> newMean)
    {
        GradientStepOnMean(mean, gradientMean, stepSize, components, newMean);
        return variance;
    }
}
