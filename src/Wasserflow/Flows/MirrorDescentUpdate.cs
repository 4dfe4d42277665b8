namespace Wasserflow.Flows;

/// <summary>
/// MD, mirror descent on the variances with the entropy mirror map (paper 000, Eq 16): m_i' = m_i − γN∇_{m_i}F and
/// ε_i' = ε_i exp(−(2Nγ/d) ∇_{ε_i}F). Positive by construction; a huge step can overflow or underflow the exponential,
/// which the flow rejects.
/// </summary>
public sealed class MirrorDescentUpdate : IsotropicMixtureUpdateRule
{
    /// <inheritdoc/>
    public override string Name => "md";

    /// <inheritdoc/>
    public override double Update(ReadOnlySpan<double> mean, double variance, ReadOnlySpan<double> gradientMean,
        double gradientVariance, double stepSize, int components, Span<double> newMean)
    {
        GradientStepOnMean(mean, gradientMean, stepSize, components, newMean);
        return variance * Math.Exp(-2.0 * components * stepSize / mean.Length * gradientVariance);
    }
}
