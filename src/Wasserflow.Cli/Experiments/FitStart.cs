using Wasserflow.Baselines;
using Wasserflow.Families;
using Wasserflow.Parameters;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Experiments;

/// <summary>
/// Where a <c>fit</c> starts (--init): the box of paper 000 (means uniform in [−s, s]^d, variance r), or the Laplace
/// approximation N(m, Σ) of the target, the default for regression models, whose parameters can differ in scale by
/// orders of magnitude so that a box start is far out in the tails and the flow too stiff to move.
/// </summary>
public static class FitStart
{
    /// <summary>The Laplace approximation, or an error naming --init when it cannot be formed.</summary>
    /// <exception cref="InvalidParameterException">No mode, or a Hessian that is not positive definite (the message says which).</exception>
    public static Gaussian Laplace(ITarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        try
        {
            return Baselines.Laplace.Fit(target, new double[target.Dimension]).Approximation;
        }
        catch (LaplaceException ex)
        {
            throw new InvalidParameterException(nameof(FitSettings.Init), $"{ex.Message}; start from a box instead (--init box)");
        }
    }

    /// <summary>
    /// The target whitened by its Laplace approximation N(m, LLᵀ): the density of v with u = m + L v (see
    /// <see cref="AffineTarget"/>), whose own Laplace approximation is N(0, I).
    /// </summary>
    /// <exception cref="InvalidParameterException">No Laplace approximation (the message names --precondition).</exception>
    public static AffineTarget Whitened(ITarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        try
        {
            Gaussian laplace = Baselines.Laplace.Fit(target, new double[target.Dimension]).Approximation;
            return new AffineTarget(target, laplace.Mean, laplace.CholeskyFactor);
        }
        catch (LaplaceException ex)
        {
            throw new InvalidParameterException(nameof(FitSettings.Precondition), $"{ex.Message}; run without it (--precondition none --init box)");
        }
    }

    /// <summary>N(0, I) in dimension <paramref name="d"/>: the Laplace approximation in whitened coordinates.</summary>
    public static Gaussian StandardNormal(int d) => Gaussian.Isotropic(new double[d], 1.0);

    /// <summary>
    /// The draw-and-log-density of a fit made in the coordinates of <paramref name="whitened"/> (or in the target's own
    /// when null), as a fit of the original target: u = m + L v, log q_u(u) = log q_v(v) − log|det L|.
    /// </summary>
    /// <remarks>The returned delegate keeps one buffer for v: call it from one thread at a time (the analysis draws in sequence).</remarks>
    public static Diagnostics.DrawWithLogDensity InOriginalCoordinates(AffineTarget? whitened, Diagnostics.DrawWithLogDensity draw)
    {
        ArgumentNullException.ThrowIfNull(draw);
        if (whitened is null) return draw;
        var v = new double[whitened.Dimension];
        return (rng, u) =>
        {
            double logQ = draw(rng, v);
            whitened.ToOriginal(v, u);
            return logQ - whitened.LogDeterminant;
        };
    }

    /// <summary>
    /// K means around the Laplace mode: the first at the mode, the others at m + σ ⊙ u with u uniform in [−1, 1]^d
    /// (σ the Laplace marginal sds), so a mixture starts spread over the bulk of the posterior.
    /// </summary>
    public static double[] MeansAround(Gaussian laplace, int components, Xoshiro256StarStar rng)
    {
        ArgumentNullException.ThrowIfNull(laplace);
        ArgumentNullException.ThrowIfNull(rng);
        int d = laplace.Mean.Length;
        double[] covariance = laplace.Covariance();
        var means = new double[components * d];
        for (int j = 0; j < components; j++)
            for (int i = 0; i < d; i++)
                means[j * d + i] = laplace.Mean[i] + (j == 0 ? 0 : Math.Sqrt(covariance[i * d + i]) * rng.NextDouble(-1, 1));
        return means;
    }

    /// <summary>An isotropic mixture at the Laplace approximation: means by <see cref="MeansAround"/>, every variance the geometric mean of Σ's diagonal.</summary>
    public static IsotropicGaussianMixture IsotropicAt(Gaussian laplace, int components, Xoshiro256StarStar rng)
    {
        ArgumentNullException.ThrowIfNull(laplace);
        int d = laplace.Mean.Length;
        double[] covariance = laplace.Covariance();
        double logMean = 0;
        for (int i = 0; i < d; i++) logMean += Math.Log(covariance[i * d + i]) / d;
        return IsotropicGaussianMixture.FromMeansVariances(MeansAround(laplace, components, rng), Enumerable.Repeat(Math.Exp(logMean), components).ToArray());
    }
}
