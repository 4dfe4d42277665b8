using Wasserflow.Randomness;

namespace Wasserflow.Families;

/// <summary>
/// The rotated product measure of rotational VI (paper 003; docs/specs/rovi-mfvi.md §1): the law of z = c + O·T_θ(x) with
/// x ~ N(0, I_d), O orthogonal, T_θ(x)_i = v_i + S_i(x_i) a separable increasing map whose coordinates S_i are
/// combinations of a <see cref="PolyhedralDictionary"/> with non-negative weights λ_i, and c a fixed centre of rotation
/// (the paper's family is c = 0; a centre near the target's mass keeps the rotation from swinging the mean O·v around
/// the origin). O = I gives the mean-field (product) family of polyhedral MFVI. Immutable.
/// </summary>
public sealed class RotatedProduct
{
    private readonly double[] _rotation, _offset, _weights, _center;

    /// <summary>
    /// The measure with rotation <paramref name="rotation"/> (d×d row-major, orthogonal), offsets v (length d) and weights λ
    /// (d×n row-major, n = the dictionary's size, every entry ≥ 0), rotating about <paramref name="center"/> (length d;
    /// empty for the origin).
    /// </summary>
    /// <exception cref="ArgumentException">Sizes disagree, a value is not finite, a weight is negative, or O is not orthogonal to 1e−8.</exception>
    public RotatedProduct(PolyhedralDictionary dictionary, ReadOnlySpan<double> rotation, ReadOnlySpan<double> offset, ReadOnlySpan<double> weights, ReadOnlySpan<double> center = default)
    {
        ArgumentNullException.ThrowIfNull(dictionary);
        int d = offset.Length, n = dictionary.Size;
        if (d < 1) throw new ArgumentException("the dimension must be ≥ 1.");
        if (rotation.Length != d * d) throw new ArgumentException($"the rotation must hold d×d = {d * d} numbers, got {rotation.Length}.");
        if (weights.Length != d * n) throw new ArgumentException($"the weights must hold d×n = {d * n} numbers, got {weights.Length}.");
        for (int i = 0; i < weights.Length; i++)
            if (!(weights[i] >= 0) || !double.IsFinite(weights[i]))
                throw new ArgumentException($"weight λ[{i / n}, {i % n}] = {weights[i]} must be finite and ≥ 0.");
        foreach (double v in offset)
            if (!double.IsFinite(v)) throw new ArgumentException($"an offset is {v}.");
        if (!center.IsEmpty && center.Length != d) throw new ArgumentException($"the centre must hold d = {d} numbers, got {center.Length}.");
        foreach (double v in center)
            if (!double.IsFinite(v)) throw new ArgumentException($"a centre coordinate is {v}.");
        if (LinearAlgebra.Dense.OrthogonalityDefect(rotation, d) is { } defect) throw new ArgumentException($"the rotation is not orthogonal: {defect}.");
        Dictionary = dictionary;
        Dimension = d;
        _rotation = rotation.ToArray();
        _offset = offset.ToArray();
        _weights = weights.ToArray();
        _center = center.IsEmpty ? new double[d] : center.ToArray();
    }

    /// <summary>The dictionary shared by every coordinate.</summary>
    public PolyhedralDictionary Dictionary { get; }

    /// <summary>d.</summary>
    public int Dimension { get; }

    /// <summary>O, d×d row-major.</summary>
    public ReadOnlySpan<double> Rotation => _rotation;

    /// <summary>c, the centre of rotation (zeros for the paper's family).</summary>
    public ReadOnlySpan<double> Center => _center;

    /// <summary>v, the mean of T_θ#ρ (so c + O·v is the mean of the measure).</summary>
    public ReadOnlySpan<double> Offset => _offset;

    /// <summary>λ, d×n row-major.</summary>
    public ReadOnlySpan<double> Weights => _weights;

    /// <summary>Coordinate <paramref name="i"/>'s weights λ_i (length n).</summary>
    public ReadOnlySpan<double> CoordinateWeights(int i) => _weights.AsSpan(i * Dictionary.Size, Dictionary.Size);

    /// <summary>
    /// Pushes <paramref name="count"/> reference points x (rows, count×d) through the map: y = T_θ(x) and z = c + O y, both
    /// count×d. <paramref name="y"/> may be empty when not wanted.
    /// </summary>
    public void Push(ReadOnlySpan<double> x, int count, Span<double> y, Span<double> z)
    {
        int d = Dimension;
        Span<double> row = d <= 64 ? stackalloc double[d] : new double[d];
        for (int p = 0; p < count; p++)
        {
            for (int i = 0; i < d; i++) row[i] = _offset[i] + Dictionary.Map(CoordinateWeights(i), x[p * d + i]);
            if (!y.IsEmpty) row.CopyTo(y.Slice(p * d, d));
            Rotate(_rotation, d, row, z.Slice(p * d, d));
            for (int i = 0; i < d; i++) z[p * d + i] += _center[i];
        }
    }

    /// <summary>z = O y for one point.</summary>
    internal static void Rotate(ReadOnlySpan<double> rotation, int d, ReadOnlySpan<double> y, Span<double> z)
    {
        for (int r = 0; r < d; r++)
        {
            double s = 0;
            for (int c = 0; c < d; c++) s += rotation[r * d + c] * y[c];
            z[r] = s;
        }
    }

    /// <summary>Draws <paramref name="count"/> points of the measure into <paramref name="destination"/> (count×d).</summary>
    public void Sample(Xoshiro256StarStar rng, int count, Span<double> destination)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var x = new double[count * Dimension];
        rng.FillStandardNormal(x);
        Push(x, count, default, destination);
    }

    /// <summary><paramref name="count"/> draws of the measure as a new count×d array.</summary>
    public double[] Sample(Xoshiro256StarStar rng, int count)
    {
        var z = new double[count * Dimension];
        Sample(rng, count, z);
        return z;
    }

    /// <summary>
    /// −E log det ∇T_θ = Σ_i N(λ_i), exact. The measure's differential entropy is this plus (d/2)(1 + log 2π).
    /// </summary>
    public double NegativeLogDeterminant()
    {
        var gradient = new double[Dictionary.Size];
        double total = 0;
        for (int i = 0; i < Dimension; i++) total += Dictionary.NegativeLogDerivative(CoordinateWeights(i), gradient);
        return total;
    }

    /// <summary>The differential entropy of the measure, exact (rotations preserve it).</summary>
    public double Entropy() => NegativeLogDeterminant() + 0.5 * Dimension * (1 + Math.Log(2 * Math.PI));

    /// <summary>
    /// The density of the i-th marginal of T_θ#ρ (the unrotated product) at <paramref name="value"/>:
    /// φ(t)/S_i'(t) at t = S_i⁻¹(value − v_i), found by bisection; 0 inside the gap of a step.
    /// </summary>
    public double MarginalDensity(int i, double value)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(i);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(i, Dimension);
        ReadOnlySpan<double> lambda = CoordinateWeights(i);
        double target = value - _offset[i];
        double lo = -40, hi = 40;
        if (Dictionary.Map(lambda, lo) >= target || Dictionary.Map(lambda, hi) <= target) return 0.0;
        for (int it = 0; it < 200 && hi - lo > 1e-13 * Math.Max(1, Math.Abs(lo)); it++)
        {
            double mid = 0.5 * (lo + hi);
            if (Dictionary.Map(lambda, mid) < target) lo = mid; else hi = mid;
        }
        double t = 0.5 * (lo + hi);
        // A step at t makes S jump over `target`: no mass there.
        if (Dictionary.Map(lambda, hi) - Dictionary.Map(lambda, lo) > 1e-9 * Math.Max(1, Math.Abs(target)) + Dictionary.Derivative(lambda, t) * (hi - lo) * 2)
            return 0.0;
        return Math.Exp(-0.5 * t * t) / Math.Sqrt(2 * Math.PI) / Dictionary.Derivative(lambda, t);
    }
}
