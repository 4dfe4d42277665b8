using BenchmarkDotNet.Attributes;
using Wasserflow.Data;
using Wasserflow.Families;
using Wasserflow.Flows;
using Wasserflow.Models;
using Wasserflow.NeuralNetworks;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Benchmarks;

/// <summary>
/// Paper 000's posteriors (issue 16): one IBW iteration (N = 5, B = 10) on a breast_cancer-shaped logistic regression
/// (285 × 30, no intercept, synthetic data) in raw coordinates, beside the floor it cannot go below — the model's batched
/// log density and gradient at the same 50 points.
/// </summary>
[MemoryDiagnoser]
public class PosteriorsBenchmarks
{
    private IsotropicMixtureFlow _ibw = null!;
    private IsotropicMixtureState _state = null!;
    private IBatchedTarget _model = null!;
    private double[] _points = null!, _logs = null!, _grads = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Xoshiro256StarStar(1);
        var (x, y) = ModelBenchmarks.BreastCancerShape(rng);
        var model = RegressionModel.Create(RegressionFamily.Logistic, x, y, intercept: false, priorScale: 10);
        _model = model;
        var q0 = IsotropicGaussianMixture.Initialize(new Xoshiro256StarStar(2), 5, 30, 0.5, 0.01);
        _ibw = new IsotropicMixtureFlow(model, new IbwUpdate(), 5, new IsotropicMixtureFlowOptions(StepSize: 1e-3, SamplesPerComponent: 10));
        _state = IsotropicMixtureState.Start(q0, 3);
        for (int i = 0; i < 50; i++) _ibw.Step(_state);
        _points = new double[50 * 30];
        rng.FillStandardNormal(_points);
        for (int i = 0; i < _points.Length; i++) _points[i] *= 0.3;
        _logs = new double[50];
        _grads = new double[50 * 30];
    }

    [Benchmark]
    public double IbwIterationBreastCancerShape() => _ibw.Step(_state).ObjectiveEstimate;

    [Benchmark]
    public double ModelGradient50Points()
    {
        _model.LogDensityAndGradientBatch(_points, 50, _logs, _grads);
        return _logs[0];
    }
}

/// <summary>
/// One mean-field mixture BNN iteration (paper 000, Appendix E.5.1; N = 5, batch 128) at d = 203,530 (784 pixels →
/// 256 ReLU units → 10 classes), with one and two workers.
/// </summary>
[MemoryDiagnoser]
public class MeanFieldBnnBenchmarks
{
    private MeanFieldMixtureFlow _bnn = null!;
    private BayesianClassifierPotential _potential = null!;
    private Xoshiro256StarStar _rng = null!;

    [Params(1, 2)]
    public int Workers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Xoshiro256StarStar(1);
        // A Fashion-MNIST-shaped set: 1,024 random "images" of 784 standardised pixels (the cost does not depend on the values).
        var pixels = new double[1024 * 784];
        rng.FillStandardNormal(pixels);
        var data = new LabeledData(pixels, [.. Enumerable.Range(0, 1024).Select(i => i % 10)], 784, 10, "synthetic");
        _potential = new BayesianClassifierPotential(data, 256, 1.0, Workers);
        int d = _potential.Dimension;
        var means = new double[5 * d];
        rng.FillStandardNormal(means);
        for (int i = 0; i < means.Length; i++) means[i] *= 0.03;
        _bnn = new MeanFieldMixtureFlow(new IbwUpdate(), means, [1e-4, 1e-4, 1e-4, 1e-4, 1e-4]);
        _rng = new Xoshiro256StarStar(4);
        _potential.SetBatch([.. Enumerable.Range(0, 128)]);
        _bnn.Step(_potential, 1e-7, _rng);
    }

    [Benchmark]
    public double MeanFieldBnnIteration() => _bnn.Step(_potential, 1e-7, _rng);
}
