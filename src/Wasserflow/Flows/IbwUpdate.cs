namespace Wasserflow.Flows;

/// <summary>
/// IBW, the isotropic Bures–Wasserstein update (paper 000, Eq 14): m_i' = m_i − γN∇_{m_i}F and
/// ε_i' = (1 − (2Nγ/d) ∇_{ε_i}F)² ε_i. The square keeps ε_i' ≥ 0; it is 0 only when the factor is exactly 0, and a
/// huge step can overflow it: the flow rejects both.
/// </summary>
public sealed class IbwUpdate : IsotropicMixtureUpdateRule
{
    /// <inheritdoc/>
    public override string Name => "ibw";

    /// <inheritdoc/>
    public override double Update(ReadOnlySpan<double> mean, double variance, ReadOnlySpan<double> gradientMean,
        double gradientVariance, double stepSize, int components, Span<double> newMean)
    {
        GradientStepOnMean(mean, gradientMean, stepSize, components, newMean);
        double factor = 1.0 - 2.0 * components * stepSize / mean.Length * gradientVariance;
        return factor * factor * variance;
    }
}
