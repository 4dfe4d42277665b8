using Wasserflow.Data;
using Wasserflow.NeuralNetworks;
using Wasserflow.Randomness;

namespace Wasserflow.Tests.NeuralNetworks;

public class NetworkTests
{
    // Central differences of Σ g ⊙ net(x) (or of the loss) against the backward pass, for every parameter.
    private static void AssertGradientsMatch(Sequential net, Func<double> objective, Action backward, double[]? input = null, double[]? inputGradient = null)
    {
        objective();
        backward();
        var blocks = net.Parameters.Select(p => (p.Name, p.Values, (double[])p.Gradient.Clone())).ToList();
        if (input is not null) blocks.Add(("x", input, inputGradient!));
        TestSupport.AssertBackwardMatchesFiniteDifferences(blocks, objective);
    }

    [Fact]
    public void Fully_connected_backward_matches_finite_differences_with_bias_relu_and_scale()
    {
        const int b = 7, d = 13, o = 6;
        var rng = new Xoshiro256StarStar(3);
        var layer = new FullyConnectedLayer(d, o, bias: true, relu: true, outputScale: 0.37);
        rng.FillStandardNormal(layer.Weight);
        rng.FillStandardNormal(layer.Bias);
        double[] x = new double[b * d], g = new double[b * o], y = new double[b * o], gx = new double[b * d];
        rng.FillStandardNormal(x);
        rng.FillStandardNormal(g);
        var net = new Sequential(layer);
        double Objective()
        {
            layer.Forward(x, b, y);
            return y.Select((v, i) => v * g[i]).Sum();
        }
        AssertGradientsMatch(net, Objective, () => layer.Backward(g, gx), x, gx);
        Assert.Contains(y, v => v == 0); // some units are off, so the ReLU mask is exercised
    }

    [Fact]
    public void Stacked_gm_layers_with_unit_norm_backpropagate_the_loss_exactly()
    {
        // GM(13 → 5, K = 3) → z = h/‖h‖ → GM(5 → 2, K = 2) → zero-logit loss over 3 classes (spec §9.5).
        const int b = 6, d = 13;
        var rng = new Xoshiro256StarStar(8);
        var first = GaussianMixtureLayer.Initialize(rng, 3, d, 5);
        var second = GaussianMixtureLayer.Initialize(rng, 2, 5, 2);
        // Random σ of both signs in both layers, so every σ-dependent term of the input gradient matters.
        foreach (var layer in new[] { first, second })
            for (int i = 0; i < layer.Sigma.Length; i++) layer.Sigma[i] = (0.2 + 0.6 * rng.NextDouble()) * (i % 3 == 0 ? -1 : 1);
        var net = new Sequential(first, new UnitNormLayer(5), second);
        var x = new double[b * d];
        rng.FillStandardNormal(x);
        int[] labels = [0, 1, 2, 2, 1, 0];
        var g = new double[b * 2];
        double Objective() => ZeroLogitLoss.LossAndGradient(net.Forward(x, b), labels, 2, g);
        AssertGradientsMatch(net, Objective, () => net.Backward(g));
    }

    [Fact]
    public void Unit_norm_outputs_have_norm_one_and_a_zero_row_stays_finite()
    {
        var layer = new UnitNormLayer(3);
        double[] h = [3, 4, 0, 0, 0, 0], z = new double[6], gz = [1, 2, 3, 1, 1, 1], gh = new double[6];
        layer.Forward(h, 2, z);
        Assert.Equal(0.6, z[0], 12);
        Assert.Equal(0.8, z[1], 12);
        layer.Backward(gz, gh);
        Assert.All(gh, v => Assert.True(double.IsFinite(v)));
        // The gradient is orthogonal to h (z is scale-invariant).
        Assert.Equal(0.0, 3 * gh[0] + 4 * gh[1], 12);
    }

    [Fact]
    public void Width_k_network_at_the_means_equals_a_gm_layer_with_zero_variances()
    {
        const int b = 5, d = 6, l = 4, k = 3;
        var rng = new Xoshiro256StarStar(4);
        var gm = GaussianMixtureLayer.Initialize(rng, k, d, l);
        Array.Clear(gm.Sigma);
        var x = new double[b * d];
        rng.FillStandardNormal(x);
        var h = new double[b * l];
        gm.Forward(x, b, h);
        var fc = MeanFieldNetwork.FromMeans(gm).Forward(x, b).ToArray();
        for (int i = 0; i < h.Length; i++) Assert.True(Math.Abs(h[i] - fc[i]) <= 1e-12 * (1 + Math.Abs(h[i])), $"h[{i}] {h[i]} vs width-K net {fc[i]}");
    }

    [Fact]
    public void Sampled_networks_are_unbiased_for_the_gm_layer_within_four_standard_errors()
    {
        const int b = 4, d = 6, l = 3, k = 3, neurons = 20, repeats = 2000;
        var rng = new Xoshiro256StarStar(5);
        var gm = GaussianMixtureLayer.Initialize(rng, k, d, l);
        var x = new double[b * d];
        rng.FillStandardNormal(x);
        var exact = new double[b * l];
        gm.Forward(x, b, exact);
        double[] sum = new double[b * l], sumSq = new double[b * l];
        for (int r = 0; r < repeats; r++)
        {
            ReadOnlySpan<double> h = MeanFieldNetwork.Sample(gm, neurons, rng).Forward(x, b);
            for (int i = 0; i < h.Length; i++) { sum[i] += h[i]; sumSq[i] += h[i] * h[i]; }
        }
        for (int i = 0; i < exact.Length; i++)
        {
            double mean = sum[i] / repeats, se = Math.Sqrt((sumSq[i] / repeats - mean * mean) / (repeats - 1));
            Assert.True(Math.Abs(mean - exact[i]) <= 4 * se, $"h[{i}]: exact {exact[i]}, Monte Carlo {mean} ± {se}");
        }
    }

    private static (LabeledData Train, LabeledData Test) Blobs(ulong seed, int perClass, int d = 8)
    {
        // Three Gaussian blobs with means 4·e_c, c = 0, 1, 2 (Bayes error about 0.5%).
        var rng = new Xoshiro256StarStar(seed);
        LabeledData Make(int n)
        {
            var x = new double[3 * n * d];
            var y = new int[3 * n];
            rng.FillStandardNormal(x);
            for (int i = 0; i < 3 * n; i++)
            {
                y[i] = i % 3;
                x[i * d + y[i]] += 4;
            }
            return new LabeledData(x, y, d, 3, "blobs");
        }
        return (Make(perClass), Make(perClass / 2));
    }

    private static ClassifierTrainer Trainer(LabeledData train, LabeledData test, int epochs, ulong initSeed = 1) =>
        new(new Sequential(GaussianMixtureLayer.Initialize(new Xoshiro256StarStar(initSeed), 3, train.Dimension, 2)), train, test,
            new TrainingOptions { Epochs = epochs, BatchSize = 16, Seed = 9 });

    [Fact]
    public void Training_learns_and_resuming_from_a_checkpoint_reproduces_the_uninterrupted_run_bit_for_bit()
    {
        var (train, test) = Blobs(1, 100);
        var whole = Trainer(train, test, 4);
        whole.Run();
        Assert.True(whole.History[^1].TestError < 0.05, $"test error {whole.History[^1].TestError} on separated blobs");
        Assert.True(whole.History[^1].TrainLoss < whole.History[0].TrainLoss);

        string dir = Path.Combine(Path.GetTempPath(), "wf-ckpt-" + Guid.NewGuid().ToString("N"));
        try
        {
            string checkpoint = Path.Combine(dir, "checkpoint.bin");
            var first = Trainer(train, test, 2);
            first.Run(checkpoint);
            // A different initialisation: everything must come from the checkpoint.
            var resumed = Trainer(train, test, 4, initSeed: 77);
            resumed.Resume(checkpoint);
            Assert.Equal(2, resumed.CompletedEpochs);
            resumed.Run(checkpoint);
            for (int e = 0; e < 4; e++)
            {
                Assert.Equal(whole.History[e].TrainLoss, resumed.History[e].TrainLoss);
                Assert.Equal(whole.History[e].TestLoss, resumed.History[e].TestLoss);
            }
            Assert.False(File.Exists(checkpoint + ".tmp"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_checkpoint_of_another_network_or_a_truncated_one_is_refused_with_the_file_named()
    {
        var (train, test) = Blobs(2, 20);
        string dir = Path.Combine(Path.GetTempPath(), "wf-ckpt-" + Guid.NewGuid().ToString("N"));
        try
        {
            string checkpoint = Path.Combine(dir, "c.bin");
            Trainer(train, test, 1).Run(checkpoint);
            var other = new ClassifierTrainer(new Sequential(GaussianMixtureLayer.Initialize(new Xoshiro256StarStar(1), 4, train.Dimension, 2)), train, test, new TrainingOptions { Epochs = 2, BatchSize = 16, Seed = 9 });
            var mismatch = Assert.Throws<DataFormatException>(() => other.Resume(checkpoint));
            Assert.Contains(checkpoint, mismatch.Message);
            // Same shapes, other data: refused too.
            var (otherTrain, _) = Blobs(5, 20);
            var otherData = new ClassifierTrainer(new Sequential(GaussianMixtureLayer.Initialize(new Xoshiro256StarStar(1), 3, train.Dimension, 2)), otherTrain, test, new TrainingOptions { Epochs = 2, BatchSize = 16, Seed = 9 });
            var dataMismatch = Assert.Throws<DataFormatException>(() => otherData.Resume(checkpoint));
            // Only the differing field is named: the data fingerprint, not the (equal) parameter shapes.
            Assert.Contains("in the checkpoint", dataMismatch.Message);
            Assert.Contains("data ", dataMismatch.Message);
            Assert.DoesNotContain("mu[", dataMismatch.Message);
            byte[] bytes = File.ReadAllBytes(checkpoint);
            File.WriteAllBytes(checkpoint, bytes[..(bytes.Length / 2)]);
            var fresh = Trainer(train, test, 2);
            var truncated = Assert.Throws<DataFormatException>(() => fresh.Resume(checkpoint));
            Assert.Contains("truncated", truncated.Message);
            Assert.Equal(0, fresh.CompletedEpochs);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Diverging_training_names_the_epoch_and_minibatch_and_bad_rates_are_refused()
    {
        var (train, test) = Blobs(3, 20);
        var net = new Sequential(GaussianMixtureLayer.Initialize(new Xoshiro256StarStar(1), 3, train.Dimension, 2));
        var trainer = new ClassifierTrainer(net, train, test, new TrainingOptions { Epochs = 50, BatchSize = 8, Sgd = new SgdOptions { LearningRate = 1e200 } });
        var ex = Assert.Throws<TrainingDivergedException>(() => trainer.Run());
        Assert.Matches("epoch \\d+, minibatch \\d+ of \\d+", ex.Message);
        Assert.Throws<ArgumentException>(() => new ClassifierTrainer(net, train, test, new TrainingOptions { Sgd = new SgdOptions { LearningRate = -1 } }));
        Assert.Throws<ArgumentException>(() => new ClassifierTrainer(new Sequential(GaussianMixtureLayer.Initialize(new Xoshiro256StarStar(1), 3, train.Dimension, 5)), train, test, new TrainingOptions()));
    }

    [Fact]
    public void Squared_loss_gradient_matches_finite_differences()
    {
        var rng = new Xoshiro256StarStar(31);
        double[] h = new double[12], y = new double[12], g = new double[12], scratch = new double[12];
        rng.FillStandardNormal(h);
        rng.FillStandardNormal(y);
        double loss = SquaredLoss.LossAndGradient(h, y, 4, 3, g);
        Assert.Equal(h.Zip(y).Sum(p => (p.First - p.Second) * (p.First - p.Second)) / 4, loss, 12);
        for (int i = 0; i < h.Length; i++)
        {
            double saved = h[i];
            h[i] = saved + 1e-6;
            double up = SquaredLoss.LossAndGradient(h, y, 4, 3, scratch);
            h[i] = saved - 1e-6;
            double down = SquaredLoss.LossAndGradient(h, y, 4, 3, scratch);
            h[i] = saved;
            Assert.True(Math.Abs((up - down) / 2e-6 - g[i]) < 1e-7, $"∂ℓ/∂h[{i}]: {g[i]} vs {(up - down) / 2e-6}");
        }
        y[5] = double.NaN;
        Assert.Contains("row 1", Assert.Throws<ArgumentException>(() => SquaredLoss.LossAndGradient(h, y, 4, 3, g)).Message);
    }

    [Fact]
    public void A_gm_layer_split_into_parts_computes_the_same_function_and_gradients()
    {
        const int b = 7, d = 11, l = 3, k = 6;
        var rng = new Xoshiro256StarStar(41);
        var layer = GaussianMixtureLayer.Initialize(rng, k, d, l);
        var x = new double[b * d];
        rng.FillStandardNormal(x);
        var g = new double[b * l];
        rng.FillStandardNormal(g);
        double[] h = new double[b * l], gx = new double[b * d], hs = new double[b * l], gxs = new double[b * d];
        layer.Forward(x, b, h);
        layer.Backward(g, gx);
        var split = ParallelAverageLayer.Split(layer, 3);
        split.Forward(x, b, hs);
        split.Backward(g, gxs);
        static void Close(double[] a, double[] e, string what)
        {
            for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - e[i]) <= 1e-13 * (1 + Math.Abs(e[i])), $"{what}[{i}]: {a[i]} vs {e[i]}");
        }
        Close(hs, h, "h");
        Close(gxs, gx, "∂ℓ/∂x");
        // Part s holds components 2s, 2s + 1: its gradient blocks are the matching slices of the whole layer's.
        foreach (string name in new[] { "mu", "sigma", "U", "v" })
        {
            double[] whole = layer.Parameters.Single(p => p.Name == name).Gradient;
            double[] parts = [.. split.Parts.SelectMany(part => part.Parameters.Single(p => p.Name == name).Gradient)];
            Close(parts, whole, name);
        }
        Assert.Throws<ArgumentException>(() => ParallelAverageLayer.Split(layer, 4));
    }

    [Fact]
    public void Parallel_average_backward_matches_finite_differences_and_sgd_updates_every_part()
    {
        const int b = 5, d = 6, o = 4;
        var rng = new Xoshiro256StarStar(43);
        var parts = Enumerable.Range(0, 3).Select(_ => FullyConnectedLayer.InitializeDefault(rng, d, o, relu: true)).ToArray();
        var average = new ParallelAverageLayer(parts);
        var net = new Sequential(average);
        double[] x = new double[b * d], g = new double[b * o], y = new double[b * o], gx = new double[b * d];
        rng.FillStandardNormal(x);
        rng.FillStandardNormal(g);
        double Objective()
        {
            average.Forward(x, b, y);
            return y.Select((v, i) => v * g[i]).Sum();
        }
        AssertGradientsMatch(net, Objective, () => average.Backward(g, gx), x, gx);
        var before = parts.Select(p => (double[])p.Weight.Clone()).ToArray();
        Sgd.Step(net, new SgdOptions());
        for (int s = 0; s < parts.Length; s++)
            for (int i = 0; i < before[s].Length; i++)
                Assert.Equal(before[s][i] - 0.1 * parts[s].Parameters[0].Gradient[i], parts[s].Weight[i], 15);
        Assert.Throws<ArgumentException>(() => new ParallelAverageLayer(parts[0], new FullyConnectedLayer(d, o + 1)));
    }
}
