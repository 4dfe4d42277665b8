namespace Wasserflow.Targets;

/// <summary>Computes log pi(x) up to a constant and writes ∇log pi(x) into <paramref name="gradient"/>.</summary>
public delegate double LogDensityGradientFunction(ReadOnlySpan<double> x, Span<double> gradient);

/// <summary>Computes log pi(x) up to a constant.</summary>
public delegate double LogDensityFunction(ReadOnlySpan<double> x);

/// <summary>
/// A target given by user code: a log density and its gradient. On first use the pair is validated at that point:
/// both must be finite and the gradient must agree with central finite differences of the log density, so a wrong
/// sign or a missing term is reported before any fitting starts.
/// </summary>
/// <remarks>
/// The delegates must be thread-safe (they may be called from several threads at once). The check uses
/// h = ε^{1/3} max(1, |x_i|) and accepts |g_i − fd_i| ≤ 1e-4 (1 + |g_i|) + 1e-6 scale; a rough log density (a kink
/// at that point) may fail it, in which case pass <c>validateGradient: false</c>.
/// </remarks>
public sealed class DelegateTarget : ITarget
{
    private readonly LogDensityFunction _logDensity;
    private readonly LogDensityGradientFunction _logDensityAndGradient;
    private readonly bool _validateGradient;
    private int _validated; // 0: not yet, 1: passed

    /// <summary>A target from delegates.</summary>
    /// <param name="dimension">d ≥ 1.</param>
    /// <param name="logDensity">log pi up to a constant.</param>
    /// <param name="logDensityAndGradient">log pi and its gradient.</param>
    /// <param name="name">Name for messages.</param>
    /// <param name="logNormalizer">log Z if known, else null.</param>
    /// <param name="validateGradient">Check the gradient against finite differences on first use.</param>
    public DelegateTarget(int dimension, LogDensityFunction logDensity, LogDensityGradientFunction logDensityAndGradient,
        string name = "user", double? logNormalizer = null, bool validateGradient = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        Dimension = dimension;
        _logDensity = logDensity ?? throw new ArgumentNullException(nameof(logDensity));
        _logDensityAndGradient = logDensityAndGradient ?? throw new ArgumentNullException(nameof(logDensityAndGradient));
        Name = name;
        LogNormalizer = logNormalizer;
        _validateGradient = validateGradient;
    }

    /// <inheritdoc/>
    public int Dimension { get; }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public double? LogNormalizer { get; }

    /// <inheritdoc/>
    public double LogDensity(ReadOnlySpan<double> x)
    {
        CheckDimension(x);
        return _logDensity(x);
    }

    /// <inheritdoc/>
    public double LogDensityAndGradient(ReadOnlySpan<double> x, Span<double> gradient)
    {
        CheckDimension(x);
        if (gradient.Length != Dimension)
            throw new ArgumentException($"gradient buffer has length {gradient.Length}, not {Dimension}.", nameof(gradient));
        if (Volatile.Read(ref _validated) == 0)
            Validate(x);
        return _logDensityAndGradient(x, gradient);
    }

    private void Validate(ReadOnlySpan<double> x)
    {
        int d = Dimension;
        var g = new double[d];
        double lp = _logDensityAndGradient(x, g);
        string at = TargetEvaluator.Format(x);
        if (!double.IsFinite(lp))
            throw new TargetEvaluationException($"target '{Name}' returned log density {lp} at x = {at}");
        for (int i = 0; i < d; i++)
            if (!double.IsFinite(g[i]))
                throw new TargetEvaluationException($"target '{Name}' returned gradient[{i}] = {g[i]} at x = {at}");
        double lp2 = _logDensity(x);
        if (Math.Abs(lp2 - lp) > 1e-9 * (1 + Math.Abs(lp)))
            throw new TargetEvaluationException($"target '{Name}': the two delegates disagree on log density at x = {at} ({lp2} vs {lp})");
        if (_validateGradient)
        {
            var probe = x.ToArray();
            for (int i = 0; i < d; i++)
            {
                double h = Math.Cbrt(2.220446049250313e-16) * Math.Max(1.0, Math.Abs(x[i]));
                double xi = probe[i];
                probe[i] = xi + h;
                double up = _logDensity(probe);
                probe[i] = xi - h;
                double down = _logDensity(probe);
                probe[i] = xi;
                double fd = (up - down) / (2 * h);
                if (!(Math.Abs(fd - g[i]) <= 1e-4 * (1 + Math.Abs(g[i])) + 1e-6 * (1 + Math.Abs(lp))))
                    throw new TargetEvaluationException(
                        $"target '{Name}': gradient[{i}] = {g[i]:G6} but finite differences of the log density give {fd:G6} at x = {at}");
            }
        }
        Volatile.Write(ref _validated, 1);
    }

    private void CheckDimension(ReadOnlySpan<double> x)
    {
        if (x.Length != Dimension)
            throw new TargetEvaluationException($"target '{Name}' has dimension {Dimension} but was given a point of dimension {x.Length}");
    }
}
