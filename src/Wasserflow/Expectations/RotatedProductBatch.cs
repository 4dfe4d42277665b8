using System.Numerics.Tensors;
using Wasserflow.Families;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Expectations;

/// <summary>
/// One Monte Carlo batch of reference points x (N×d) with their dictionary features, and the batch objective's
/// gradients at given (O, v, λ): y = T_θ(x), z = O y, g = ∇V(z), u = Oᵀ g; ∂/∂v = mean u, the potential part of
/// ∂/∂λ_i = mean u_i f(x_i), ∂/∂O = mean g yᵀ (spec §3). Reused by every iteration of a restart.
/// </summary>
internal sealed class RotatedProductBatch
{
    private readonly ITarget _target;
    private readonly PolyhedralDictionary _dictionary;
    private readonly int _d, _n, _count;
    private readonly double[] _x, _y, _z, _g, _logDensities;
    // Where each x_pi falls in the dictionary (coordinate-major, i·N + p): the atoms' values follow from these, so
    // y and the λ-gradient cost O(1) per point and coordinate plus O(n) per coordinate instead of O(n) per point.
    private readonly int[] _passed, _below;
    private readonly double[] _fraction;
    private readonly double[] _rampPrefix, _stepPrefix, _passedSums, _fractionSums, _belowSums;

    public RotatedProductBatch(ITarget target, PolyhedralDictionary dictionary, int count)
    {
        _target = target;
        _dictionary = dictionary;
        _d = target.Dimension;
        _n = dictionary.Size;
        _count = count;
        _x = new double[count * _d];
        _y = new double[count * _d];
        _z = new double[count * _d];
        _g = new double[count * _d];
        _logDensities = new double[count];
        _passed = new int[count * _d];
        _below = new int[count * _d];
        _fraction = new double[count * _d];
        int ramps = dictionary.Ramps, steps = dictionary.Steps;
        _rampPrefix = new double[ramps + 1];
        _stepPrefix = new double[steps + 1];
        _passedSums = new double[ramps + 1];
        _fractionSums = new double[ramps];
        _belowSums = new double[steps + 1];
        OffsetGradient = new double[_d];
        PotentialGradient = new double[_d * _n];
        RotationGradient = new double[_d * _d];
    }

    /// <summary>mean u = ∂(mean V)/∂v after <see cref="Evaluate"/>.</summary>
    public double[] OffsetGradient { get; }

    /// <summary>mean u_i f(x_i) = ∂(mean V)/∂λ_i, d×n, after <see cref="Evaluate"/>.</summary>
    public double[] PotentialGradient { get; }

    /// <summary>mean g yᵀ = ∂(mean V)/∂O, d×d, after <see cref="Evaluate"/> with the rotation gradient asked for.</summary>
    public double[] RotationGradient { get; }

    /// <summary>Draws fresh x ~ N(0, I) and locates them in the dictionary.</summary>
    public void Draw(Xoshiro256StarStar rng)
    {
        rng.FillStandardNormal(_x);
        Locate();
    }

    /// <summary>Uses the given points x (N×d) instead of drawing.</summary>
    public void SetPoints(ReadOnlySpan<double> x)
    {
        x[..(_count * _d)].CopyTo(_x);
        Locate();
    }

    private void Locate()
    {
        int d = _d, b = _count;
        for (int i = 0; i < d; i++)
            for (int p = 0; p < b; p++)
            {
                int at = i * b + p;
                _dictionary.Locate(_x[p * d + i], out _passed[at], out _fraction[at], out _below[at]);
            }
    }

    /// <summary>
    /// Pushes the batch through (O, v, λ) about the centre c (z = c + O y), evaluates the target and returns mean V(z);
    /// fills the v and λ gradients when <paramref name="meanField"/>, and G when <paramref name="rotation"/>.
    /// </summary>
    public double Evaluate(ReadOnlySpan<double> rotationMatrix, ReadOnlySpan<double> offset, ReadOnlySpan<double> lambda, ReadOnlySpan<double> center, bool meanField, bool rotation)
    {
        int d = _d, n = _n, b = _count, ramps = _dictionary.Ramps, steps = _dictionary.Steps;
        ReadOnlySpan<double> rampMeans = _dictionary.RampMeans, stepMeans = _dictionary.StepMeans;
        for (int i = 0; i < d; i++)
        {
            // y = v + (α + λ₀)x + Σ_{k < passed} λ_k + λ_passed·fraction + Σ_{j < below} λ_{J+j} − Σ_a λ_a E f_a.
            ReadOnlySpan<double> li = lambda.Slice(i * n, n);
            double centre = 0;
            _rampPrefix[0] = 0;
            for (int k = 0; k < ramps; k++)
            {
                _rampPrefix[k + 1] = _rampPrefix[k] + li[1 + k];
                centre += li[1 + k] * rampMeans[k];
            }
            _stepPrefix[0] = 0;
            for (int j = 0; j < steps; j++)
            {
                _stepPrefix[j + 1] = _stepPrefix[j] + li[1 + ramps + j];
                centre += li[1 + ramps + j] * stepMeans[j];
            }
            double slope = _dictionary.Alpha + li[0], shift = offset[i] - centre;
            for (int p = 0; p < b; p++)
            {
                int at = i * b + p, passed = _passed[at];
                double partial = passed < ramps ? li[1 + passed] * _fraction[at] : 0.0;
                _y[p * d + i] = shift + slope * _x[p * d + i] + _rampPrefix[passed] + partial + _stepPrefix[_below[at]];
            }
        }
        for (int p = 0; p < b; p++)
        {
            RotatedProduct.Rotate(rotationMatrix, d, _y.AsSpan(p * d, d), _z.AsSpan(p * d, d));
            TensorPrimitives.Add(_z.AsSpan(p * d, d), center, _z.AsSpan(p * d, d));
        }
        TargetEvaluator.LogDensityAndGradient(_target, _z, b, _logDensities, _g);
        TensorPrimitives.Negate(_g, _g); // ∇V = −∇log π
        double inverse = 1.0 / b;
        if (meanField)
        {
            for (int c = 0; c < d; c++)
            {
                // u_c = (Oᵀg)_c per point, binned by where x_pc fell.
                Array.Clear(_passedSums);
                Array.Clear(_fractionSums);
                Array.Clear(_belowSums);
                double mean = 0, moment = 0;
                for (int p = 0; p < b; p++)
                {
                    double u = 0;
                    for (int r = 0; r < d; r++) u += rotationMatrix[r * d + c] * _g[p * d + r];
                    u *= inverse;
                    int at = c * b + p, passed = _passed[at];
                    mean += u;
                    moment += u * _x[p * d + c];
                    _passedSums[passed] += u;
                    if (passed < ramps) _fractionSums[passed] += u * _fraction[at];
                    _belowSums[_below[at]] += u;
                }
                OffsetGradient[c] = mean;
                Span<double> gradient = PotentialGradient.AsSpan(c * n, n);
                gradient[0] = moment;
                // Ramp k is 1 for points that passed more than k ramps: a suffix sum.
                double beyond = 0;
                for (int k = ramps - 1; k >= 0; k--)
                {
                    beyond += _passedSums[k + 1];
                    gradient[1 + k] = beyond + _fractionSums[k] - rampMeans[k] * mean;
                }
                beyond = 0;
                for (int j = steps - 1; j >= 0; j--)
                {
                    beyond += _belowSums[j + 1];
                    gradient[1 + ramps + j] = beyond - stepMeans[j] * mean;
                }
            }
        }
        if (rotation)
        {
            Array.Clear(RotationGradient);
            for (int p = 0; p < b; p++)
                for (int r = 0; r < d; r++)
                    TensorPrimitives.MultiplyAdd(_y.AsSpan(p * d, d), _g[p * d + r] * inverse, RotationGradient.AsSpan(r * d, d), RotationGradient.AsSpan(r * d, d));
        }
        return -LinearAlgebra.Reductions.Sum(_logDensities) * inverse;
    }

    /// <summary>The pushed points y = T_θ(x) of the last <see cref="Evaluate"/> (N×d).</summary>
    internal ReadOnlySpan<double> Pushed => _y;
}
