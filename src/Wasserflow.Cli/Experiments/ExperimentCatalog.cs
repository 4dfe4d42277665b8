using System.Globalization;
using Wasserflow.Cli.Options;
using Wasserflow.NeuralNetworks;
using Wasserflow.Parameters;

namespace Wasserflow.Experiments;

/// <summary>The output folder of an experiment.</summary>
public sealed record ExperimentOutputSettings
{
    /// <summary>Output folder; null for runs/&lt;name&gt;.</summary>
    [Parameter("output folder", Alias = "-o", DefaultText = "runs/<name>", Recorded = false)]
    public string? Output { get; init; }

    /// <summary>Replace an existing output folder.</summary>
    [Parameter("replace an existing output folder (and discard the checkpoints of an interrupted run)", Recorded = false)]
    public bool Overwrite { get; init; }
}

/// <summary>The seed of an experiment whose runs are fixed by the paper.</summary>
public sealed record SeedSettings
{
    /// <summary>Seed of every run.</summary>
    [Parameter("seed of every run")]
    public ulong Seed { get; init; }
}

/// <summary>The settings of the mode-collapse experiment.</summary>
public sealed record ModeCollapseSettings
{
    /// <summary>Seed of every run.</summary>
    [Parameter("seed of every run")]
    public ulong Seed { get; init; }

    /// <summary>Restarts (and Langevin blocks) at the same time.</summary>
    [Parameter("restarts at the same time, one per thread (results do not depend on it)", Minimum = 1, Recorded = false)]
    public int Threads { get; init; } = 1;

    /// <summary>Continue an interrupted run from its checkpoints (every restart of every fit keeps one).</summary>
    [Parameter("continue an interrupted run from its checkpoints", Recorded = false)]
    public bool Resume { get; init; }
}

/// <summary>gm-components: which networks to train.</summary>
public sealed record ComponentListSettings
{
    /// <summary>The K of each network, comma-separated; null for the paper's.</summary>
    [Parameter("the K of each network, comma-separated", DefaultText = "5,10,20")]
    public string? Components { get; init; }

    /// <summary>"5,10,20" → [5, 10, 20]; null when not given. The range check is the network options' own.</summary>
    /// <exception cref="InvalidParameterException">An item is not a whole number.</exception>
    public IReadOnlyList<int>? Parse() => Components?.Split(',', StringSplitOptions.TrimEntries)
        .Select(item => int.TryParse(item, NumberStyles.Integer, CultureInfo.InvariantCulture, out int k)
            ? k : throw new InvalidParameterException(nameof(Components), $"'{item}' is not a whole number (expected a list such as 5,10,20)"))
        .ToList();
}

/// <summary>What an experiment may ask of the program running it: a log line, progress bars for training runs.</summary>
public interface IExperimentHost
{
    /// <summary>One progress line (stderr on the command line).</summary>
    void Log(string line);

    /// <summary>Runs <paramref name="body"/> with a progress sink per training run (by label; null for none).</summary>
    T Train<T>(Func<Func<string, IProgress<TrainingProgress>?>, T> body);
}

/// <summary>A named experiment: what it reproduces, the settings records it takes, and how it runs.</summary>
/// <param name="Name">The name, as on the command line.</param>
/// <param name="Description">One line: the paper's figure or table it reproduces.</param>
/// <param name="Settings">The options records of its settings (the output folder is added to every experiment).</param>
/// <param name="Run">Runs it from the bound settings; the folder is its working folder (checkpoints go to its "checkpoints" subfolder).</param>
public sealed record ExperimentDefinition(string Name, string Description, IReadOnlyList<Type> Settings,
    Func<BoundOptions, string, IExperimentHost, ExperimentOutput> Run);

/// <summary>Every named experiment, each with the settings it takes: the one place that decides which option an experiment has.</summary>
public static class ExperimentCatalog
{
    /// <summary>All experiments, in the order help lists them.</summary>
    public static IReadOnlyList<ExperimentDefinition> All { get; } =
    [
        new("logistic-laplace", "paper 002, Figures 6–9: Gaussian VI against Laplace on logistic regression", [typeof(SeedSettings)],
            (b, _, host) => BuresWassersteinExperiments.Run("logistic-laplace", b.Get<SeedSettings>().Seed, host.Log)),
        new("bimodal-particles", "paper 002, Figures 5, 10, 11: one Gaussian and 20 particles on a bimodal target", [typeof(SeedSettings)],
            (b, _, host) => BuresWassersteinExperiments.Run("bimodal-particles", b.Get<SeedSettings>().Seed, host.Log)),
        new("mixture-particles", "paper 002, Figures 13–15: particle mixtures with uniform and WFR weights", [typeof(SeedSettings)],
            (b, _, host) => BuresWassersteinExperiments.Run("mixture-particles", b.Get<SeedSettings>().Seed, host.Log)),
        new("mode-collapse", "paper 003, Figure 3: MFVI, RoVI and Langevin on seven settings", [typeof(ModeCollapseSettings)],
            (b, folder, host) => ModeCollapseExperiments.Run("mode-collapse", b.Get<ModeCollapseSettings>().Seed, b.Get<ModeCollapseSettings>().Threads, host.Log,
                new Running.CheckpointStore(Path.Combine(folder, "checkpoints")))),
        new("dimension-scaling", "paper 000, Figure 2: time per iteration and KL against dimension, IBW against the full-covariance BW mixture flow", [typeof(DimensionScalingSettings)],
            (b, _, host) => DimensionScalingExperiment.Run(b.Get<DimensionScalingSettings>(), host.Log)),
        new("figure-1-fits", "paper 000, Figure 1 (bottom): IBW, GD and the BW mixture flow with N = 10 beside a RealNVP normalizing flow, KL and wall time", [typeof(FigureOneFitsSettings)],
            (b, _, host) => FigureOneFitsExperiment.Run(b.Get<FigureOneFitsSettings>(), host.Log)),
        new("posteriors", "paper 000, Figures 4 and 10: BLR breast_cancer and softmax wine by IBW, MD, NGD and Gaussian particles, beside ADVI and NUTS", [typeof(PosteriorsSettings)],
            (b, _, host) => PosteriorsExperiment.Run(b.Get<PosteriorsSettings>(), host.Log)),
        new("bnn-images", "paper 000, Appendix E.5.1: the mean-field mixture BNN on images (d = 203,530) by IBW and MD, beside ADVI and SGD", [typeof(ImageBnnSettings)],
            (b, _, host) => ImageBnnExperiment.Run(b.Get<ImageBnnSettings>(), host.Log)),
        new("posteriordb", "benchmark: every posteriordb posterior × method, scored against the reference draws", [typeof(PosteriorDbBenchmarkSettings)],
            (b, _, host) => PosteriorDbBenchmark.Run(b.Get<PosteriorDbBenchmarkSettings>(), host.Log)),
        Network("gm-components", "paper 004, Figure 2: GM layers with K = 5, 10, 20", typeof(ComponentListSettings)),
        Network("gm-baselines", "paper 004, Figure 3: GM layer against FC networks"),
        Network("gm-fixed-beta", "paper 004, Figure 5: training with the β-marginal fixed"),
        Network("gm-monte-carlo", "paper 004, Figure 6: a trained layer reduced to sampled FC networks"),
        Network("gm-stacked", "paper 004, Figure 7: two stacked GM layers"),
        Network("gm-dynamics", "paper 004, Figure 4: the components on the top-2 principal directions"),
        Network("gm-regression", "paper 004, Appendix A: the exact BW flow of full-covariance components on a regression"),
    ];

    private static ExperimentDefinition Network(string name, string description, params Type[] extra) =>
        new(name, description, [typeof(NetworkExperimentOptions), .. extra], (b, folder, host) =>
        {
            var options = b.Get<NetworkExperimentOptions>() with
            {
                CheckpointFolder = Path.Combine(folder, "checkpoints"),
                Components = extra.Contains(typeof(ComponentListSettings)) ? b.Get<ComponentListSettings>().Parse() : null,
            };
            options.Validate();
            return host.Train(progressFor => NetworkExperiments.Run(name, options, progressFor, host.Log));
        });
}
