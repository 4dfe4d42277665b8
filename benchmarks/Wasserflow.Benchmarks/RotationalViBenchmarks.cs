using BenchmarkDotNet.Attributes;
using Wasserflow.Families;
using Wasserflow.Flows;
using Wasserflow.Targets;

namespace Wasserflow.Benchmarks;

/// <summary>
/// One iteration of rotational VI (paper 003; spec defaults: N = 1000 draws, Q40 with midpoint steps, forward–backward
/// step): the draws and their features, two batched target evaluations (before and after the MFVI step), d projected
/// Newton solves and the QR retraction. Setting (iii) of paper 003 in 2-D, and a two-component mixture in 10-D. The
/// state keeps moving from call to call (the flow is not restored), as in a real run.
/// </summary>
[MemoryDiagnoser]
public class RotationalViBenchmarks
{
    private RotationalViFlow _flow = null!;
    private RotationalViState _state = null!;

    [Params(2, 10)]
    public int Dimension { get; set; }

    [Params(false, true)]
    public bool Rotate { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        int d = Dimension;
        var means = new double[2 * d];
        for (int i = 0; i < d; i++) { means[i] = -2.5 + 0.2 * i; means[d + i] = 2 - 0.1 * i; }
        var covariances = new double[2 * d * d];
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < d; i++) covariances[k * d * d + i * d + i] = 1;
        var target = GaussianMixtureTarget.Create([0.5, 0.5], means, CovarianceKind.Full, covariances);
        // The F̂ evaluation every m steps is not part of an iteration's cost here.
        var options = new RotationalViOptions { Rotate = Rotate, Seed = 1, EvaluateEvery = int.MaxValue };
        var dictionary = PolyhedralDictionary.GaussianQuantile();
        _flow = new RotationalViFlow(target, dictionary, options);
        _state = RotationalViState.Start(d, dictionary, options, 1);
        for (int i = 0; i < 20; i++) _flow.Step(_state);
    }

    [Benchmark]
    public void Iteration() => _flow.Step(_state);
}
