using Wasserflow.Randomness;

namespace Wasserflow.Expectations;

/// <summary>How E_{N(m, RRᵀ)}[f] is estimated: by cubature sigma points or by Monte Carlo draws.</summary>
public enum GaussianExpectationKind
{
    /// <summary>The 2d cubature points x = m ± √d R e_i with weights 1/(2d) [Arasaratnam2009]: exact for polynomials of degree ≤ 3.</summary>
    Cubature,
    /// <summary>B draws x = m + R ξ, ξ ~ N(0, I), fresh at every step and shared by the stages of one RK4 step.</summary>
    MonteCarlo,

    /// <summary>
    /// Randomised cubature: the 2d points ±ρ_i q_i, q_i the columns of a random orthogonal matrix (QR of a Gaussian
    /// matrix) and ρ_i ~ χ_d independent, fresh at every step. Every point is exactly N(0, I), so the rule is unbiased
    /// for any f (cubature's fixed radius √d is not), antithetic pairs make it exact for odd terms, and the orthogonal
    /// directions keep its variance far below 2d independent draws.
    /// </summary>
    RandomizedCubature,
}

/// <summary>
/// An expectation rule for Gaussians, written as standard points ξ_1..ξ_P with equal weights 1/P: E f(m + R ξ) ≈
/// (1/P) Σ_n f(m + R ξ_n). Every Bures–Wasserstein flow takes one.
/// </summary>
/// <param name="Kind">Cubature or Monte Carlo.</param>
/// <param name="Samples">B, the Monte Carlo draws per particle (ignored for cubature). Range: ≥ 1.</param>
public sealed record GaussianExpectation(GaussianExpectationKind Kind, int Samples = 0)
{
    /// <summary>The cubature rule.</summary>
    public static GaussianExpectation Cubature { get; } = new(GaussianExpectationKind.Cubature);

    /// <summary>Monte Carlo with <paramref name="samples"/> draws per particle.</summary>
    public static GaussianExpectation MonteCarlo(int samples)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(samples, 1);
        return new(GaussianExpectationKind.MonteCarlo, samples);
    }

    /// <summary>Randomised cubature (see <see cref="GaussianExpectationKind.RandomizedCubature"/>).</summary>
    public static GaussianExpectation RandomizedCubature { get; } = new(GaussianExpectationKind.RandomizedCubature);

    /// <summary>Whether the points change from step to step (they are drawn from the state's RNG).</summary>
    public bool IsRandom => Kind != GaussianExpectationKind.Cubature;

    /// <summary>P, the number of points in dimension <paramref name="dimension"/>.</summary>
    public int PointCount(int dimension) => Kind == GaussianExpectationKind.MonteCarlo ? Samples : 2 * dimension;

    /// <summary>Throws <see cref="ArgumentException"/> for an invalid rule.</summary>
    public void Validate()
    {
        if (Kind == GaussianExpectationKind.MonteCarlo && Samples < 1)
            throw new ArgumentException($"Monte Carlo expectations need ≥ 1 sample, got {Samples}", nameof(Samples));
    }

    /// <summary>Writes the P×d standard points (row-major) into <paramref name="points"/>; draws from <paramref name="rng"/> for Monte Carlo.</summary>
    public void FillStandardPoints(Span<double> points, int dimension, Xoshiro256StarStar rng)
    {
        int d = dimension, p = PointCount(d);
        if (points.Length < p * d) throw new ArgumentException($"the buffer must hold {p * d} numbers.");
        if (Kind == GaussianExpectationKind.MonteCarlo)
        {
            ArgumentNullException.ThrowIfNull(rng);
            rng.FillStandardNormal(points[..(p * d)]);
            return;
        }
        if (Kind == GaussianExpectationKind.RandomizedCubature)
        {
            ArgumentNullException.ThrowIfNull(rng);
            // Q is built in the second half of the buffer; each first-half row serves as the scratch of its radius's
            // normals before it receives ρ_i q_i; the second half is overwritten with −ρ_i q_i once Q is no longer read.
            Span<double> q = points.Slice(d * d, d * d);
            rng.FillStandardNormal(q);
            LinearAlgebra.Dense.OrthogonalFactor(q, d);
            for (int i = 0; i < d; i++)
            {
                Span<double> plus = points.Slice(i * d, d);
                rng.FillStandardNormal(plus);
                double radius = Math.Sqrt(LinearAlgebra.Reductions.SumOfSquares(plus));
                for (int row = 0; row < d; row++) plus[row] = radius * q[row * d + i];
            }
            for (int i = 0; i < d * d; i++) points[d * d + i] = -points[i];
            return;
        }
        points[..(p * d)].Clear();
        double c = Math.Sqrt(d);
        for (int i = 0; i < d; i++)
        {
            points[i * d + i] = c;
            points[(d + i) * d + i] = -c;
        }
    }
}
