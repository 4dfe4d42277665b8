using BenchmarkDotNet.Attributes;
using Wasserflow.Families;
using Wasserflow.Flows;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Benchmarks;

/// <summary>
/// One RK4 step (cubature) of the Gaussian Bures–Wasserstein flow on the logistic targets of paper 002 (issue 3 goals:
/// d = 2 with 10 points, d = 10 with 50, d = 100 with 500) and on Gaussian targets (d = 2, 10, 100, 500). Each call
/// restores the state to a fixed snapshot first (a copy, included in the time), so every call does the same work.
/// Stability control is off: this times the plain RK4 step. Single thread except the one two-thread logistic setting.
/// </summary>
[MemoryDiagnoser]
public class GaussianFlowBenchmarks : RestoredStepBenchmark
{

    [ParamsSource(nameof(Settings))]
    public (string Target, int Dimension, int Threads) Setting { get; set; }

    /// <summary>Logistic targets in d = 2, 10, 100 (and 100 on two threads); Gaussian targets in d = 2, 10, 100, 500.</summary>
    public static IEnumerable<(string, int, int)> Settings =>
        [("logistic", 2, 1), ("logistic", 10, 1), ("logistic", 100, 1), ("logistic", 100, 2),
         ("gaussian", 2, 1), ("gaussian", 10, 1), ("gaussian", 100, 1), ("gaussian", 500, 1)];

    private string Target => Setting.Target;

    private int Dimension => Setting.Dimension;

    [GlobalSetup]
    public void Setup()
    {
        int d = Dimension;
        ITarget target = Target == "logistic"
            ? LogisticRegressionTarget.Synthetic(new Xoshiro256StarStar(1), d, d * 5, d == 2 ? 1.5 : d == 10 ? 0.6 : 0.05, d == 2 ? [1.0, 0.5, 0.5, 1.0] : null)
            : GaussianMixtureTarget.Gaussian(new double[d], Enumerable.Range(0, d * d).Select(i => i / d == i % d ? 1.0 + (i / d) % 3 : 0.0).ToArray());
        Flow = new BuresWassersteinFlow(target, 1, new BuresWassersteinFlowOptions(StepSize: 0.1, StabilityControl: false,
            MaxDegreeOfParallelism: Setting.Threads));
        Prepare(GaussianParticleState.Start(Gaussian.Isotropic(new double[d], 1.0), 1));
    }
}

/// <summary>
/// One RK4 step (cubature) of the K-particle mixture flow: on the 2-D bimodal target (issue 3 goal for K = 20: ≤ 2.6 ms,
/// 1000× the reference) and on a random 20-D Gaussian mixture (5 full-covariance components), K = 20 and 40.
/// </summary>
[MemoryDiagnoser]
public class ParticleFlowBenchmarks : RestoredStepBenchmark
{

    [Params(2, 20)]
    public int Dimension { get; set; }

    [Params(20, 40)]
    public int Particles { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        ITarget target = Dimension == 2
            ? GaussianMixtureTarget.Bimodal()
            : GaussianMixtureTarget.Random(new Xoshiro256StarStar(1), 20, 5, 5, 2, CovarianceKind.Full);
        Flow = new BuresWassersteinFlow(target, Particles, new BuresWassersteinFlowOptions(StepSize: 0.1, StabilityControl: false));
        Prepare(GaussianParticleState.BallStart(new Xoshiro256StarStar(2), Particles, Dimension, 4.0, 0.5, 3));
    }
}

/// <summary>
/// One RK4 step of a Bures–Wasserstein flow from a fixed snapshot: each call restores the state first (the copy is
/// inside the time), so every call does the same work.
/// </summary>
public abstract class RestoredStepBenchmark
{
    private GaussianParticleState _state = null!, _snapshot = null!;

    /// <summary>The flow under test, set by the derived class's setup before <see cref="Prepare"/>.</summary>
    protected BuresWassersteinFlow Flow { get; set; } = null!;

    /// <summary>Takes five steps from <paramref name="start"/> and keeps the result as the snapshot.</summary>
    protected void Prepare(GaussianParticleState start)
    {
        for (int i = 0; i < 5; i++) Flow.Step(start);
        _snapshot = start;
        _state = start.Clone();
    }

    [Benchmark]
    public long Rk4Step()
    {
        Array.Copy(_snapshot.Means, _state.Means, _state.Means.Length);
        Array.Copy(_snapshot.Factors, _state.Factors, _state.Factors.Length);
        return Flow.Step(_state).Iteration;
    }
}
