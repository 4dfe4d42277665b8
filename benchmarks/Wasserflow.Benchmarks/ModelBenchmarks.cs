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

/// <summary>
/// A whole Gaussian VI fit of a breast_cancer-shaped logistic regression (285 rows, 30 predictors, no intercept, prior
/// N(0, 10²); synthetic data) as `fit` runs it by default: the Laplace approximation (L-BFGS from 0 and the Hessian),
/// whitening by it, and 100 RK4 steps of h = 0.1 with randomised cubature from N(0, I) — on sklearn's breast_cancer those
/// 100 steps end within 0.04 posterior sd of the fit's own optimum (docs/experiments.md).
/// </summary>
[MemoryDiagnoser]
public class ModelFitBenchmarks
{
    private RegressionModel _model = null!;

    [GlobalSetup]
    public void Setup()
    {
        var (x, y) = ModelBenchmarks.BreastCancerShape(new Xoshiro256StarStar(1));
        _model = RegressionModel.Create(RegressionFamily.Logistic, x, y, intercept: false, priorScale: 10);
    }

    [Benchmark]
    public double BreastCancerShapeGaussianVi100Steps()
    {
        int d = _model.Dimension;
        var laplace = Baselines.Laplace.Fit(_model, new double[d]).Approximation;
        var whitened = new AffineTarget(_model, laplace.Mean, laplace.CholeskyFactor);
        var flow = new Flows.BuresWassersteinFlow(whitened, 1, new Flows.BuresWassersteinFlowOptions(StepSize: 0.1, Expectation: Expectations.GaussianExpectation.RandomizedCubature));
        var state = Flows.GaussianParticleState.Start(Families.Gaussian.Isotropic(new double[d], 1.0), 1);
        for (int t = 0; t < 100; t++) flow.Step(state);
        return state.Means[0];
    }
}
