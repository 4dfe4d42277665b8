using BenchmarkDotNet.Attributes;
using Wasserflow.Models;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Benchmarks;

/// <summary>
/// One log density and gradient of a model on its unconstrained scale, the unit every flow pays per point: a logistic
/// regression of breast_cancer's shape (285 rows, 30 predictors, intercept; synthetic data), the same through the
/// Laplace-whitening map (what `fit` runs on), and a linear regression of diamonds' shape (5,000 rows, 25 columns) as
/// the posteriordb template writes it.
/// </summary>
[MemoryDiagnoser]
public class ModelBenchmarks
{
    private ITarget _logistic = null!, _whitened = null!, _linear = null!;
    private double[] _u31 = null!, _u26 = null!, _g31 = null!, _g26 = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Xoshiro256StarStar(1);
        var (x, y) = BreastCancerShape(rng);
        var logistic = RegressionModel.Create(RegressionFamily.Logistic, x, y, intercept: true, priorScale: 10);
        _logistic = logistic;
        var factor = new double[31 * 31];
        for (int i = 0; i < 31; i++) factor[i * 31 + i] = 0.5;
        _whitened = new AffineTarget(logistic, new double[31], factor);
        double[] xl = new double[5000 * 25], yl = new double[5000];
        rng.FillStandardNormal(xl);
        rng.FillStandardNormal(yl);
        _linear = PosteriorDb.Linear("diamonds-like", xl, yl, [.. Enumerable.Repeat(PosteriorDb.Normal(0, 1), 25)], PosteriorDb.HalfCauchyKernel(2.5),
            [.. Enumerable.Range(1, 25).Select(i => $"b[{i}]")], likelihoodConstant: true);
        _u31 = new double[31];
        _u26 = new double[26];
        rng.FillStandardNormal(_u31);
        for (int i = 0; i < 31; i++) _u31[i] *= 0.1;
        _g31 = new double[31];
        _g26 = new double[26];
    }

    [Benchmark]
    public double LogisticBreastCancerShape() => _logistic.LogDensityAndGradient(_u31, _g31);

    [Benchmark]
    public double LogisticWhitened() => _whitened.LogDensityAndGradient(_u31, _g31);

    [Benchmark]
    public double LinearDiamondsShape() => _linear.LogDensityAndGradient(_u26, _g26);

    /// <summary>Synthetic logistic-regression data of breast_cancer's shape: 285 rows × 30 standard-normal predictors, 0/1 responses.</summary>
    internal static (double[] X, double[] Y) BreastCancerShape(Xoshiro256StarStar rng)
    {
        double[] x = new double[285 * 30], y = new double[285];
        rng.FillStandardNormal(x);
        for (int i = 0; i < y.Length; i++) y[i] = rng.NextDouble() < 0.5 ? 0 : 1;
        return (x, y);
    }
}
