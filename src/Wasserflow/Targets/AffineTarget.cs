using System.Buffers;
using System.Numerics.Tensors;
using Wasserflow.LinearAlgebra;

namespace Wasserflow.Targets;

/// <summary>
/// A target seen through the affine map u = m + L v (L lower triangular with a positive diagonal): the density of v,
/// π_v(v) = π(m + L v) · |det L|. With L the Cholesky factor of a covariance of the target (its Laplace approximation),
/// π_v is close to N(0, I) whatever the units of the original parameters, so one step size suits every model and the
/// flows' stability control rarely has to split steps. Including log|det L| keeps Z, and so every KL estimate, unchanged:
/// KL(q_v ‖ π_v) = KL(q_u ‖ π) for the pushed-forward fit q_u.
/// </summary>
/// <remarks>∇_v log π_v = Lᵀ ∇_u log π(m + L v). Thread-safe when the wrapped target is; scratch space is per call.</remarks>
public sealed class AffineTarget : ITargetWithMeanHessian, IBatchedTarget
{
    private readonly ITarget _target;
    private readonly double[] _shift;
    private readonly double[] _factor;
    private readonly double _logDeterminant;

    /// <summary>The target <paramref name="target"/> in the coordinates v of u = <paramref name="shift"/> + <paramref name="factor"/> v.</summary>
    /// <exception cref="ArgumentException">Sizes disagree, or the factor is not lower triangular with a positive finite diagonal.</exception>
    public AffineTarget(ITarget target, ReadOnlySpan<double> shift, ReadOnlySpan<double> factor)
    {
        _target = target ?? throw new ArgumentNullException(nameof(target));
        int d = target.Dimension;
        if (shift.Length != d || factor.Length != d * d) throw new ArgumentException($"an affine map of dimension {d} needs {d} shifts and a {d}×{d} factor.");
        for (int i = 0; i < d; i++)
        {
            if (!(factor[i * d + i] > 0) || !double.IsFinite(factor[i * d + i])) throw new ArgumentException($"the factor's diagonal entry {i} is {factor[i * d + i]}; it must be positive and finite.");
            for (int j = i + 1; j < d; j++)
                if (factor[i * d + j] != 0) throw new ArgumentException("the factor must be lower triangular.");
        }
        _shift = shift.ToArray();
        _factor = factor.ToArray();
        _logDeterminant = Dense.LogDeterminantFromCholesky(_factor, d) / 2;
    }

    /// <inheritdoc/>
    public int Dimension => _target.Dimension;

    /// <inheritdoc/>
    public string Name => _target.Name;

    /// <inheritdoc/>
    public double? LogNormalizer => _target.LogNormalizer;

    /// <summary>The target in its own coordinates.</summary>
    public ITarget Original => _target;

    /// <summary>The shift m.</summary>
    public ReadOnlySpan<double> Shift => _shift;

    /// <summary>The factor L (row-major, lower triangular).</summary>
    public ReadOnlySpan<double> Factor => _factor;

    /// <summary>log |det L|.</summary>
    public double LogDeterminant => _logDeterminant;

    /// <summary>u = m + L v.</summary>
    public void ToOriginal(ReadOnlySpan<double> v, Span<double> u)
    {
        Dense.MultiplyLower(_factor, Dimension, v, u);
        for (int i = 0; i < u.Length; i++) u[i] += _shift[i];
    }

    /// <summary>
    /// Many points at once: U = V Lᵀ + m and ∇_V = ∇_U L as matrix products around the wrapped target's own batch (point
    /// by point when it has none).
    /// </summary>
    public void LogDensityAndGradientBatch(ReadOnlySpan<double> points, int count, Span<double> logDensities, Span<double> gradients)
    {
        int d = Dimension;
        if (points.Length < count * d || gradients.Length < count * d || logDensities.Length < count)
            throw new ArgumentException("Buffers are smaller than count × dimension.");
        if (_target is not IBatchedTarget batched)
        {
            for (int c = 0; c < count; c++) logDensities[c] = LogDensityAndGradient(points.Slice(c * d, d), gradients.Slice(c * d, d));
            return;
        }
        double[] rented = ArrayPool<double>.Shared.Rent(2 * count * d);
        try
        {
            Span<double> u = rented.AsSpan(0, count * d), g = rented.AsSpan(count * d, count * d);
            Gemm.MultiplyTransposed(points, count, _factor, d, d, u);
            for (int c = 0; c < count; c++) TensorPrimitives.Add(u.Slice(c * d, d), _shift, u.Slice(c * d, d));
            batched.LogDensityAndGradientBatch(u, count, logDensities, g);
            Gemm.Multiply(g, d, 1, count, d, _factor, d, gradients);
            for (int c = 0; c < count; c++) logDensities[c] += _logDeterminant;
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }

    /// <summary>Whether the wrapped target offers a mean Hessian.</summary>
    public bool HasMeanHessian => _target is ITargetWithMeanHessian { HasMeanHessian: true };

    /// <summary>Lᵀ H̄_u L, H̄_u the wrapped target's mean Hessian at the points u_n = m + L v_n.</summary>
    /// <exception cref="NotSupportedException">The wrapped target has no mean Hessian.</exception>
    public void MeanHessian(ReadOnlySpan<double> points, int count, Span<double> hessian)
    {
        if (_target is not ITargetWithMeanHessian { HasMeanHessian: true } inner) throw new NotSupportedException($"target '{Name}' has no mean Hessian.");
        int d = Dimension;
        if (count < 1 || points.Length < count * d || hessian.Length < d * d) throw new ArgumentException("buffers are smaller than count × dimension and dimension².");
        double[] rented = ArrayPool<double>.Shared.Rent(count * d + 2 * d * d);
        try
        {
            Span<double> u = rented.AsSpan(0, count * d), h = rented.AsSpan(count * d, d * d), hl = rented.AsSpan(count * d + d * d, d * d);
            for (int c = 0; c < count; c++) ToOriginal(points.Slice(c * d, d), u.Slice(c * d, d));
            inner.MeanHessian(u, count, h);
            // (H L)_{ij} = Σ_{k ≥ j} H_ik L_kj, then (Lᵀ (H L))_{ij} = Σ_{k ≥ i} L_ki (H L)_kj.
            hl.Clear();
            for (int i = 0; i < d; i++)
                for (int k = 0; k < d; k++)
                {
                    double hik = h[i * d + k];
                    if (hik != 0) TensorPrimitives.MultiplyAdd(_factor.AsSpan(k * d, k + 1), hik, hl.Slice(i * d, k + 1), hl.Slice(i * d, k + 1));
                }
            hessian[..(d * d)].Clear();
            for (int k = 0; k < d; k++)
                for (int i = 0; i <= k; i++)
                {
                    double lki = _factor[k * d + i];
                    if (lki != 0) TensorPrimitives.MultiplyAdd(hl.Slice(k * d, d), lki, hessian.Slice(i * d, d), hessian.Slice(i * d, d));
                }
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }

    /// <inheritdoc/>
    public double LogDensity(ReadOnlySpan<double> x)
    {
        double[] rented = ArrayPool<double>.Shared.Rent(Dimension);
        try
        {
            Span<double> u = rented.AsSpan(0, Dimension);
            ToOriginal(x, u);
            return _target.LogDensity(u) + _logDeterminant;
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }

    /// <inheritdoc/>
    public double LogDensityAndGradient(ReadOnlySpan<double> x, Span<double> gradient)
    {
        int d = Dimension;
        double[] rented = ArrayPool<double>.Shared.Rent(2 * d);
        try
        {
            Span<double> u = rented.AsSpan(0, d), g = rented.AsSpan(d, d);
            ToOriginal(x, u);
            double value = _target.LogDensityAndGradient(u, g) + _logDeterminant;
            // Lᵀ g = Σ_i g_i (row i of L): contiguous element-wise updates (each element summed in the order i = 0, 1, …
            // whatever the vector width), where the column-wise dot products read L with stride d.
            gradient[..d].Clear();
            for (int i = 0; i < d; i++)
            {
                Span<double> head = gradient[..(i + 1)];
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(_factor.AsSpan(i * d, i + 1), g[i], head, head);
            }
            return value;
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }
}
