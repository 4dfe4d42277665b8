using BenchmarkDotNet.Attributes;
using Wasserflow.NeuralNetworks;
using Wasserflow.Randomness;

namespace Wasserflow.Benchmarks;

/// <summary>
/// One training step of a GM layer on a Fashion-MNIST-shaped minibatch (B = 64, d = 784, L = 9), single thread, as in
/// issue 4: forward, zero-logit loss and its gradient, backward (no input gradient, as for a first layer) and the SGD
/// update. An epoch is 938 such steps (the last one of 32 rows).
/// </summary>
[MemoryDiagnoser]
public class GaussianMixtureLayerBenchmarks
{
    private const int Batch = 64, Pixels = 784, Logits = 9;
    private Sequential _net = null!;
    private readonly double[] _x = new double[Batch * Pixels];
    private readonly int[] _labels = new int[Batch];
    private readonly double[] _gradient = new double[Batch * Logits];
    private readonly SgdOptions _sgd = new();

    [Params(10, 20)]
    public int Components { get; set; }

    /// <summary>1: one layer on one thread; 2: its components split into two halves on two threads (ParallelAverageLayer).</summary>
    [Params(1, 2)]
    public int Parts { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Xoshiro256StarStar(1);
        var layer = GaussianMixtureLayer.Initialize(rng, Components, Pixels, Logits);
        _net = Parts == 1 ? new Sequential(layer) : new Sequential(ParallelAverageLayer.Split(layer, Parts));
        rng.FillStandardNormal(_x);
        for (int b = 0; b < Batch; b++) _labels[b] = rng.NextInt(Logits + 1);
    }

    [Benchmark]
    public double TrainingStep()
    {
        double loss = ZeroLogitLoss.LossAndGradient(_net.Forward(_x, Batch), _labels, Logits, _gradient);
        _net.Backward(_gradient);
        Sgd.Step(_net, _sgd);
        return loss;
    }
}
