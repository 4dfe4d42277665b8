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
/// stays O(d) like the family's. ("diagonal", 20, N) is issue 18's d = 20 setting: the same 10 components with
/// diagonal covariances.
/// </summary>
[MemoryDiagnoser]
public class IbwStepBenchmarks
{
    private IsotropicMixtureFlow _flow = null!;
    private IsotropicMixtureState _state = null!;

    /// <summary>(target, d, N): the paper's targets in d = 2, 20 and the diagonal ones above; d = 20 diagonal too.</summary>
    [ParamsSource(nameof(Settings))]
    public (string Target, int Dimension, int Components) Setting { get; set; }

    /// <summary>Every benchmarked (target, d, N).</summary>
    public static IEnumerable<(string, int, int)> Settings =>
        from setting in (IEnumerable<(string Target, int Dimension)>)
            [("paper", 2), ("paper", 20), ("diagonal", 20), ("paper", 100), ("paper", 1000), ("paper", 10000)]
        from n in (int[])[15, 20]
        select (setting.Target, setting.Dimension, n);

    private int Dimension => Setting.Dimension;

    private int Components => Setting.Components;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Xoshiro256StarStar(1);
        GaussianMixtureTarget target = Dimension switch
        {
            2 => GaussianMixtureTarget.Random(rng, 2, 5, 8, 5, CovarianceKind.Diagonal),
            20 => GaussianMixtureTarget.Random(rng, 20, 10, 10, 1, Setting.Target == "diagonal" ? CovarianceKind.Diagonal : CovarianceKind.Full),
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
