using BenchmarkDotNet.Attributes;
using Wasserflow.Models;
using Wasserflow.Randomness;
using Wasserflow.Sampling;
using Wasserflow.Targets;

namespace Wasserflow.Benchmarks;

/// <summary>
/// NUTS's unit costs: one leapfrog step (one gradient plus the kick/drift updates) on a logistic regression of
/// breast_cancer's shape (285 rows, 30 predictors, no intercept; synthetic data), on eight schools (non-centred, d = 10)
/// and on a 100-d Gaussian with a dense metric; and one whole transition on the logistic model (step 0.03, the size
/// adaptation picks on breast_cancer). Allocation must be 0 B.
/// </summary>
[MemoryDiagnoser]
public class NutsBenchmarks
{
    private NutsChainSampler _logistic = null!, _eightSchools = null!, _dense = null!, _transition = null!;

    [GlobalSetup]
    public void Setup()
    {
        var (x, y) = ModelBenchmarks.BreastCancerShape(new Xoshiro256StarStar(1));
        var logistic = RegressionModel.Create(RegressionFamily.Logistic, x, y, intercept: false, priorScale: 10);
        _logistic = new NutsChainSampler(logistic, new NutsOptions { Seed = 1 }, 0);
        _logistic.Start(0.03);
        _transition = new NutsChainSampler(logistic, new NutsOptions { Seed = 2 }, 0);
        _transition.Start(0.03);
        string folder = Path.Combine(AppContext.BaseDirectory, "posteriordb");
        var eight = PosteriorDb.Load("eight_schools-eight_schools_noncentered", folder);
        _eightSchools = new NutsChainSampler(eight, new NutsOptions { Seed = 1 }, 0);
        _eightSchools.Start(0.4);
        var gaussian = new DelegateTarget(100, v => -0.5 * System.Numerics.Tensors.TensorPrimitives.SumOfSquares(v),
            (v, g) => { System.Numerics.Tensors.TensorPrimitives.Negate(v, g); return -0.5 * System.Numerics.Tensors.TensorPrimitives.SumOfSquares(v); }, "gaussian-100");
        _dense = new NutsChainSampler(gaussian, new NutsOptions { Seed = 1, DenseMetric = true }, 0);
        _dense.Start(0.1);
    }

    [Benchmark]
    public void LeapfrogLogisticBreastCancerShape() => _logistic.LeapfrogStep();

    [Benchmark]
    public void LeapfrogEightSchools() => _eightSchools.LeapfrogStep();

    [Benchmark]
    public void LeapfrogGaussian100DenseMetric() => _dense.LeapfrogStep();

    [Benchmark]
    public int TransitionLogistic() => _transition.TransitionStep();
}
