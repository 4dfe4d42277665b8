using System.Globalization;
using static Wasserflow.Models.SpecialFunctions;

namespace Wasserflow.Models;

/// <summary>
/// The support of one scalar parameter and its bijection x = T(u) from the unconstrained real line, as Stan does it:
/// VI runs on u, the density on u is p(T(u))·|T'(u)|, and results are reported on x.
/// </summary>
/// <remarks>
/// Real: x = u. Lower bound a: x = a + eᵘ, log|T'| = u. Upper bound b: x = b − eᵘ, log|T'| = u. Interval (a, b):
/// x = a + (b − a)σ(u), log|T'| = log(b − a) − softplus(u) − softplus(−u), d/du log|T'| = 1 − 2σ(u).
/// </remarks>
public abstract record Constraint
{
    private Constraint() { }

    /// <summary>No constraint.</summary>
    public static Constraint Real { get; } = new RealLine();

    /// <summary>x &gt; 0 (log transform).</summary>
    public static Constraint Positive { get; } = new Lower(0);

    /// <summary>x &gt; <paramref name="bound"/>.</summary>
    public static Constraint LowerBound(double bound) => double.IsFinite(bound) ? new Lower(bound) : throw new ArgumentException($"a lower bound must be finite, got {bound}.");

    /// <summary>x &lt; <paramref name="bound"/>.</summary>
    public static Constraint UpperBound(double bound) => double.IsFinite(bound) ? new Upper(bound) : throw new ArgumentException($"an upper bound must be finite, got {bound}.");

    /// <summary><paramref name="low"/> &lt; x &lt; <paramref name="high"/> (scaled logit).</summary>
    public static Constraint Interval(double low, double high) =>
        double.IsFinite(low) && double.IsFinite(high) && low < high ? new Between(low, high) : throw new ArgumentException($"an interval needs finite low < high, got ({low}, {high}).");

    /// <summary>x = T(u).</summary>
    public abstract double ToConstrained(double u);

    /// <summary>u = T⁻¹(x).</summary>
    /// <exception cref="ArgumentOutOfRangeException">x is outside the support.</exception>
    public abstract double ToUnconstrained(double x);

    /// <summary>T'(u) = dx/du.</summary>
    public abstract double Derivative(double u);

    /// <summary>log |T'(u)|, the log-Jacobian added to the log density on u.</summary>
    public abstract double LogJacobian(double u);

    /// <summary>d/du log |T'(u)|.</summary>
    public abstract double LogJacobianDerivative(double u);

    /// <summary>Whether x lies in the support.</summary>
    public abstract bool Contains(double x);



    private static string G(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

    private sealed record RealLine : Constraint
    {
        public override double ToConstrained(double u) => u;
        public override double ToUnconstrained(double x) => double.IsFinite(x) ? x : throw new ArgumentOutOfRangeException(nameof(x), x, "a real parameter must be finite");
        public override double Derivative(double u) => 1;
        public override double LogJacobian(double u) => 0;
        public override double LogJacobianDerivative(double u) => 0;
        public override bool Contains(double x) => double.IsFinite(x);
        public override string ToString() => "real";
    }

    private sealed record Lower(double Bound) : Constraint
    {
        public override double ToConstrained(double u) => Bound + Math.Exp(u);
        public override double ToUnconstrained(double x) => Contains(x) ? Math.Log(x - Bound) : throw new ArgumentOutOfRangeException(nameof(x), x, $"must be > {G(Bound)}");
        public override double Derivative(double u) => Math.Exp(u);
        public override double LogJacobian(double u) => u;
        public override double LogJacobianDerivative(double u) => 1;
        public override bool Contains(double x) => x > Bound && double.IsFinite(x);
        public override string ToString() => Bound == 0 ? "positive" : $"lower bound {G(Bound)}";
    }

    private sealed record Upper(double Bound) : Constraint
    {
        public override double ToConstrained(double u) => Bound - Math.Exp(u);
        public override double ToUnconstrained(double x) => Contains(x) ? Math.Log(Bound - x) : throw new ArgumentOutOfRangeException(nameof(x), x, $"must be < {G(Bound)}");
        public override double Derivative(double u) => -Math.Exp(u);
        public override double LogJacobian(double u) => u;
        public override double LogJacobianDerivative(double u) => 1;
        public override bool Contains(double x) => x < Bound && double.IsFinite(x);
        public override string ToString() => $"upper bound {G(Bound)}";
    }

    private sealed record Between(double Low, double High) : Constraint
    {
        public override double ToConstrained(double u) => Low + (High - Low) * Sigmoid(u);

        public override double ToUnconstrained(double x)
        {
            if (!Contains(x)) throw new ArgumentOutOfRangeException(nameof(x), x, $"must lie in ({G(Low)}, {G(High)})");
            double p = (x - Low) / (High - Low);
            return Math.Log(p) - double.LogP1(-p);
        }

        public override double Derivative(double u)
        {
            double s = Sigmoid(u);
            return (High - Low) * s * (1 - s);
        }

        public override double LogJacobian(double u) => Math.Log(High - Low) - Softplus(u) - Softplus(-u);
        public override double LogJacobianDerivative(double u) => 1 - 2 * Sigmoid(u);
        public override bool Contains(double x) => x > Low && x < High;
        public override string ToString() => $"interval ({G(Low)}, {G(High)})";
    }
}
