using MathNet.Numerics;
using MathNet.Numerics.Distributions;
using Wasserflow.LinearAlgebra;

namespace Wasserflow.Families;

/// <summary>
/// The dictionary of one coordinate's increasing map in polyhedral mean-field VI (paper 003 and its reference [18];
/// docs/specs/rovi-mfvi.md §1–§2): S(t) = (α + λ₀)·t + Σ_k λ_k ψ_k(t) + Σ_j λ_{J+j} η_j(t) with every λ ≥ 0, where
/// ψ_k = r_k − E r_k are centred ramps on the bins [t_{k−1}, t_k] of the knots and η_j = 1{t &gt; σ_j} − P(t &gt; σ_j)
/// centred steps. Every atom has mean 0 under N(0, 1), so the map's offset is exactly the mean of the pushed measure.
/// Precomputes the bin masses, the centring constants and the Gram matrix Q of the atoms in L²(N(0, 1)) (with its
/// Cholesky factor), so that the entropy term and its derivatives are exact sums and need no sampling.
/// </summary>
/// <remarks>Atom order: index 0 the identity t, 1…J the ramps, J+1…J+M the steps. Immutable and thread-safe.</remarks>
public sealed class PolyhedralDictionary
{
    private static readonly double InvSqrt2Pi = 1.0 / Math.Sqrt(2 * Math.PI);
    private readonly double[] _knots, _widths, _binMass, _rampMean, _steps, _stepMean, _gram, _gramCholesky;

    /// <summary>
    /// A dictionary on the given knots (strictly increasing, at least 2) with steps at <paramref name="steps"/> (strictly
    /// increasing finite points; none for ramps only) and slope floor <paramref name="alpha"/> &gt; 0.
    /// </summary>
    /// <exception cref="ArgumentException">Knots or steps not strictly increasing or not finite, or α ≤ 0.</exception>
    public PolyhedralDictionary(ReadOnlySpan<double> knots, ReadOnlySpan<double> steps, double alpha = 0.1, string? name = null)
    {
        if (knots.Length < 2) throw new ArgumentException($"a dictionary needs at least 2 knots (got {knots.Length}).", nameof(knots));
        for (int k = 0; k < knots.Length; k++)
        {
            if (!double.IsFinite(knots[k])) throw new ArgumentException($"knot {k} is {knots[k]}.", nameof(knots));
            if (k > 0 && !(knots[k] > knots[k - 1])) throw new ArgumentException($"knots must increase strictly: knot {k} = {knots[k]} ≤ knot {k - 1} = {knots[k - 1]}.", nameof(knots));
        }
        for (int s = 0; s < steps.Length; s++)
        {
            if (!double.IsFinite(steps[s])) throw new ArgumentException($"step position {steps[s]} is not finite.", nameof(steps));
            if (s > 0 && !(steps[s] > steps[s - 1])) throw new ArgumentException($"step positions must increase strictly: step {s} = {steps[s]} ≤ step {s - 1} = {steps[s - 1]}.", nameof(steps));
        }
        if (!(alpha > 0) || !double.IsFinite(alpha)) throw new ArgumentException($"the slope floor α must be finite and > 0 (got {alpha}).", nameof(alpha));
        Alpha = alpha;
        _knots = knots.ToArray();
        _steps = steps.ToArray();
        Ramps = knots.Length - 1;
        Name = name ?? $"{Ramps} ramps" + (_steps.Length > 0 ? $" + {_steps.Length} steps" : "");
        int j = Ramps;
        _widths = new double[j];
        _binMass = new double[j];
        _rampMean = new double[j];
        for (int k = 0; k < j; k++)
        {
            double a = _knots[k], b = _knots[k + 1];
            _widths[k] = b - a;
            var (m0, m1, _) = PartialMoments(a, b);
            _binMass[k] = m0;
            _rampMean[k] = (m1 - a * m0) / _widths[k] + Upper(b);
        }
        OutsideMass = Lower(_knots[0]) + Upper(_knots[^1]);
        _stepMean = _steps.Select(Upper).ToArray();
        _gram = BuildGram();
        _gramCholesky = (double[])_gram.Clone();
        if (!Dense.TryCholesky(_gramCholesky, Size))
        {
            // Q is positive definite in exact arithmetic but badly conditioned (spec §2): regularise slightly.
            double trace = 0;
            for (int i = 0; i < Size; i++) trace += _gram[i * Size + i];
            _gramCholesky = (double[])_gram.Clone();
            for (int i = 0; i < Size; i++) _gramCholesky[i * Size + i] += 1e-12 * trace / Size;
            if (!Dense.TryCholesky(_gramCholesky, Size))
                throw new ArgumentException($"the Gram matrix of dictionary '{Name}' is not positive definite (duplicate steps or knots?).");
            GramRegularized = true;
        }
    }

    /// <summary>
    /// The default dictionary (spec §2, ours): J ramps on Gaussian-quantile knots Φ⁻¹(p_min + k(1 − 2p_min)/J), so that
    /// every bin carries mass (1 − 2p_min)/J, plus a step at every bin midpoint when <paramref name="steps"/>.
    /// </summary>
    public static PolyhedralDictionary GaussianQuantile(int ramps = 40, double pMin = 0.005, bool steps = true, double alpha = 0.1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ramps, 1);
        if (!(pMin > 0 && pMin < 0.5)) throw new ArgumentOutOfRangeException(nameof(pMin), pMin, "p_min must lie in (0, 0.5).");
        var knots = new double[ramps + 1];
        for (int k = 0; k <= ramps; k++) knots[k] = Normal.InvCDF(0, 1, pMin + k * (1 - 2 * pMin) / ramps);
        return new PolyhedralDictionary(knots, steps ? Midpoints(knots) : [], alpha, $"Q{ramps}{(steps ? "s" : "")}");
    }

    /// <summary>
    /// The dictionary of [18]'s code (spec §2, "faithful"): uniform knots −R + kδ, k = 0…round(2R/δ) (R = 2.9, δ = 0.2
    /// gives 29 ramps on [−2.9, 2.9]), ramps only unless <paramref name="steps"/> adds a step at every bin midpoint.
    /// </summary>
    public static PolyhedralDictionary Uniform(double radius = 2.9, double spacing = 0.2, bool steps = false, double alpha = 0.1)
    {
        if (!(radius > 0) || !(spacing > 0) || !double.IsFinite(radius) || !double.IsFinite(spacing))
            throw new ArgumentException($"radius and spacing must be finite and > 0 (got {radius}, {spacing}).");
        int ramps = (int)Math.Round(2 * radius / spacing);
        var knots = new double[ramps + 1];
        for (int k = 0; k <= ramps; k++) knots[k] = -radius + k * (2 * radius / ramps);
        return new PolyhedralDictionary(knots, steps ? Midpoints(knots) : [], alpha, $"U{ramps}{(steps ? "s" : "")}");
    }

    private static double[] Midpoints(double[] knots)
    {
        var mid = new double[knots.Length - 1];
        for (int k = 0; k < mid.Length; k++) mid[k] = 0.5 * (knots[k] + knots[k + 1]);
        return mid;
    }

    /// <summary>A short name (Q40s, U29, …) for reports.</summary>
    public string Name { get; }

    /// <summary>α, the slope floor: S' ≥ α everywhere.</summary>
    public double Alpha { get; }

    /// <summary>J, the number of ramps (bins).</summary>
    public int Ramps { get; }

    /// <summary>M, the number of steps.</summary>
    public int Steps => _steps.Length;

    /// <summary>Number of atoms n = 1 + J + M (the length of one coordinate's λ).</summary>
    public int Size => 1 + Ramps + _steps.Length;

    /// <summary>The knots t_0 &lt; … &lt; t_J.</summary>
    public ReadOnlySpan<double> Knots => _knots;

    /// <summary>The step positions σ_j.</summary>
    public ReadOnlySpan<double> StepPositions => _steps;

    /// <summary>p_k = P(t_{k−1} &lt; t ≤ t_k) under N(0, 1), k = 1…J (index k − 1).</summary>
    public ReadOnlySpan<double> BinMasses => _binMass;

    /// <summary>p_out = P(t outside [t_0, t_J]).</summary>
    public double OutsideMass { get; }

    /// <summary>The Gram matrix Q_{ab} = E[f_a f_b] under N(0, 1), n×n row-major.</summary>
    public ReadOnlySpan<double> Gram => _gram;

    /// <summary>Its lower Cholesky factor (of Q + 1e−12·tr(Q)/n·I when <see cref="GramRegularized"/>).</summary>
    public ReadOnlySpan<double> GramCholesky => _gramCholesky;

    /// <summary>True when Q had to be regularised to factor.</summary>
    public bool GramRegularized { get; }

    /// <summary>Writes the n atom values f(t) = (t, ψ_1(t), …, ψ_J(t), η_1(t), …, η_M(t)) into <paramref name="features"/>.</summary>
    public void Features(double t, Span<double> features)
    {
        features[0] = t;
        for (int k = 0; k < Ramps; k++)
        {
            double r = (t - _knots[k]) / _widths[k];
            features[1 + k] = (r <= 0 ? 0.0 : r >= 1 ? 1.0 : r) - _rampMean[k];
        }
        for (int j = 0; j < _steps.Length; j++)
            features[1 + Ramps + j] = (t > _steps[j] ? 1.0 : 0.0) - _stepMean[j];
    }

    /// <summary>E r_k, the centring constants of the ramps (index k − 1).</summary>
    internal ReadOnlySpan<double> RampMeans => _rampMean;

    /// <summary>P(t &gt; σ_j), the centring constants of the steps.</summary>
    internal ReadOnlySpan<double> StepMeans => _stepMean;

    /// <summary>
    /// Where t falls, which fixes every atom's value: <paramref name="passed"/> ramps are at 1 (t ≥ t_{k+1}), ramp
    /// number <paramref name="passed"/> (when &lt; J) is at <paramref name="fraction"/> ∈ [0, 1), the later ones at 0;
    /// the first <paramref name="stepsBelow"/> steps are at 1 (σ_j &lt; t), the others at 0 (before centring). Binary
    /// searches: O(log J + log M), where <see cref="Features"/> is O(n).
    /// </summary>
    internal void Locate(double t, out int passed, out double fraction, out int stepsBelow)
    {
        // passed = #{k ≥ 1: t_k ≤ t}.
        int lo = 1, hi = _knots.Length; // answer in [lo − 1, hi − 1]
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_knots[mid] <= t) lo = mid + 1; else hi = mid;
        }
        passed = lo - 1;
        fraction = passed < Ramps && t > _knots[passed] ? (t - _knots[passed]) / _widths[passed] : 0.0;
        lo = 0;
        hi = _steps.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_steps[mid] < t) lo = mid + 1; else hi = mid;
        }
        stepsBelow = lo;
    }

    /// <summary>S(t) = α t + Σ_a λ_a f_a(t) for one coordinate's coefficients <paramref name="lambda"/> (length n).</summary>
    public double Map(ReadOnlySpan<double> lambda, double t)
    {
        double s = (Alpha + lambda[0]) * t;
        for (int k = 0; k < Ramps; k++)
        {
            if (lambda[1 + k] == 0) continue;
            double r = (t - _knots[k]) / _widths[k];
            s += lambda[1 + k] * ((r <= 0 ? 0.0 : r >= 1 ? 1.0 : r) - _rampMean[k]);
        }
        for (int j = 0; j < _steps.Length; j++)
            if (lambda[1 + Ramps + j] != 0) s += lambda[1 + Ramps + j] * ((t > _steps[j] ? 1.0 : 0.0) - _stepMean[j]);
        return s;
    }

    /// <summary>S'(t) away from the steps and knots: α + λ₀, plus λ_k/h_k inside bin k.</summary>
    public double Derivative(ReadOnlySpan<double> lambda, double t)
    {
        double s = Alpha + lambda[0];
        for (int k = 0; k < Ramps; k++)
            if (t > _knots[k] && t < _knots[k + 1]) s += lambda[1 + k] / _widths[k];
        return s;
    }

    /// <summary>
    /// The entropy term N(λ) = −E log S'(t) under t ~ N(0, 1), exact: −Σ_k p_k log(s + λ_k/h_k) − p_out log s with
    /// s = α + λ₀. Writes ∂N/∂λ into <paramref name="gradient"/> (length n) and, when not empty, the Hessian (n×n, only
    /// the identity and ramp entries are non-zero) into <paramref name="hessian"/>.
    /// </summary>
    public double NegativeLogDerivative(ReadOnlySpan<double> lambda, Span<double> gradient, Span<double> hessian = default)
    {
        int n = Size;
        double s = Alpha + lambda[0];
        double value = -OutsideMass * Math.Log(s);
        gradient[..n].Clear();
        gradient[0] = -OutsideMass / s;
        bool wantHessian = !hessian.IsEmpty;
        if (wantHessian)
        {
            hessian[..(n * n)].Clear();
            hessian[0] = OutsideMass / (s * s);
        }
        for (int k = 0; k < Ramps; k++)
        {
            double h = _widths[k], p = _binMass[k], a = s + lambda[1 + k] / h;
            value -= p * Math.Log(a);
            gradient[0] -= p / a;
            gradient[1 + k] = -p / (h * a);
            if (wantHessian)
            {
                double w = p / (a * a);
                hessian[0] += w;
                hessian[1 + k] += w / h;
                hessian[(1 + k) * n] += w / h;
                hessian[(1 + k) * n + 1 + k] = w / (h * h);
            }
        }
        return value;
    }

    // Φ(b) − Φ(a), φ(a) − φ(b), M0 + aφ(a) − bφ(b): the Gaussian partial moments of order 0, 1, 2 on [a, b].
    private static (double M0, double M1, double M2) PartialMoments(double a, double b)
    {
        double m0 = Upper(a) - Upper(b), pa = Pdf(a), pb = Pdf(b);
        double m1 = pa - pb;
        double m2 = m0 + (double.IsInfinity(a) ? 0 : a * pa) - (double.IsInfinity(b) ? 0 : b * pb);
        return (m0, m1, m2);
    }

    private static double Pdf(double t) => double.IsInfinity(t) ? 0.0 : InvSqrt2Pi * Math.Exp(-0.5 * t * t);

    // P(t > x) through erfc, accurate in both tails.
    private static double Upper(double x) => 0.5 * SpecialFunctions.Erfc(x / Math.Sqrt(2));

    private static double Lower(double x) => 0.5 * SpecialFunctions.Erfc(-x / Math.Sqrt(2));

    private double[] BuildGram()
    {
        int n = Size, j = Ramps, m = _steps.Length;
        var q = new double[n * n];
        void Set(int a, int b, double v) { q[a * n + b] = v; q[b * n + a] = v; }
        Set(0, 0, 1.0);
        for (int k = 0; k < j; k++)
        {
            Set(0, 1 + k, _binMass[k] / _widths[k]);                       // E[t ψ_k] = E[r_k'] (Stein)
            double a = _knots[k], b = _knots[k + 1], h = _widths[k];
            var (m0, m1, m2) = PartialMoments(a, b);
            double square = (m2 - 2 * a * m1 + a * a * m0) / (h * h) + Upper(b);
            Set(1 + k, 1 + k, square - _rampMean[k] * _rampMean[k]);
            for (int l = k + 1; l < j; l++)
                Set(1 + k, 1 + l, _rampMean[l] - _rampMean[k] * _rampMean[l]); // r_k = 1 wherever r_l > 0
            for (int s = 0; s < m; s++)
            {
                double sigma = _steps[s], lo = Math.Max(a, sigma);
                double withStep = Upper(Math.Max(b, sigma));
                if (b > lo)
                {
                    var (p0, p1, _) = PartialMoments(lo, b);
                    withStep += (p1 - a * p0) / h;
                }
                Set(1 + k, 1 + j + s, withStep - _rampMean[k] * _stepMean[s]);
            }
        }
        for (int s = 0; s < m; s++)
        {
            Set(0, 1 + j + s, Pdf(_steps[s]));                                 // E[t 1{t > σ}] = φ(σ)
            for (int r = s; r < m; r++)
            {
                double lo = Math.Min(_steps[s], _steps[r]), hi = Math.Max(_steps[s], _steps[r]);
                Set(1 + j + s, 1 + j + r, Lower(lo) * Upper(hi));
            }
        }
        return q;
    }
}
