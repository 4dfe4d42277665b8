using System.CommandLine;
using System.Globalization;
using Wasserflow.Experiments;
using Wasserflow.Reports;
using Wasserflow.Running;

namespace Wasserflow.Cli;

/// <summary>
/// The `wasserflow` command line: parse, validate, call the library, write results. Exit codes: 0 success, 1 the run
/// failed (its result is still written, with the reason), 2 bad input (one line on stderr, nothing written).
/// </summary>
public static class WasserflowCli
{
    /// <summary>Exit code for bad input.</summary>
    public const int BadInput = 2;

    /// <summary>Exit code for a run that stopped with an error (diverged update, non-finite target).</summary>
    public const int RunFailed = 1;

    /// <summary>Runs the CLI in-process with the given writers (tests use this).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error, bool interactive = false)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        var root = new RootCommand("Wasserflow: variational inference by Wasserstein gradient flows.");
        root.Subcommands.Add(FitCommand(output, error, interactive));
        root.Subcommands.Add(RoviCommand(output, error));
        root.Subcommands.Add(DemoCommand(output, error, interactive));
        root.Subcommands.Add(ExperimentCommand(output, error, interactive));
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            error.WriteLine($"error: {parsed.Errors[0].Message}");
            return BadInput;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (ConfigException ex)
        {
            error.WriteLine($"error: {ex.Message}");
            return BadInput;
        }
        catch (IOException ex)
        {
            error.WriteLine($"error: {ex.Message}");
            return BadInput;
        }
        catch (Exception ex) when (ex is Data.DataFetchException or Data.DataFormatException)
        {
            error.WriteLine($"error: {ex.Message}");
            return BadInput;
        }
        catch (NeuralNetworks.TrainingDivergedException ex)
        {
            error.WriteLine($"error: {ex.Message} (checkpoints up to the last finished epoch are kept; lower the learning rates)");
            return RunFailed;
        }
    }

    // The options that name and shape a target, shared by `fit` and `rovi`.
    private sealed record TargetOptions(
        Option<string?> Target, Option<int?> Dimension, Option<int?> TargetComponents, Option<double?> TargetSpread,
        Option<double?> TargetScale, Option<string?> TargetCovariance, Option<ulong?> TargetSeed, Option<double?> FunnelVariance,
        Option<double[]?> Skew, Option<int?> Points, Option<double?> Separation, Option<double?> PriorPrecision)
    {
        public static TargetOptions Create() => new(
                new Option<string?>("--target") { Description = "gmm (random Gaussian mixture, paper 000 App. E.2), funnel, sinh-arcsinh, bimodal, four-modes, logistic (paper 002 App. I)" },
                new Option<int?>("--dimension", "-d") { Description = "dimension d (default 2)" },
                new Option<int?>("--target-components") { Description = "gmm: number of target components (default 5)" },
                new Option<double?>("--target-spread") { Description = "gmm: target means uniform in [-s_tg, s_tg]^d (default 8)" },
                new Option<double?>("--target-scale") { Description = "gmm: covariance scale r_tg (default 5)" },
                new Option<string?>("--target-covariance") { Description = "gmm: isotropic, diagonal or full (default full)" },
                new Option<ulong?>("--target-seed") { Description = "gmm: seed of the random target (default 1)" },
                new Option<double?>("--funnel-variance") { Description = "funnel: variance of x1 (default 1.2)" },
                new Option<double[]?>("--skew") { Description = "sinh-arcsinh: two skews (default -0.2 -0.2)", AllowMultipleArgumentsPerToken = true },
                new Option<int?>("--points") { Description = "logistic: data points n (default 10)" },
                new Option<double?>("--separation") { Description = "logistic: class separation s (default 1.5)" },
                new Option<double?>("--prior-precision") { Description = "logistic: precision of a N(0, I/λ) prior (default 0: flat)" });

        public Option[] All => [Target, Dimension, TargetComponents, TargetSpread, TargetScale, TargetCovariance, TargetSeed, FunnelVariance, Skew, Points, Separation, PriorPrecision];

        public FitConfig Apply(ParseResult parse, FitConfig config) => config with
        {
            Target = parse.GetValue(Target) ?? config.Target,
            Dimension = parse.GetValue(Dimension) ?? config.Dimension,
            TargetComponents = parse.GetValue(TargetComponents) ?? config.TargetComponents,
            TargetSpread = parse.GetValue(TargetSpread) ?? config.TargetSpread,
            TargetScale = parse.GetValue(TargetScale) ?? config.TargetScale,
            TargetCovariance = parse.GetValue(TargetCovariance) ?? config.TargetCovariance,
            TargetSeed = parse.GetValue(TargetSeed) ?? config.TargetSeed,
            FunnelVariance = parse.GetValue(FunnelVariance) ?? config.FunnelVariance,
            Skew = parse.GetValue(Skew) is { Length: > 0 } skew ? skew : config.Skew, // an option without values parses as [], not null
            Points = parse.GetValue(Points) ?? config.Points,
            Separation = parse.GetValue(Separation) ?? config.Separation,
            PriorPrecision = parse.GetValue(PriorPrecision) ?? config.PriorPrecision,
        };
    }

    private sealed record FitOptions(
        Option<string?> Config, TargetOptions Targets, Option<string?> Expectation,
        Option<int?> Components, Option<string?> Algorithm, Option<double?> StepSize, Option<long?> Iterations,
        Option<int?> Samples, Option<int?> KlSamples, Option<int?> KlEvery, Option<double?> InitSpread, Option<double?> InitVariance,
        Option<ulong?> Seed, Option<int?> Threads, Option<string?> Output, Option<bool> NoStepControl);

    private static Command FitCommand(TextWriter output, TextWriter error, bool interactive)
    {
        var o = new FitOptions(
            new Option<string?>("--config") { Description = "JSON file with any of the settings below (camelCase keys); flags override it" },
            TargetOptions.Create(),
            new Option<string?>("--expectation") { Description = "bw algorithms: cubature or mc (B = --samples draws) (default cubature)" },
            new Option<int?>("--components", "-n") { Description = "N, components of the variational mixture (default 5)" },
            new Option<string?>("--algorithm", "-a") { Description = "ibw, md, gd, ngd (isotropic mixtures); bw, bw-euler, bw-wfr, bw-sgd (full-covariance Gaussian particles) (default ibw)" },
            new Option<double?>("--step-size") { Description = "step size γ > 0 (default 0.1)" },
            new Option<long?>("--iterations") { Description = "iterations (default 10000)" },
            new Option<int?>("--samples") { Description = "B, gradient draws per component (default 10)" },
            new Option<int?>("--kl-samples") { Description = "B_KL, draws per KL estimate (default 1000)" },
            new Option<int?>("--kl-every") { Description = "estimate the KL every k iterations (default 100)" },
            new Option<double?>("--init-spread") { Description = "initial means uniform in [-s, s]^d (default 15)" },
            new Option<double?>("--init-variance") { Description = "initial variance r of every component (default 2)" },
            new Option<ulong?>("--seed") { Description = "seed of the run (default 0)" },
            new Option<int?>("--threads") { Description = "threads (default 1; results do not depend on it)" },
            new Option<string?>("--output", "-o") { Description = "output folder (default runs/fit)" },
            new Option<bool>("--no-step-control") { Description = "isotropic algorithms: the raw update, without halving a component's step on extreme draws" });
        var command = new Command("fit", "Fit a mixture of isotropic Gaussians (IBW, MD, GD, NGD) or of full-covariance Gaussians (Bures–Wasserstein flows) to a target.");
        foreach (Option option in new Option[] { o.Config }.Concat(o.Targets.All).Concat(new Option[] { o.Expectation, o.Components, o.Algorithm, o.StepSize, o.Iterations, o.Samples,
            o.KlSamples, o.KlEvery, o.InitSpread, o.InitVariance, o.Seed, o.Threads, o.Output, o.NoStepControl }))
            command.Options.Add(option);
        command.SetAction(parse =>
        {
            var config = new FitConfig();
            string? configPath = parse.GetValue(o.Config);
            if (configPath is not null) config = FitConfig.Load(configPath, config);
            config = o.Targets.Apply(parse, config) with
            {
                Expectation = (parse.GetValue(o.Expectation) ?? config.Expectation).ToLowerInvariant(),
                Components = parse.GetValue(o.Components) ?? config.Components,
                Algorithm = (parse.GetValue(o.Algorithm) ?? config.Algorithm).ToLowerInvariant(),
                StepSize = parse.GetValue(o.StepSize) ?? config.StepSize,
                Iterations = parse.GetValue(o.Iterations) ?? config.Iterations,
                Samples = parse.GetValue(o.Samples) ?? config.Samples,
                KlSamples = parse.GetValue(o.KlSamples) ?? config.KlSamples,
                KlEvery = parse.GetValue(o.KlEvery) ?? config.KlEvery,
                InitSpread = parse.GetValue(o.InitSpread) ?? config.InitSpread,
                InitVariance = parse.GetValue(o.InitVariance) ?? config.InitVariance,
                Seed = parse.GetValue(o.Seed) ?? config.Seed,
                Threads = parse.GetValue(o.Threads) ?? config.Threads,
                Output = parse.GetValue(o.Output) ?? config.Output,
                StepControl = !parse.GetValue(o.NoStepControl) && config.StepControl,
            };
            config.Validate();
            AtomicFiles.EnsureWritable(config.Output);
            if (config.IsBuresWasserstein)
            {
                GaussianFitOutcome bw = Progress.Run(interactive, error, [config], (observer, c) => GaussianFitRun.Run(c, observer))[0];
                AtomicFiles.WriteAll(config.Output, GaussianFitRun.Files(bw));
                string kl = string.Create(CultureInfo.InvariantCulture, $"{bw.FinalKl.Value:G4} ± {bw.FinalKl.StandardError:G2}");
                output.WriteLine($"{config.Algorithm} K={config.Components} {bw.Result.Status.ToString().ToLowerInvariant()} iterations {bw.Result.FinalState.Iteration}  " +
                    $"{(bw.FinalKl.IsExact ? "KL" : "KL − log Z")} {kl}");
                if (bw.Result.Message is not null) error.WriteLine($"error: {bw.Result.Message}");
                output.WriteLine($"report: {Path.Combine(config.Output, "report.html")}");
                return bw.Result.Status == RunStatus.Completed ? 0 : RunFailed;
            }
            FitOutcome outcome = Progress.Run(interactive, error, [config], (observer, c) => FitRun.Run(c, observer))[0];
            AtomicFiles.WriteAll(config.Output, FitRun.Files(outcome));
            return Summarise(output, error, [outcome], config.Output);
        });
        return command;
    }

    private static Command RoviCommand(TextWriter output, TextWriter error)
    {
        var targets = TargetOptions.Create();
        var meanField = new Option<bool>("--mean-field") { Description = "polyhedral MFVI: keep the rotation at O = I" };
        var restarts = new Option<int>("--restarts", "-r") { Description = "independent restarts; the lowest F̂ is reported (default 8)", DefaultValueFactory = _ => 8 };
        var iterations = new Option<int>("--iterations") { Description = "iteration cap T (default 3000; the window rule may stop earlier)", DefaultValueFactory = _ => 3000 };
        var fixedIterations = new Option<bool>("--no-early-stop") { Description = "run every restart for --iterations iterations" };
        var batch = new Option<int>("--batch") { Description = "Monte Carlo draws N per iteration (default 1000)", DefaultValueFactory = _ => 1000 };
        var stepSize = new Option<double>("--step-size") { Description = "τ of the forward–backward step and of v (default 0.01)", DefaultValueFactory = _ => 0.01 };
        var rotationStep = new Option<double>("--rotation-step") { Description = "η_O, the rotation's step (default 0.01)", DefaultValueFactory = _ => 0.01 };
        var dictionary = new Option<string>("--dictionary") { Description = "q40s (40 Gaussian-quantile ramps + midpoint steps), q40 (ramps only), u29 ([18]'s uniform ramps), u29s (default q40s)", DefaultValueFactory = _ => "q40s" };
        var initSpread = new Option<double>("--init-spread") { Description = "initial offsets v₀ ~ N(0, s²I) (default 2)", DefaultValueFactory = _ => 2 };
        var initCenter = new Option<double[]?>("--init-center") { Description = "centre of rotation c, d numbers: z = c + O·T(x), restarts start around it (default the origin); a rough guess of the target's mean helps", AllowMultipleArgumentsPerToken = true };
        var langevinStart = new Option<bool>("--langevin-start") { Description = "start from short Langevin chains: their mean as the centre, their principal directions as the first rotation, with --init-spread 0 and --init-scale 5 unless given (ours; docs/experiments.md)" };
        var initScale = new Option<double>("--init-scale") { Description = "slope s₀ of the initial maps, μ₀ = N(O v₀, s₀²I) (default 1; 5 makes multimodal fits far more reliable, docs/experiments.md)", DefaultValueFactory = _ => 1 };
        var seed = new Option<ulong>("--seed") { Description = "seed of the run (default 0)", DefaultValueFactory = _ => 0 };
        var threads = new Option<int>("--threads") { Description = "restarts run at once (default 1; results do not depend on it)", DefaultValueFactory = _ => 1 };
        var outputOption = new Option<string>("--output", "-o") { Description = "output folder (default runs/rovi)", DefaultValueFactory = _ => "runs/rovi" };
        var command = new Command("rovi", "Mean-field VI through polyhedral transport maps, or rotational VI against mode collapse (paper 003), on a target.");
        foreach (Option option in targets.All.Concat(new Option[] { meanField, restarts, iterations, fixedIterations, batch, stepSize, rotationStep, dictionary, initSpread, initCenter, initScale, langevinStart, seed, threads, outputOption }))
            command.Options.Add(option);
        command.SetAction(parse =>
        {
            string folder = parse.GetValue(outputOption)!;
            FitConfig config = targets.Apply(parse, new FitConfig { Output = folder });
            config.Validate();
            var family = parse.GetValue(dictionary)!.ToLowerInvariant() switch
            {
                "q40s" => Families.PolyhedralDictionary.GaussianQuantile(),
                "q40" => Families.PolyhedralDictionary.GaussianQuantile(steps: false),
                "u29" => Families.PolyhedralDictionary.Uniform(),
                "u29s" => Families.PolyhedralDictionary.Uniform(steps: true),
                string other => throw new ConfigException($"dictionary: unknown dictionary '{other}'; expected q40s, q40, u29 or u29s"),
            };
            var options = new Flows.RotationalViOptions
            {
                Dictionary = family,
                Rotate = !parse.GetValue(meanField),
                Restarts = parse.GetValue(restarts),
                MaxIterations = parse.GetValue(iterations),
                StopEarly = !parse.GetValue(fixedIterations),
                BatchSize = parse.GetValue(batch),
                StepSize = parse.GetValue(stepSize),
                RotationStepSize = parse.GetValue(rotationStep),
                InitialSpread = parse.GetValue(initSpread),
                InitialScale = parse.GetValue(initScale),
                InitialCenter = parse.GetValue(initCenter) is { Length: > 0 } center ? center : null,
                Seed = parse.GetValue(seed),
                Threads = parse.GetValue(threads),
            };
            Targets.ITarget target = config.BuildTarget();
            if (target is Targets.ITargetWithPropriety propriety && !propriety.CheckProper(out string? reason))
                throw new ConfigException($"target: {reason}");
            if (parse.GetValue(langevinStart))
            {
                if (parse.GetResult(initCenter) is { Implicit: false })
                    throw new ConfigException("--langevin-start: sets the centre itself; drop --init-center");
                var (startCenter, startRotation) = Flows.RotationalVi.LangevinStart(target, Randomness.Xoshiro256StarStar.Mix(options.Seed, 99), threads: options.Threads);
                options = options with
                {
                    InitialCenter = startCenter,
                    InitialRotation = options.Rotate ? startRotation : null,
                    InitialSpread = parse.GetResult(initSpread) is { Implicit: false } ? options.InitialSpread : 0,
                    InitialScale = parse.GetResult(initScale) is { Implicit: false } ? options.InitialScale : 5,
                };
            }
            AtomicFiles.EnsureWritable(folder);
            RotationalFitOutcome outcome;
            try
            {
                outcome = RotationalFitRun.Run(target, options);
            }
            catch (ArgumentException ex)
            {
                throw new ConfigException(ex.Message);
            }
            catch (Targets.TargetEvaluationException ex)
            {
                error.WriteLine($"error: {ex.Message} (nothing written)");
                return RunFailed;
            }
            AtomicFiles.WriteAll(folder, RotationalFitRun.Files(outcome));
            var best = outcome.Result.Best;
            string quantity = target.LogNormalizer == 0 ? "KL" : "KL − log Z";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{(options.Rotate ? "RoVI" : "MFVI")} best of {options.Restarts} restarts: restart {best.Index}, {quantity} {best.FreeEnergy:G4} ± {best.StandardError:G2}, {best.Iterations} iterations"));
            foreach (string warning in best.Warnings) error.WriteLine($"warning: {warning}");
            output.WriteLine($"report: {Path.Combine(folder, "report.html")}");
            return 0;
        });
        return command;
    }

    private static Command DemoCommand(TextWriter output, TextWriter error, bool interactive)
    {
        var outputOption = new Option<string>("--output", "-o") { Description = "output folder", DefaultValueFactory = _ => "runs/demo" };
        var iterations = new Option<long>("--iterations") { Description = "iterations per run (paper: 10000)", DefaultValueFactory = _ => 10_000 };
        var seed = new Option<ulong>("--seed") { Description = "seed of every run", DefaultValueFactory = _ => 0 };
        var threads = new Option<int>("--threads") { Description = "threads per run", DefaultValueFactory = _ => 1 };
        var command = new Command("demo", "Reproduce paper 000 Figure 1 (2-D mixture of 5 Gaussians; IBW and MD; N = 1, 5, 10, 20) and write a report.");
        command.Options.Add(outputOption);
        command.Options.Add(iterations);
        command.Options.Add(seed);
        command.Options.Add(threads);
        command.SetAction(parse =>
        {
            string folder = parse.GetValue(outputOption)!;
            long its = parse.GetValue(iterations);
            if (its < 1) throw new ConfigException($"iterations: must be ≥ 1, got {its}");
            var configs = FigureOneDemo.Configs(folder, its, parse.GetValue(seed), parse.GetValue(threads));
            foreach (var c in configs) c.Validate();
            AtomicFiles.EnsureWritable(folder);
            var outcomes = Progress.Run(interactive, error, configs, (observer, c) => FitRun.Run(c, observer));
            AtomicFiles.WriteAll(folder, FigureOneDemo.Files(outcomes, folder));
            return Summarise(output, error, outcomes, folder);
        });
        return command;
    }

    // "5,10,20" → [5, 10, 20]; the range check is the options' own.
    private static int[] ParseComponents(string list) =>
        [.. list.Split(',', StringSplitOptions.TrimEntries).Select(item => int.TryParse(item, NumberStyles.Integer, CultureInfo.InvariantCulture, out int k)
            ? k : throw new ConfigException($"components: '{item}' is not a whole number (expected a list such as 5,10,20)"))];

    private static Command ExperimentCommand(TextWriter output, TextWriter error, bool interactive)
    {
        var all = BuresWassersteinExperiments.Names.Concat(ModeCollapseExperiments.Names).Concat(NetworkExperiments.Names).ToList();
        var name = new Argument<string>("name") { Description = "experiment: " + string.Join(", ", all) };
        var outputOption = new Option<string?>("--output", "-o") { Description = "output folder (default runs/<name>)" };
        var seed = new Option<ulong>("--seed") { Description = "seed of every run", DefaultValueFactory = _ => 0 };
        var dataset = new Option<string?>("--dataset") { Description = "gm-* only: " + string.Join(", ", NetworkExperimentOptions.DatasetNames) + " (default fashion-mnist)" };
        var data = new Option<string?>("--data") { Description = "gm-* only: folder with the data files instead of fetching them" };
        var epochs = new Option<int?>("--epochs") { Description = "gm-* only: epochs per run (default: the experiment's)" };
        var seeds = new Option<int?>("--seeds") { Description = "gm-* only: runs per network for error bars (default 1; the paper: 5)" };
        var trainLimit = new Option<int?>("--train-limit") { Description = "gm-* only: use the first N training images" };
        var threads = new Option<int?>("--threads") { Description = "gm-* and mode-collapse only: runs (networks × seeds, or restarts) at the same time, one per thread (default 1; results do not depend on it)" };
        var parts = new Option<int?>("--parts") { Description = "gm-* only: split each GM layer's components into N parts trained on N threads (default 1)" };
        var resume = new Option<bool>("--resume") { Description = "gm-* only: continue each run from its checkpoint in <output>/checkpoints" };
        var components = new Option<string?>("--components") { Description = "gm-components only: the K of each network, comma-separated (default 5,10,20)" };
        var command = new Command("experiment", "Run a named experiment of the papers and write its report (numbers beside the paper's).");
        command.Arguments.Add(name);
        foreach (Option option in new Option[] { outputOption, seed, dataset, data, epochs, seeds, trainLimit, threads, parts, resume, components }) command.Options.Add(option);
        command.SetAction(parse =>
        {
            string experiment = parse.GetValue(name)!.ToLowerInvariant();
            if (!all.Contains(experiment))
                throw new ConfigException($"experiment: unknown name '{experiment}'; expected one of {string.Join(", ", all)}");
            string folder = parse.GetValue(outputOption) ?? Path.Combine("runs", experiment);
            bool network = NetworkExperiments.Names.Contains(experiment), modeCollapse = ModeCollapseExperiments.Names.Contains(experiment);
            if (!network)
            {
                foreach (Option option in new Option[] { dataset, data, epochs, seeds, trainLimit, threads, parts, resume, components })
                    if (parse.GetResult(option) is { Implicit: false } && !(modeCollapse && option == threads))
                        throw new ConfigException($"{option.Name}: applies only to the gm-* experiments{(option == threads ? " and mode-collapse" : "")}, not to '{experiment}'");
            }
            AtomicFiles.EnsureWritable(folder);
            ExperimentOutput result;
            if (network)
            {
                var options = new NetworkExperimentOptions
                {
                    Dataset = parse.GetValue(dataset) ?? "fashion-mnist",
                    DataFolder = parse.GetValue(data),
                    Epochs = parse.GetValue(epochs),
                    Seeds = parse.GetValue(seeds) ?? 1,
                    TrainLimit = parse.GetValue(trainLimit),
                    Threads = parse.GetValue(threads) ?? 1,
                    Parts = parse.GetValue(parts) ?? 1,
                    Seed = parse.GetValue(seed),
                    CheckpointFolder = Path.Combine(folder, "checkpoints"),
                    Resume = parse.GetValue(resume),
                    Components = parse.GetValue(components) is { } list ? ParseComponents(list) : null,
                };
                options.Validate();
                result = Progress.Train(interactive, sink => NetworkExperiments.Run(experiment, options, sink, line => error.WriteLine(line)));
            }
            else if (modeCollapse)
            {
                int count = parse.GetValue(threads) ?? 1;
                if (count < 1) throw new ConfigException($"threads: must be ≥ 1 (got {count})");
                result = ModeCollapseExperiments.Run(experiment, parse.GetValue(seed), count, line => error.WriteLine(line));
            }
            else
            {
                result = BuresWassersteinExperiments.Run(experiment, parse.GetValue(seed), line => error.WriteLine(line));
            }
            AtomicFiles.WriteAll(folder, result.Files);
            foreach (string line in result.Summary) output.WriteLine(line);
            output.WriteLine($"report: {Path.Combine(folder, "report.html")}");
            return 0;
        });
        return command;
    }

    private static int Summarise(TextWriter output, TextWriter error, IReadOnlyList<FitOutcome> outcomes, string folder)
    {
        foreach (var o in outcomes)
        {
            string kl = string.Create(CultureInfo.InvariantCulture, $"{o.FinalKl.Value:G4} ± {o.FinalKl.StandardError:G2}");
            output.WriteLine($"{o.Config.Algorithm.ToUpperInvariant(),-4} N={o.Config.Components,-3} {o.Result.Status.ToString().ToLowerInvariant(),-9} " +
                             $"iterations {o.Result.FinalState.Iteration,6}  {(o.FinalKl.IsExact ? "KL" : "KL − log Z")} {kl}");
            if (o.Result.Message is not null) error.WriteLine($"error: {o.Result.Message}");
        }
        output.WriteLine($"report: {Path.Combine(folder, "report.html")}");
        return outcomes.All(o => o.Result.Status == RunStatus.Completed) ? 0 : RunFailed;
    }
}
