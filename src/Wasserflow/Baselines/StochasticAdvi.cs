using System.Numerics.Tensors;
using Wasserflow.Flows;
using Wasserflow.Randomness;

namespace Wasserflow.Baselines;

/// <summary>
/// Mean-field ADVI for minibatch potentials (a network's weights): q = N(μ, diag e^{2ω}), one reparameterised draw
/// z = μ + e^ω ⊙ ξ per step (Stan's default M = 1), gradients of −ELBO = E[U] − Σ ω − (d/2)(1 + log 2π):
/// ∇_μ = ∇U(z), ∇_ω = ∇U(z) ⊙ ξ ⊙ e^ω − 1, and Stan's step-size sequence
/// ρ_k = η k^{−1/2+1e−16} / (1 + √s_k), s_k = g² at the first step, then 0.1 g² + 0.9 s_{k−1}, per coordinate.
/// </summary>
/// <remarks>Allocation-free per step. Stan's η trials are not run (each trial would cost epochs on a network): η is given.</remarks>
public sealed class StochasticAdvi
{
    private readonly double[] _mean, _logScale, _sMean, _sLogScale, _xi, _z, _g;
    private long _iteration;

    /// <summary>ADVI from q = N(<paramref name="mean"/>, diag e^{2·<paramref name="logScale"/>}) with step scale η.</summary>
    public StochasticAdvi(ReadOnlySpan<double> mean, ReadOnlySpan<double> logScale, double eta)
    {
        if (mean.Length == 0 || mean.Length != logScale.Length) throw new ArgumentException("mean and log-scale must have the same, positive length.");
        if (!(eta > 0) || !double.IsFinite(eta)) throw new ArgumentOutOfRangeException(nameof(eta), eta, "η must be finite and positive.");
        Eta = eta;
        _mean = mean.ToArray();
        _logScale = logScale.ToArray();
        int d = mean.Length;
        _sMean = new double[d];
        _sLogScale = new double[d];
        _xi = new double[d];
        _z = new double[d];
        _g = new double[d];
    }

    /// <summary>η.</summary>
    public double Eta { get; }

    /// <summary>μ (live view).</summary>
    public ReadOnlySpan<double> Mean => _mean;

    /// <summary>ω = log sd (live view).</summary>
    public ReadOnlySpan<double> LogScale => _logScale;

    /// <summary>One step on <paramref name="potential"/>'s current minibatch; returns the −ELBO estimate at the draw.</summary>
    /// <exception cref="Targets.TargetEvaluationException">U or ∇U is not finite at the draw (nothing moved).</exception>
    /// <exception cref="InvalidOperationException">The update left the finite values (nothing is rolled back: start again with a smaller η).</exception>
    public double Step(IStochasticPotential potential, Xoshiro256StarStar rng)
    {
        ArgumentNullException.ThrowIfNull(potential);
        ArgumentNullException.ThrowIfNull(rng);
        int d = _mean.Length;
        if (potential.Dimension != d) throw new ArgumentException($"the potential has dimension {potential.Dimension}, q {d}.", nameof(potential));
        rng.FillStandardNormal(_xi);
        LinearAlgebra.VectorMath.Exp(_logScale, _z);
        TensorPrimitives.MultiplyAdd(_z, _xi, _mean, _z);
        double u = potential.Evaluate(0, _z, _g);
        if (!double.IsFinite(u) || !TensorPrimitives.IsFiniteAll<double>(_g))
            throw new Targets.TargetEvaluationException($"the potential is not finite at an ADVI draw (U = {u}).");
        _iteration++;
        double decay = Eta * Math.Pow(_iteration, -0.5 + 1e-16);
        bool first = _iteration == 1;
        double entropy = 0;
        for (int j = 0; j < d; j++)
        {
            double g = _g[j], sigma = Math.Exp(_logScale[j]);
            double gw = g * _xi[j] * sigma - 1;
            entropy += _logScale[j];
            _sMean[j] = first ? g * g : 0.1 * g * g + 0.9 * _sMean[j];
            _sLogScale[j] = first ? gw * gw : 0.1 * gw * gw + 0.9 * _sLogScale[j];
            _mean[j] -= decay / (1 + Math.Sqrt(_sMean[j])) * g;
            _logScale[j] -= decay / (1 + Math.Sqrt(_sLogScale[j])) * gw;
        }
        if (!TensorPrimitives.IsFiniteAll<double>(_mean) || !TensorPrimitives.IsFiniteAll<double>(_logScale))
            throw new InvalidOperationException($"ADVI left the finite values at iteration {_iteration}; take a smaller η.");
        return u - entropy - 0.5 * d * (1 + Math.Log(2 * Math.PI));
    }

    /// <summary>Writes a draw from q into <paramref name="z"/>.</summary>
    public void Draw(Xoshiro256StarStar rng, Span<double> z)
    {
        ArgumentNullException.ThrowIfNull(rng);
        rng.FillStandardNormal(z);
        for (int j = 0; j < z.Length; j++) z[j] = _mean[j] + Math.Exp(_logScale[j]) * z[j];
    }
}
