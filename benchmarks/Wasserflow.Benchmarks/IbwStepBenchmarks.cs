using BenchmarkDotNet.Attributes;
using Wasserflow.Families;
using Wasserflow.Flows;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Benchmarks;

/// <summary>
/// Time and allocations of one IBW iteration (B = 10) on a Gaussian-mixture target, single thread, as in issue 2:
/// (d, N) = (2, 20), (20, 20), (100, 15), (100, 20), (1000, 20), (10000, 20). The 2-D and 20-D targets are the
/// paper's settings (5 and 10 target components); in d ≥ 100 the target has 5 diagonal components so that its own cost
/// stays O(d) like the family's.
/// </summary>
[MemoryDiagnoser]
public class IbwStepBenchmarks
{
    private IsotropicMixtureFlow _flow = null!;
    private IsotropicMixtureState _state = null!;

    [Params(2, 20, 100, 1000, 10000)]
    public int Dimension { get; set; }

    [Params(15, 20)]
    public int Components { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Xoshiro256StarStar(1);
        GaussianMixtureTarget target = Dimension switch
        {
            2 => GaussianMixtureTarget.Random(rng, 2, 5, 8, 5, CovarianceKind.Diagonal),
            20 => GaussianMixtureTarget.Random(rng, 20, 10, 10, 1, CovarianceKind.Full),
            _ => GaussianMixtureTarget.Random(rng, Dimension, 5, 100.0 / Dimension, 5, CovarianceKind.Diagonal),
        };
        double spread = Dimension <= 20 ? 15 : 100.0 / Dimension;
        var q0 = IsotropicGaussianMixture.Initialize(new Xoshiro256StarStar(2), Components, Dimension, spread, 2);
        _flow = new IsotropicMixtureFlow(target, new IbwUpdate(), Components,
            new IsotropicMixtureFlowOptions(StepSize: 0.1 / Dimension, SamplesPerComponent: 10));
        _state = IsotropicMixtureState.Start(q0, 3);
        for (int i = 0; i < 50; i++) _flow.Step(_state); // leave the transient start
    }

    [Benchmark]
    public double IbwIteration() => _flow.Step(_state).ObjectiveEstimate;
}
