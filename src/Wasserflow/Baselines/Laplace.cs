using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.Optimization;
using Wasserflow.Families;
using Wasserflow.LinearAlgebra;
using Wasserflow.Targets;

namespace Wasserflow.Baselines;

/// <summary>The Laplace approximation N(z₀, H⁻¹) and how it was found.</summary>
/// <param name="Approximation">N(z₀, H⁻¹).</param>
/// <param name="LogDensityAtMode">log pi(z₀) (up to the target's constant).</param>
/// <param name="Iterations">L-BFGS iterations.</param>
/// <param name="AnalyticHessian">True when H came from the target's Hessian, false when from finite differences of its gradient.</param>
public sealed record LaplaceResult(Gaussian Approximation, double LogDensityAtMode, int Iterations, bool AnalyticHessian);

/// <summary>Thrown when the Laplace approximation cannot be formed: no mode found, or the Hessian at it is not positive definite.</summary>
public sealed class LaplaceException(string message) : Exception(message);

/// <summary>
/// The Laplace approximation (paper 002, Appendix I.1.3): the mode z₀ of log pi by L-BFGS (MathNet), and the Gaussian
/// N(z₀, H⁻¹) with H = −∇²log pi(z₀) — from the target when it implements <see cref="ITargetWithHessian"/>, else by
/// central differences of its gradient (symmetrised).
/// </summary>
public static class Laplace
{
    /// <summary>Fits the Laplace approximation starting the mode search at <paramref name="start"/>.</summary>
    /// <exception cref="LaplaceException">L-BFGS failed, the mode runs off to infinity, or H is not positive definite; the message says which.</exception>
    public static LaplaceResult Fit(ITarget target, ReadOnlySpan<double> start, double gradientTolerance = 1e-9, int maxIterations = 10_000)
    {
        ArgumentNullException.ThrowIfNull(target);
        int d = target.Dimension;
        if (start.Length != d) throw new ArgumentException($"the start has dimension {start.Length}, target '{target.Name}' has {d}.");
        if (target is ITargetWithPropriety propriety && !propriety.CheckProper(out string? reason))
            throw new LaplaceException($"Laplace: {reason}");
        var objective = ObjectiveFunction.Gradient(z =>
        {
            double[] point = z.AsArray() ?? z.ToArray();
            var g = new double[d];
            double lp = target.LogDensityAndGradient(point, g);
            if (!double.IsFinite(lp) || g.Any(v => !double.IsFinite(v)))
                throw new LaplaceException($"Laplace: target '{target.Name}' returned a non-finite value at {TargetEvaluator.Format(point)}");
            for (int i = 0; i < d; i++) g[i] = -g[i];
            return (-lp, Vector<double>.Build.Dense(g));
        });
        var minimizer = new LimitedMemoryBfgsMinimizer(gradientTolerance, 1e-14, 1e-14, 10, maxIterations);
        MinimizationResult result;
        try
        {
            result = minimizer.FindMinimum(objective, Vector<double>.Build.DenseOfArray(start.ToArray()));
        }
        catch (Exception ex) when (ex is not LaplaceException and not TargetEvaluationException)
        {
            throw new LaplaceException($"Laplace: L-BFGS found no mode of target '{target.Name}' ({ex.Message.TrimEnd('.')}); "
                + "if the log density keeps increasing along a direction the target is improper");
        }
        double[] mode = result.MinimizingPoint.ToArray();
        double[] h = new double[d * d];
        bool analytic = target is ITargetWithHessian;
        if (target is ITargetWithHessian withHessian)
            withHessian.LogDensityGradientAndHessian(mode, new double[d], h);
        else
            FiniteDifferenceHessian(target, mode, h);
        for (int i = 0; i < d * d; i++) h[i] = -h[i];
        double[] factor = (double[])h.Clone();
        if (!Dense.TryCholesky(factor, d) || !h.All(double.IsFinite))
            throw new LaplaceException($"Laplace: the Hessian of −log pi at the mode {TargetEvaluator.Format(mode)} of target '{target.Name}' "
                + "is not positive definite (a saddle, or a flat direction: improper posterior)");
        // Σ = H⁻¹ = L⁻ᵀ L⁻¹; its Cholesky factor from the explicit inverse (d is small for Laplace's uses).
        double[] inverse = new double[d * d], covariance = new double[d * d];
        Dense.InvertLower(factor, d, inverse);
        for (int i = 0; i < d; i++)
            for (int j = 0; j <= i; j++)
            {
                double s = 0;
                for (int k = i; k < d; k++) s += inverse[k * d + i] * inverse[k * d + j];
                covariance[i * d + j] = covariance[j * d + i] = s;
            }
        return new LaplaceResult(Gaussian.FromCovariance(mode, covariance), -result.FunctionInfoAtMinimum.Value, result.Iterations, analytic);
    }

    private static void FiniteDifferenceHessian(ITarget target, double[] x, double[] h)
    {
        int d = x.Length;
        double[] up = new double[d], down = new double[d], probe = (double[])x.Clone();
        for (int j = 0; j < d; j++)
        {
            double step = Math.Cbrt(2.220446049250313e-16) * Math.Max(1.0, Math.Abs(x[j]));
            probe[j] = x[j] + step;
            target.LogDensityAndGradient(probe, up);
            probe[j] = x[j] - step;
            target.LogDensityAndGradient(probe, down);
            probe[j] = x[j];
            for (int i = 0; i < d; i++) h[i * d + j] = (up[i] - down[i]) / (2 * step);
        }
        for (int i = 0; i < d; i++)
            for (int j = 0; j < i; j++)
                h[i * d + j] = h[j * d + i] = 0.5 * (h[i * d + j] + h[j * d + i]);
    }
}
