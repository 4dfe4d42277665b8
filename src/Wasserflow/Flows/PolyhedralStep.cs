using Wasserflow.Families;
using Wasserflow.LinearAlgebra;

namespace Wasserflow.Flows;

/// <summary>
/// The two updates of one coordinate's weights λ ≥ 0 in polyhedral MFVI (docs/specs/rovi-mfvi.md §4), given the Monte
/// Carlo gradient g of the potential term: the forward–backward step (B, the default: the exact entropy implicit, solved
/// by projected Newton) and the projected Q-gradient step of the paper's Algorithm 1 (A, with the curvature cap and a
/// Lawson–Hanson projection in the Q norm). Holds its scratch space: one instance per thread.
/// </summary>
internal sealed class PolyhedralStep
{
    private readonly PolyhedralDictionary _dictionary;
    private readonly int _n;
    private readonly double[] _gradient, _hessian, _system, _direction, _trial, _diff, _qDiff, _work, _old;
    private readonly int[] _free;
    private readonly bool[] _passive;
    private readonly double[] _zeta, _rhs;

    public PolyhedralStep(PolyhedralDictionary dictionary)
    {
        _dictionary = dictionary;
        _n = dictionary.Size;
        _gradient = new double[_n];
        _hessian = new double[_n * _n];
        _system = new double[_n * _n];
        _direction = new double[_n];
        _trial = new double[_n];
        _diff = new double[_n];
        _qDiff = new double[_n];
        _work = new double[_n];
        _free = new int[_n];
        _passive = new bool[_n];
        _zeta = new double[_n];
        _rhs = new double[_n];
        _old = new double[_n];
    }

    /// <summary>Newton iterations used by the last <see cref="ForwardBackward"/> call.</summary>
    public int LastIterations { get; private set; }

    /// <summary>
    /// Step (B): λ ← argmin_{λ ≥ 0} ⟨g, λ⟩ + N(λ) + ‖λ − λ_old‖²_Q/(2τ), by projected Newton started at λ_old with an
    /// Armijo search along the projected path; stops at ‖max(λ − γ, 0) − λ‖_∞ ≤ 1e−8·max(1, ‖γ₀‖_∞), when the search
    /// can no longer lower the objective, or after 30 iterations. <paramref name="lambda"/> holds λ_old on entry.
    /// </summary>
    public void ForwardBackward(Span<double> lambda, ReadOnlySpan<double> potentialGradient, double tau)
    {
        int n = _n;
        ReadOnlySpan<double> q = _dictionary.Gram;
        double[] old = _old;
        lambda.CopyTo(old);
        double value = Objective(lambda, old, potentialGradient, tau);
        double tolerance = 0;
        LastIterations = 0;
        for (int iteration = 0; iteration < 30; iteration++)
        {
            // γ = g + ∇N + Q(λ − λ_old)/τ and the Hessian H + Q/τ.
            _dictionary.NegativeLogDerivative(lambda, _gradient, _hessian);
            for (int a = 0; a < n; a++) _diff[a] = lambda[a] - old[a];
            MultiplySymmetric(q, _diff, _qDiff);
            for (int a = 0; a < n; a++) _gradient[a] += potentialGradient[a] + _qDiff[a] / tau;
            double residual = 0, scale = 0;
            for (int a = 0; a < n; a++)
            {
                residual = Math.Max(residual, Math.Abs(Math.Max(lambda[a] - _gradient[a], 0) - lambda[a]));
                scale = Math.Max(scale, Math.Abs(_gradient[a]));
            }
            if (iteration == 0) tolerance = 1e-8 * Math.Max(1, scale);
            if (residual <= tolerance) break;
            LastIterations = iteration + 1;
            // Newton direction on the free set (λ_a > 0 or γ_a ≤ 0); zero on the active set.
            int free = 0;
            for (int a = 0; a < n; a++)
                if (lambda[a] > 0 || _gradient[a] <= 0) _free[free++] = a;
            for (int r = 0; r < free; r++)
            {
                int a = _free[r];
                for (int c = 0; c < free; c++)
                {
                    int b = _free[c];
                    _system[r * free + c] = _hessian[a * n + b] + q[a * n + b] / tau;
                }
                _work[r] = -_gradient[a];
            }
            if (!Dense.TryCholesky(_system.AsSpan(0, free * free), free)) break;
            Dense.SolveLower(_system, free, _work, _work);
            Dense.SolveLowerTransposed(_system, free, _work, _work);
            Array.Clear(_direction);
            for (int r = 0; r < free; r++) _direction[_free[r]] = _work[r];
            // Armijo along max(λ + βd, 0).
            bool moved = false;
            for (double beta = 1; beta > 1e-10; beta *= 0.5)
            {
                double decrease = 0;
                for (int a = 0; a < n; a++)
                {
                    _trial[a] = Math.Max(lambda[a] + beta * _direction[a], 0);
                    decrease += _gradient[a] * (_trial[a] - lambda[a]);
                }
                double trialValue = Objective(_trial, old, potentialGradient, tau);
                if (trialValue <= value + 1e-4 * decrease)
                {
                    moved = trialValue < value || decrease < 0;
                    _trial.CopyTo(lambda);
                    value = trialValue;
                    break;
                }
            }
            if (!moved) break;
        }
    }

    /// <summary>
    /// Step (A), the paper's Algorithm 1 with the curvature cap: y = λ − τ Q⁻¹ ∇_λF with τ = η/max(L, κ), κ the largest
    /// eigenvalue of L_Q⁻¹ H L_Q⁻ᵀ (30 power iterations), then λ ← argmin_{λ ≥ 0} ‖λ − y‖_Q. Returns κ.
    /// </summary>
    public double ProjectedGradient(Span<double> lambda, ReadOnlySpan<double> potentialGradient, double rate, double smoothness)
    {
        int n = _n;
        ReadOnlySpan<double> l = _dictionary.GramCholesky;
        _dictionary.NegativeLogDerivative(lambda, _gradient, _hessian);
        for (int a = 0; a < n; a++) _gradient[a] += potentialGradient[a];
        // κ by power iteration on L⁻¹ H L⁻ᵀ, started from the all-ones vector.
        Array.Fill(_work, 1.0);
        double kappa = 0;
        for (int it = 0; it < 30; it++)
        {
            double norm = LinearAlgebra.Reductions.Norm(_work);
            for (int a = 0; a < n; a++) _work[a] /= norm;
            Dense.SolveLowerTransposed(l, n, _work, _direction);
            MultiplySymmetric(_hessian, _direction, _trial);
            Dense.SolveLower(l, n, _trial, _trial);
            kappa = 0;
            for (int a = 0; a < n; a++) kappa += _work[a] * _trial[a];
            _trial.CopyTo(_work, 0);
        }
        double tau = rate / Math.Max(smoothness, kappa);
        // y = λ − τ Q⁻¹ ∇F.
        Dense.SolveLower(l, n, _gradient, _direction);
        Dense.SolveLowerTransposed(l, n, _direction, _direction);
        bool inside = true;
        for (int a = 0; a < n; a++)
        {
            _trial[a] = lambda[a] - tau * _direction[a];
            inside &= _trial[a] >= 0;
        }
        if (inside) _trial.CopyTo(lambda);
        else
        {
            MultiplySymmetric(_dictionary.Gram, _trial, _qDiff); // b = Q y
            NonNegativeLeastSquares(_qDiff, lambda);
        }
        return kappa;
    }

    /// <summary>
    /// Lawson–Hanson in Gram form: λ = argmin_{λ ≥ 0} ½λᵀQλ − bᵀλ for the dictionary's Gram matrix Q, from λ = 0, in
    /// this instance's scratch space.
    /// </summary>
    internal void NonNegativeLeastSquares(ReadOnlySpan<double> b, Span<double> lambda)
    {
        int n = _n;
        ReadOnlySpan<double> q = _dictionary.Gram;
        lambda[..n].Clear();
        bool[] passive = _passive;
        double[] zeta = _zeta, system = _system, rhs = _rhs;
        int[] index = _free;
        Array.Clear(passive);
        double bMax = 0;
        for (int a = 0; a < n; a++) bMax = Math.Max(bMax, Math.Abs(b[a]));
        for (int outer = 0; outer < 3 * n; outer++)
        {
            int best = -1;
            double bestW = 1e-10 * bMax;
            for (int a = 0; a < n; a++)
            {
                if (passive[a]) continue;
                double w = b[a];
                for (int c = 0; c < n; c++) w -= q[a * n + c] * lambda[c];
                if (w > bestW) { bestW = w; best = a; }
            }
            if (best < 0) return;
            passive[best] = true;
            for (int inner = 0; inner < 3 * n; inner++)
            {
                int m = 0;
                for (int a = 0; a < n; a++) if (passive[a]) index[m++] = a;
                for (int r = 0; r < m; r++)
                {
                    for (int c = 0; c < m; c++) system[r * m + c] = q[index[r] * n + index[c]];
                    rhs[r] = b[index[r]];
                }
                if (!Dense.TryCholesky(system.AsSpan(0, m * m), m)) return;
                Dense.SolveLower(system, m, rhs, rhs);
                Dense.SolveLowerTransposed(system, m, rhs, rhs);
                Array.Clear(zeta);
                bool positive = true;
                for (int r = 0; r < m; r++)
                {
                    zeta[index[r]] = rhs[r];
                    positive &= rhs[r] > 0;
                }
                if (positive)
                {
                    for (int a = 0; a < n; a++) lambda[a] = zeta[a];
                    break;
                }
                double gamma = double.PositiveInfinity;
                for (int r = 0; r < m; r++)
                {
                    int a = index[r];
                    if (zeta[a] <= 0) gamma = Math.Min(gamma, lambda[a] / (lambda[a] - zeta[a]));
                }
                for (int a = 0; a < n; a++)
                {
                    lambda[a] += gamma * (zeta[a] - lambda[a]);
                    if (passive[a] && lambda[a] <= 1e-15)
                    {
                        lambda[a] = 0;
                        passive[a] = false;
                    }
                }
            }
        }
    }

    // ⟨g, λ⟩ + N(λ) + (λ − λ_old)ᵀQ(λ − λ_old)/(2τ).
    private double Objective(ReadOnlySpan<double> lambda, ReadOnlySpan<double> old, ReadOnlySpan<double> potentialGradient, double tau)
    {
        double value = _dictionary.NegativeLogDerivative(lambda, _work);
        for (int a = 0; a < _n; a++) _diff[a] = lambda[a] - old[a];
        MultiplySymmetric(_dictionary.Gram, _diff, _qDiff);
        for (int a = 0; a < _n; a++) value += potentialGradient[a] * lambda[a] + 0.5 * _diff[a] * _qDiff[a] / tau;
        return value;
    }

    private static void MultiplySymmetric(ReadOnlySpan<double> matrix, ReadOnlySpan<double> x, Span<double> y)
    {
        int n = x.Length;
        for (int a = 0; a < n; a++) y[a] = LinearAlgebra.Reductions.Dot(matrix.Slice(a * n, n), x);
    }
}
