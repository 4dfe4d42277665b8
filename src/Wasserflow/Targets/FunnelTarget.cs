namespace Wasserflow.Targets;

/// <summary>
/// Neal's funnel in d ≥ 2 dimensions: x₁ ~ N(0, σ²) and x_i | x₁ ~ N(0, exp(x₁)) for i ≥ 2 (paper 000, Table 1 uses
/// σ² = 1.2 in d = 2). Normalised.
/// </summary>
/// <remarks>
/// log pi(x) = −x₁²/(2σ²) − ½ log(2πσ²) − Σ_{i≥2} [x_i² e^{−x₁}/2 + x₁/2 + ½ log 2π];
/// ∂₁ log pi = −x₁/σ² + Σ_{i≥2} x_i² e^{−x₁}/2 − (d − 1)/2; ∂_i log pi = −x_i e^{−x₁}.
/// </remarks>
public sealed class FunnelTarget : ITarget
{
    /// <summary>A funnel in <paramref name="dimension"/> dimensions whose first coordinate has variance <paramref name="variance"/>.</summary>
    public FunnelTarget(int dimension = 2, double variance = 1.2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 2);
        if (!(variance > 0) || !double.IsFinite(variance))
            throw new ArgumentOutOfRangeException(nameof(variance), variance, "the funnel's variance must be positive and finite.");
        Dimension = dimension;
        Variance = variance;
    }

    /// <inheritdoc/>
    public int Dimension { get; }

    /// <summary>Variance σ² of the first coordinate.</summary>
    public double Variance { get; }

    /// <inheritdoc/>
    public string Name => "funnel";

    /// <summary>0: normalised.</summary>
    public double? LogNormalizer => 0.0;

    /// <inheritdoc/>
    public double LogDensity(ReadOnlySpan<double> x) => LogDensityAndGradient(x, Span<double>.Empty);

    /// <inheritdoc/>
    public double LogDensityAndGradient(ReadOnlySpan<double> x, Span<double> gradient)
    {
        if (x.Length != Dimension)
            throw new TargetEvaluationException($"target 'funnel' has dimension {Dimension} but was given a point of dimension {x.Length}");
        double x1 = x[0];
        double precision = Math.Exp(-x1);
        double log2Pi = Math.Log(2 * Math.PI);
        double lp = -0.5 * x1 * x1 / Variance - 0.5 * (log2Pi + Math.Log(Variance));
        double sumSq = 0;
        for (int i = 1; i < x.Length; i++) sumSq += x[i] * x[i];
        int rest = Dimension - 1;
        lp += -0.5 * sumSq * precision - 0.5 * rest * (x1 + log2Pi);
        if (!gradient.IsEmpty)
        {
            gradient[0] = -x1 / Variance + 0.5 * sumSq * precision - 0.5 * rest;
            for (int i = 1; i < x.Length; i++) gradient[i] = -x[i] * precision;
        }
        return lp;
    }
}
