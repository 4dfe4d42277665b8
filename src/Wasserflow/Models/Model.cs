using System.Buffers;
using Wasserflow.Targets;

namespace Wasserflow.Models;

/// <summary>One named block of parameters: a scalar ("sigma") or a vector ("beta", reported as beta[1] … beta[k]).</summary>
/// <param name="Name">The block's name.</param>
/// <param name="Size">Its length (1 for a scalar).</param>
/// <param name="Constraint">The support of every entry.</param>
/// <param name="ElementNames">What each entry stands for ("beta[age]" instead of "beta[1]"), or null for 1 … Size.</param>
public sealed record ParameterBlock(string Name, int Size, Constraint Constraint, IReadOnlyList<string>? ElementNames = null);

/// <summary>
/// The parameters of a model: named blocks with their constraints, laid out one after another in a vector. VI runs on
/// the unconstrained vector u; <see cref="Constrain"/> gives the model's parameters x = T(u).
/// </summary>
public sealed class ParameterLayout
{
    private readonly Constraint[] _constraints;

    /// <summary>A layout from its blocks, in order.</summary>
    /// <exception cref="ArgumentException">No block, a size below 1, or two blocks with one name.</exception>
    public ParameterLayout(params IReadOnlyList<ParameterBlock> blocks)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        if (blocks.Count == 0) throw new ArgumentException("a model needs at least one parameter.");
        foreach (ParameterBlock b in blocks)
            if (b.Size < 1) throw new ArgumentException($"parameter block '{b.Name}' has size {b.Size}; it must be ≥ 1.");
            else if (b.ElementNames is { } names && names.Count != b.Size)
                throw new ArgumentException($"parameter block '{b.Name}' has {b.Size} entries but {names.Count} element names.");
        var duplicate = blocks.GroupBy(b => b.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"two parameter blocks are named '{duplicate.Key}'.");
        Blocks = blocks;
        _constraints = [.. blocks.SelectMany(b => Enumerable.Repeat(b.Constraint, b.Size))];
        IsUnconstrained = _constraints.All(c => c == Constraint.Real);
        Names = [.. blocks.SelectMany(b => b.ElementNames is { } names ? names.Select(n => $"{b.Name}[{n}]")
            : b.Size == 1 ? [b.Name] : Enumerable.Range(1, b.Size).Select(i => $"{b.Name}[{i}]"))];
    }

    /// <summary>The blocks, in order.</summary>
    public IReadOnlyList<ParameterBlock> Blocks { get; }

    /// <summary>Number of scalar parameters.</summary>
    public int Dimension => _constraints.Length;

    /// <summary>Whether every parameter is real (x = u, no Jacobian).</summary>
    public bool IsUnconstrained { get; }

    /// <summary>Each scalar parameter's name: "sigma", "beta[1]", ….</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>The constraint of scalar parameter <paramref name="index"/>.</summary>
    public Constraint ConstraintOf(int index) => _constraints[index];

    /// <summary>Where block <paramref name="name"/> starts in the vector.</summary>
    public int OffsetOf(string name)
    {
        int offset = 0;
        foreach (ParameterBlock b in Blocks)
        {
            if (b.Name == name) return offset;
            offset += b.Size;
        }
        throw new ArgumentException($"no parameter block named '{name}'.");
    }

    /// <summary>x = T(u), entry by entry.</summary>
    public void Constrain(ReadOnlySpan<double> unconstrained, Span<double> constrained)
    {
        for (int i = 0; i < _constraints.Length; i++) constrained[i] = _constraints[i].ToConstrained(unconstrained[i]);
    }

    /// <summary>u = T⁻¹(x), entry by entry.</summary>
    /// <exception cref="ArgumentException">An entry lies outside its support (the message names it).</exception>
    public void Unconstrain(ReadOnlySpan<double> constrained, Span<double> unconstrained)
    {
        for (int i = 0; i < _constraints.Length; i++)
        {
            if (!_constraints[i].Contains(constrained[i]))
                throw new ArgumentException($"{Names[i]} = {constrained[i]} is outside its support ({_constraints[i]}).");
            unconstrained[i] = _constraints[i].ToUnconstrained(constrained[i]);
        }
    }

    /// <summary>Σ log|T'(u_i)|.</summary>
    public double LogJacobian(ReadOnlySpan<double> unconstrained)
    {
        double sum = 0;
        for (int i = 0; i < _constraints.Length; i++) sum += _constraints[i].LogJacobian(unconstrained[i]);
        return sum;
    }
}

/// <summary>The log density of a model on its constrained parameters x, writing ∂/∂x into <paramref name="gradient"/>.</summary>
public delegate double ModelLogDensity(ReadOnlySpan<double> parameters, Span<double> gradient);

/// <summary>
/// A Bayesian model as a target for VI: its parameters' <see cref="ParameterLayout"/> and the log joint density
/// log p(x, data) on the constrained scale with its gradient. As an <see cref="ITarget"/> it is the density of the
/// unconstrained u: log p(T(u), data) + Σ log|T'(u_i)|, with gradient ∂log p/∂x · T'(u) + d/du log|T'(u)|.
/// </summary>
/// <remarks>
/// Constant convention: built-in models include every normalising constant of likelihood and prior, so the ELBO a fit
/// reports is a lower bound on the log evidence log p(data) and KL − log Z estimates are −ELBO. The delegate must be
/// thread-safe; scratch space here is per call.
/// </remarks>
public class Model : ITarget
{
    private readonly ModelLogDensity? _logDensity;

    /// <summary>A model from its layout and its log joint density on the constrained scale.</summary>
    public Model(string name, ParameterLayout layout, ModelLogDensity logDensity)
        : this(name, layout) => _logDensity = logDensity ?? throw new ArgumentNullException(nameof(logDensity));

    /// <summary>For models that override <see cref="ConstrainedLogDensity"/>.</summary>
    protected Model(string name, ParameterLayout layout)
    {
        Name = name ?? throw new ArgumentNullException(nameof(name));
        Layout = layout ?? throw new ArgumentNullException(nameof(layout));
    }

    /// <summary>The parameters.</summary>
    public ParameterLayout Layout { get; }

    /// <inheritdoc/>
    public int Dimension => Layout.Dimension;

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>Unknown (the log evidence): KL estimates are KL − log Z = −ELBO.</summary>
    public double? LogNormalizer => null;

    /// <inheritdoc/>
    public double LogDensity(ReadOnlySpan<double> x)
    {
        double[] rented = ArrayPool<double>.Shared.Rent(2 * Dimension);
        try
        {
            return LogDensityAndGradient(x, rented.AsSpan(Dimension, Dimension));
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }

    /// <inheritdoc/>
    public double LogDensityAndGradient(ReadOnlySpan<double> x, Span<double> gradient)
    {
        if (x.Length != Dimension) throw new TargetEvaluationException($"{Name}: expected {Dimension} parameters, got {x.Length}.");
        if (Layout.IsUnconstrained) return ConstrainedLogDensity(x, gradient); // u = x, no Jacobian
        double[] rented = ArrayPool<double>.Shared.Rent(Dimension);
        try
        {
            Span<double> theta = rented.AsSpan(0, Dimension);
            Layout.Constrain(x, theta);
            double value = ConstrainedLogDensity(theta, gradient);
            for (int i = 0; i < Dimension; i++)
            {
                Constraint c = Layout.ConstraintOf(i);
                value += c.LogJacobian(x[i]);
                gradient[i] = gradient[i] * c.Derivative(x[i]) + c.LogJacobianDerivative(x[i]);
            }
            return value;
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }

    /// <summary>The quantities a summary reports, by name: the parameters themselves unless a model derives others (θ = μ + τ θ̃).</summary>
    public virtual IReadOnlyList<string> ReportedNames => Layout.Names;

    /// <summary>
    /// Maps <paramref name="count"/> unconstrained points (rows of <paramref name="unconstrained"/>) to rows of the
    /// <see cref="ReportedNames"/> quantities: x = T(u), then <see cref="Report"/>.
    /// </summary>
    public void ReportDraws(ReadOnlySpan<double> unconstrained, int count, Span<double> reported)
    {
        int d = Dimension, k = ReportedNames.Count;
        var theta = new double[d];
        for (int s = 0; s < count; s++)
        {
            Layout.Constrain(unconstrained.Slice(s * d, d), theta);
            Report(theta, reported.Slice(s * k, k));
        }
    }

    /// <summary>Writes the <see cref="ReportedNames"/> quantities at the constrained parameters.</summary>
    public virtual void Report(ReadOnlySpan<double> parameters, Span<double> reported) => parameters.CopyTo(reported);

    /// <summary>log p(x, data) on the constrained scale (no Jacobian), writing ∂/∂x.</summary>
    public virtual double ConstrainedLogDensity(ReadOnlySpan<double> parameters, Span<double> gradient) =>
        _logDensity is { } f ? f(parameters, gradient) : throw new InvalidOperationException($"{Name}: no log density was given.");
}
