using System.Numerics.Tensors;

namespace Wasserflow.Flows;

/// <summary>
/// NGD, natural gradient descent for isotropic Gaussians with fixed weights [Lin2019], paper 000 Appendix C, Eq 17:
/// 1/ε_i' = 1/ε_i + (2Nγ/d) ∇_{ε_i}F and m_i' = m_i − γNε_i∇_{m_i}F (old ε_i).
/// </summary>
/// <remarks>
/// Nothing keeps 1/ε_i' positive: with a large step or a strongly negative ∇_{ε_i}F the new precision is ≤ 0. The rule
/// returns the (non-positive or infinite) variance as computed and the flow stops the run with a message naming the
/// iteration and the component. The mean step is rescaled by ε_i, so it is large for a spread-out component.
/// </remarks>
public sealed class NaturalGradientUpdate : IsotropicMixtureUpdateRule
{
    /// <inheritdoc/>
    public override string Name => "ngd";

    /// <inheritdoc/>
    public override double Update(ReadOnlySpan<double> mean, double variance, ReadOnlySpan<double> gradientMean,
        double gradientVariance, double stepSize, int components, Span<double> newMean)
    {
        TensorPrimitives.MultiplyAdd(gradientMean, -stepSize * components * variance, mean, newMean);
        double precision = 1.0 / variance + 2.0 * components * stepSize / mean.Length * gradientVariance;
        return 1.0 / precision; // ≤ 0 or infinite when the precision is not positive: the flow reports it
    }
}
