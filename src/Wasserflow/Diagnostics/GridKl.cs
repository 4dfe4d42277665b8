using Wasserflow.Families;
using Wasserflow.Targets;

namespace Wasserflow.Diagnostics;

/// <summary>An axis-aligned 2-D box [XMin, XMax] × [YMin, YMax].</summary>
public readonly record struct Box2D(double XMin, double XMax, double YMin, double YMax)
{
    /// <summary>The box that holds every component of q within <paramref name="radii"/> standard deviations.</summary>
    public static Box2D Around(IsotropicGaussianMixture q, double radii = 4.0)
    {
        ArgumentNullException.ThrowIfNull(q);
        double x0 = double.MaxValue, x1 = double.MinValue, y0 = double.MaxValue, y1 = double.MinValue;
        for (int j = 0; j < q.ComponentCount; j++)
        {
            double r = radii * Math.Sqrt(q.Variances[j]);
            ReadOnlySpan<double> m = q.ComponentMean(j);
            x0 = Math.Min(x0, m[0] - r); x1 = Math.Max(x1, m[0] + r);
            y0 = Math.Min(y0, m[1] - r); y1 = Math.Max(y1, m[1] + r);
        }
        return new Box2D(x0, x1, y0, y1);
    }

    /// <summary>The box that holds a Gaussian within <paramref name="radii"/> marginal standard deviations.</summary>
    public static Box2D Around(Gaussian g, double radii)
    {
        ArgumentNullException.ThrowIfNull(g);
        ReadOnlySpan<double> r = g.CholeskyFactor;
        double rx = radii * Math.Abs(r[0]), ry = radii * Math.Sqrt(r[2] * r[2] + r[3] * r[3]);
        return new Box2D(g.Mean[0] - rx, g.Mean[0] + rx, g.Mean[1] - ry, g.Mean[1] + ry);
    }

    /// <summary>The box that holds every particle of a full-covariance mixture within <paramref name="radii"/> standard deviations.</summary>
    public static Box2D Around(GaussianMixture p, double radii)
    {
        ArgumentNullException.ThrowIfNull(p);
        Box2D box = Around(p.Component(0), radii);
        for (int k = 1; k < p.ComponentCount; k++) box = box.Union(Around(p.Component(k), radii));
        return box;
    }

    /// <summary>The smallest box holding both.</summary>
    public Box2D Union(Box2D other) => new(Math.Min(XMin, other.XMin), Math.Max(XMax, other.XMax), Math.Min(YMin, other.YMin), Math.Max(YMax, other.YMax));
}

/// <summary>KL(q‖pi) by quadrature on a grid, for 2-D targets.</summary>
/// <param name="Kl">Σ q log(q / pi_grid) ΔA over the grid, with pi normalised on the grid.</param>
/// <param name="LogNormalizer">log Z_grid = log Σ exp(log pi) ΔA: the grid's estimate of log Z for the unnormalised target.</param>
/// <param name="MassOfQ">Σ q ΔA: how much of q the box holds (close to 1 when the box is large enough).</param>
/// <param name="Box">The box.</param>
/// <param name="Resolution">Points per axis.</param>
public readonly record struct GridKlResult(double Kl, double LogNormalizer, double MassOfQ, Box2D Box, int Resolution);

/// <summary>
/// KL against a grid-normalised target in 2-D: the target's density is normalised by midpoint quadrature on a box, so
/// it is usable when log Z is unknown, and the result checks the Monte Carlo estimate when it is known.
/// </summary>
public static class GridKl
{
    /// <summary>Midpoint-rule KL(q‖pi_grid) on a resolution × resolution grid over <paramref name="box"/>.</summary>
    public static GridKlResult Compute(IsotropicGaussianMixture q, ITarget target, Box2D box, int resolution = 400)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(target);
        if (q.Dimension != 2 || target.Dimension != 2)
            throw new ArgumentException("grid KL is for 2-D targets and mixtures.");
        ArgumentOutOfRangeException.ThrowIfLessThan(resolution, 2);
        double hx = (box.XMax - box.XMin) / resolution, hy = (box.YMax - box.YMin) / resolution;
        double logArea = Math.Log(hx * hy);
        int count = resolution * resolution;
        var logPi = new double[count];
        var logQ = new double[count];
        Evaluate(q, target, box, resolution, logPi, logQ);
        double logZ = GaussianMixtureTarget.LogSumExp(logPi) + logArea;
        double kl = 0, mass = 0;
        for (int i = 0; i < count; i++)
        {
            double qMass = Math.Exp(logQ[i] + logArea);
            if (qMass == 0) continue;
            mass += qMass;
            kl += qMass * (logQ[i] - (logPi[i] - logZ));
        }
        return new GridKlResult(kl, logZ, mass, box, resolution);
    }

    /// <summary>log pi and log q at the midpoints of a resolution × resolution grid, index a·resolution + b for cell (a, b).</summary>
    public static void Evaluate(IsotropicGaussianMixture q, ITarget target, Box2D box, int resolution, Span<double> logPi, Span<double> logQ)
    {
        EvaluateTarget(target, box, resolution, logPi);
        Span<double> x = stackalloc double[2];
        for (int cell = 0; cell < resolution * resolution; cell++)
        {
            Midpoint(box, resolution, cell, x);
            logQ[cell] = q.LogDensity(x);
        }
    }

    /// <summary>log pi at the midpoints of a resolution × resolution grid, index a·resolution + b for cell (a, b).</summary>
    public static void EvaluateTarget(ITarget target, Box2D box, int resolution, Span<double> logPi)
    {
        Span<double> x = stackalloc double[2];
        for (int cell = 0; cell < resolution * resolution; cell++)
        {
            Midpoint(box, resolution, cell, x);
            logPi[cell] = target.LogDensity(x);
        }
    }

    /// <summary>The midpoint of grid cell (a, b) = (cell / resolution, cell % resolution).</summary>
    public static void Midpoint(Box2D box, int resolution, int cell, Span<double> x)
    {
        x[0] = box.XMin + (cell / resolution + 0.5) * ((box.XMax - box.XMin) / resolution);
        x[1] = box.YMin + (cell % resolution + 0.5) * ((box.YMax - box.YMin) / resolution);
    }

    /// <summary>log Z = log ∫ exp(log pi) over <paramref name="box"/> by the midpoint rule on a resolution² grid (2-D targets).</summary>
    public static double LogNormalizer(ITarget target, Box2D box, int resolution)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (target.Dimension != 2) throw new ArgumentException("the grid normaliser is for 2-D targets.");
        ArgumentOutOfRangeException.ThrowIfLessThan(resolution, 2);
        var logPi = new double[resolution * resolution];
        EvaluateTarget(target, box, resolution, logPi);
        return GaussianMixtureTarget.LogSumExp(logPi) + Math.Log((box.XMax - box.XMin) / resolution * ((box.YMax - box.YMin) / resolution));
    }
}
