using System.CommandLine;
using System.CommandLine.Help;
using System.Globalization;
using Wasserflow.Cli.Options;
using Wasserflow.Data;
using Wasserflow.Experiments;
using Wasserflow.NeuralNetworks;
using Wasserflow.Parameters;
using Wasserflow.Reports;
using Wasserflow.Running;
using Wasserflow.Targets;

namespace Wasserflow.Cli;

/// <summary>
/// The `wasserflow` command line: parse, bind each command's options records, call the library, write results. Exit
/// codes: 0 success (also "completed with warnings"), 1 the run failed (its result is still written, with the reason),
/// 2 bad input (one line on stderr, nothing written), 130 cancelled (Ctrl-C: the result so far and a checkpoint are kept).
/// </summary>
public static class WasserflowCli
{
    /// <summary>The program's name in help and messages: the dotnet tool's command.</summary>
    public const string ProgramName = "wasserflow";

    /// <summary>Exit code for bad input.</summary>
    public const int BadInput = 2;

    /// <summary>Exit code for a run that stopped with an error (diverged update, non-finite target).</summary>
    public const int RunFailed = 1;

    /// <summary>Exit code for a run cancelled by Ctrl-C (128 + SIGINT, as shells report it).</summary>
    public const int Cancelled = 130;

    /// <summary>Runs the CLI in-process with the given writers (tests use this); <paramref name="cancellation"/> acts as Ctrl-C.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error, bool interactive = false, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        var cli = new Commands(output, error, interactive, cancellation);
        Command root = cli.Root();
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            error.WriteLine($"error: {ParseErrors.Describe(parsed)}");
            return BadInput;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex) when (cli.Describe(ex) is { } message)
        {
            cli.Folder?.Abandon();
            error.WriteLine($"error: {message}");
            if (Environment.GetEnvironmentVariable("WASSERFLOW_TRACE") == "1") error.WriteLine(ex); // for bug reports
            return ex is TrainingDivergedException ? RunFailed : BadInput;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            error.WriteLine(cli.Folder is { } f
                ? $"cancelled; the checkpoints are in '{f.CheckpointFolder}': run the same command with --resume to continue"
                : "cancelled");
            return Cancelled;
        }
    }

    /// <summary>The root command with every subcommand (help and tests read it).</summary>
    public static Command Root() => new Commands(TextWriter.Null, TextWriter.Null, false, default).Root();

    // The commands, the writers they print to, and the options of the command being run (so one handler can name a bad
    // setting as the user wrote it).
    private sealed class Commands(TextWriter output, TextWriter error, bool interactive, CancellationToken cancellation) : IExperimentHost
    {
        private CommandOptions? _options;
        private BoundOptions? _bound;

        // The output of the command being run (abandoned on bad input, named on cancellation).
        public RunFolder? Folder { get; private set; }

        // A plain command named "wasserflow" (a RootCommand takes the executable's file name, "Wasserflow.Cli" under
        // `dotnet run`), with the help and version options a root command has.
        public Command Root()
        {
            var root = new Command(ProgramName, "Wasserflow: variational inference by Wasserstein gradient flows.\n\nExamples:\n"
                + "  wasserflow demo\n  wasserflow fit --target funnel -a ibw -n 10\n  wasserflow fit --target logistic -d 10 --points 50 -a bw -n 1\n"
                + "  wasserflow rovi --target bimodal --restarts 4\n  wasserflow experiment gm-components --epochs 3 --train-limit 2000")
            {
                Options = { new HelpOption(), new VersionOption() },
            };
            root.Subcommands.Add(Command("fit", "Fit a mixture of isotropic Gaussians (IBW, MD, GD, NGD) or of full-covariance Gaussians (Bures–Wasserstein flows) to a target.\n\nExamples:\n"
                + "  wasserflow fit --target gmm -n 20 -a ibw --iterations 10000 -o runs/fit\n  wasserflow fit --target funnel -n 20 -a md --step-size 0.01 --init-spread 5 --init-variance 0.5\n"
                + "  wasserflow fit --target four-modes -a bw-wfr -n 20 --iterations 300 --init-spread 4 --init-variance 0.5\n  wasserflow fit --config run.json --seed 4",
                new CommandOptions(config: true, typeof(TargetParameters), typeof(FitSettings), typeof(RunControlSettings)), Fit));
            root.Subcommands.Add(Command("rovi", "Mean-field VI through polyhedral transport maps, or rotational VI against mode collapse (paper 003), on a target.\n\nExamples:\n"
                + "  wasserflow rovi --target bimodal --threads 2\n  wasserflow rovi --target bimodal --mean-field\n  wasserflow rovi --target funnel -d 4 --restarts 4 --iterations 2000",
                new CommandOptions(config: true, typeof(TargetParameters), typeof(RoviSettings), typeof(RunControlSettings)), Rovi));
            root.Subcommands.Add(Command("sample", "Sample the target's posterior with NUTS as Stan runs it (the reference to compare a fit with): draws.csv, summary with R̂, ESS and MCSE, trace and rank plots.\n\nExamples:\n"
                + "  wasserflow sample --target logistic-regression --data sklearn:breast_cancer --no-intercept --test-fraction 0.5\n"
                + "  wasserflow sample --target posteriordb --posterior eight_schools-eight_schools_noncentered --adapt-delta 0.95\n  wasserflow sample --target funnel -d 10 --chains 4 --draws 2000",
                new CommandOptions(config: true, typeof(TargetParameters), typeof(SampleSettings)), Sample));
            root.Subcommands.Add(Command("demo", "Reproduce paper 000 Figure 1 (2-D mixtures of 5 Gaussians on 3 random targets; IBW and MD; N = 1, 5, 10, 20) and write a report.\n\nExamples:\n"
                + "  wasserflow demo\n  wasserflow demo --iterations 2000 --target-seeds 1 -o runs/quick-demo\n  wasserflow demo --resume",
                new CommandOptions(config: false, typeof(DemoSettings), typeof(RunControlSettings)), Demo));
            var experiment = new Command("experiment", "Run a named experiment of the papers and write its report (numbers beside the paper's).");
            foreach (ExperimentDefinition e in ExperimentCatalog.All)
                experiment.Subcommands.Add(Command(e.Name, e.Description, new CommandOptions(config: false, [.. e.Settings, typeof(ExperimentOutputSettings)]), b => Experiment(e, b)));
            root.Subcommands.Add(experiment);
            // The benchmarks are experiments too; `wasserflow benchmark <name>` is the same command under the name users look for.
            var benchmark = new Command("benchmark", "Score the methods against reference answers (the same commands as `experiment <name>`).");
            foreach (ExperimentDefinition e in ExperimentCatalog.All.Where(e => e.Description.StartsWith("benchmark:", StringComparison.Ordinal)))
                benchmark.Subcommands.Add(Command(e.Name, e.Description, new CommandOptions(config: false, [.. e.Settings, typeof(ExperimentOutputSettings)]), b => Experiment(e, b)));
            root.Subcommands.Add(benchmark);
            root.Subcommands.Add(Sweeps.SweepCommands.Sweep(output, error, cancellation));
            root.Subcommands.Add(Sweeps.SweepCommands.Silo(output, cancellation));
            return root;
        }

        private Command Command(string name, string description, CommandOptions options, Func<BoundOptions, int> action)
        {
            var command = new Command(name, description);
            options.AddTo(command);
            command.SetAction(parse =>
            {
                _options = options;
                _bound = null;
                _bound = options.Bind(parse);
                return action(_bound);
            });
            return command;
        }

        // The one mapping of errors to messages: bad settings name the flag (or the config key), bad files their path.
        public string? Describe(Exception ex) => ex switch
        {
            InvalidParameterException p => CommandOptions.Describe(p, _bound, _options),
            ConfigException or IOException or DataFetchException or DataFormatException => ex.Message,
            ArgumentException a => a.Message,
            TrainingDivergedException => $"{ex.Message} (checkpoints up to the last finished epoch are kept; lower the learning rates)",
            _ => null,
        };

        private int Fit(BoundOptions b)
        {
            var job = new FitJob(b.Get<TargetParameters>(), b.Get<FitSettings>());
            ResourceCheck.Fit(job.Target, job.Fit);
            ITarget target = job.Target.Build(); // once: a data file is read here, before the output folder exists
            job.Fit.Validate(target);
            var control = b.Get<RunControlSettings>();
            if (Open(job.Fit.Output, control, [job.Target, job.Fit]) is not { } folder) return 0;
            var slot = folder.Checkpoints(control.CheckpointEvery, control.CheckpointSeconds).Slot("run");
            if (job.Fit.IsBuresWasserstein)
            {
                GaussianFitOutcome bw = Progress.Run(interactive, error, [job], (observer, j) => GaussianFitRun.Run(j, observer, cancellation, slot, target))[0];
                return Summarise([(bw.Config, bw.Result.Status, bw.Result.StatusText, bw.Result.Message, bw.Result.Warnings, bw.Result.FinalState.Iteration, bw.FinalKl)],
                    folder, GaussianFitRun.Files(bw), (c, status, iterations) => $"{c.Algorithm} K={c.Components} {status} iterations {iterations}",
                    bw.Posterior is { } p ? ModelSummary.Lines(p) : null);
            }
            FitOutcome outcome = Progress.Run(interactive, error, [job], (observer, j) => FitRun.Run(j, observer, cancellation, slot, target))[0];
            return SummariseIsotropic([outcome], folder, FitRun.Files(outcome), outcome.Posterior is { } posterior ? ModelSummary.Lines(posterior) : null);
        }

        // The output folder of a run with these recorded settings; null when --resume finds it already complete.
        private RunFolder? Open(string output, RunControlSettings control, object[] records, bool checkSettings = true)
        {
            string settings = ResultFiles.Json(w => { foreach (object r in records) CommandOptions.WriteRecorded(w, r); });
            Folder = RunFolder.Open(output, settings, control.Overwrite, control.Resume, checkSettings);
            if (Folder.AlreadyComplete)
            {
                error.WriteLine($"'{output}' already holds the finished run; nothing to resume");
                return null;
            }
            if (Folder.Resuming) error.WriteLine($"resuming from the checkpoints in '{Folder.CheckpointFolder}'");
            return Folder;
        }

        private int Rovi(BoundOptions b)
        {
            var settings = b.Get<RoviSettings>();
            var targetParameters = b.Get<TargetParameters>();
            ResourceCheck.Rovi(targetParameters, settings);
            ITarget target = targetParameters.Build();
            if (target is ITargetWithPropriety propriety && !propriety.CheckProper(out string? reason))
                throw new InvalidParameterException(nameof(TargetParameters.Target), reason ?? "the posterior is improper");
            var options = settings.ToOptions(target, b.Given);
            var control = b.Get<RunControlSettings>();
            if (Open(settings.Output, control, [targetParameters, settings]) is not { } folder) return 0;
            RotationalFitOutcome outcome;
            try
            {
                var checkpoints = folder.Checkpoints(control.CheckpointEvery, control.CheckpointSeconds);
                outcome = Progress.Restarts(interactive, error, options.Rotate ? "RoVI" : "MFVI", options.Restarts, options.MaxIterations,
                    observers => RotationalFitRun.Run(target, options, [targetParameters, settings], cancellation, checkpoints, observers));
            }
            catch (TargetEvaluationException ex)
            {
                folder.Abandon(discardCheckpoints: true);
                error.WriteLine($"error: {ex.Message} (nothing written)");
                return RunFailed;
            }
            folder.Publish(RotationalFitRun.Files(outcome));
            var best = outcome.Result.Best;
            string quantity = target.LogNormalizer == 0 ? "KL" : "KL − log Z";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{(options.Rotate ? "RoVI" : "MFVI")} best of {options.Restarts} restarts: restart {best.Index}, {quantity} {best.FreeEnergy:G4} ± {best.StandardError:G2} ({options.FinalSamples} fresh draws), {best.Iterations} iterations"));
            foreach (string warning in best.Warnings) error.WriteLine($"warning: {warning}");
            output.WriteLine($"report: {Path.Combine(settings.Output, "report.html")}");
            return 0;
        }

        private int Sample(BoundOptions b)
        {
            var targetParameters = b.Get<TargetParameters>();
            var settings = b.Get<SampleSettings>();
            settings.Validate();
            ITarget target = targetParameters.Build(); // a data file is read here, before the output folder exists
            SampleRun.Validate(settings, target);
            if (target is ITargetWithPropriety propriety && !propriety.CheckProper(out string? reason))
                throw new InvalidParameterException(nameof(TargetParameters.Target), reason ?? "the posterior is improper");
            if (Open(settings.Output, new RunControlSettings { Overwrite = settings.Overwrite }, [targetParameters, settings]) is not { } folder) return 0;
            SampleOutcome outcome;
            try
            {
                outcome = Progress.Chains(interactive, error, settings.Chains, settings.Warmup + settings.Draws, settings.Warmup,
                    onIteration => SampleRun.Run(targetParameters, settings, target, onIteration, cancellation));
            }
            catch (TargetEvaluationException ex)
            {
                folder.Abandon(discardCheckpoints: true);
                error.WriteLine($"error: {ex.Message} (nothing written)");
                return RunFailed;
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                folder.Abandon(discardCheckpoints: true);
                Folder = null;
                error.WriteLine($"cancelled; nothing was written to '{settings.Output}' (sampling has no checkpoints: run it again)");
                return Cancelled;
            }
            folder.Publish(SampleRun.Files(outcome));
            foreach (string line in SampleRun.Lines(outcome)) output.WriteLine(line);
            foreach (string warning in SampleRun.Warnings(outcome)) error.WriteLine($"warning: {warning}");
            output.WriteLine($"report: {Path.Combine(settings.Output, "report.html")}");
            return 0;
        }

        private int Demo(BoundOptions b)
        {
            var settings = b.Get<DemoSettings>();
            var control = b.Get<RunControlSettings>();
            var jobs = FigureOneDemo.Jobs(settings);
            if (Open(settings.Output, control, [settings]) is not { } folder) return 0;
            var store = folder.Checkpoints(control.CheckpointEvery, control.CheckpointSeconds);
            int next = 0; // Progress.Run takes the jobs one after another, in order: run-i is job i
            var outcomes = Progress.Run(interactive, error, jobs, (observer, j) => FitRun.Run(j, observer, cancellation, store.Slot($"run-{next++}")));
            return SummariseIsotropic(outcomes, folder, FigureOneDemo.Files(outcomes, settings.Output));
        }

        private int Experiment(ExperimentDefinition experiment, BoundOptions b)
        {
            var where = b.Get<ExperimentOutputSettings>();
            string path = where.Output ?? Path.Combine("runs", experiment.Name);
            bool resume = (experiment.Settings.Contains(typeof(NetworkExperimentOptions)) && b.Get<NetworkExperimentOptions>().Resume)
                || (experiment.Settings.Contains(typeof(ModeCollapseSettings)) && b.Get<ModeCollapseSettings>().Resume);

            var records = experiment.Settings.Select(b.Record).ToArray();
            // Training runs check their own checkpoints against their settings, so a finished run can be extended with more epochs.
            bool trains = experiment.Settings.Contains(typeof(NetworkExperimentOptions));
            if (Open(path, new RunControlSettings { Overwrite = where.Overwrite, Resume = resume }, records, checkSettings: !trains) is not { } folder) return 0;
            // Experiments do not stop between steps: Ctrl-C ends them at once, before anything is published (the gm-*
            // experiments keep their per-epoch checkpoints for --resume).
            using var stop = cancellation.Register(() =>
            {
                error.WriteLine($"cancelled; nothing was written to '{path}'{(Directory.Exists(folder.CheckpointFolder) ? $"; the checkpoints in '{folder.CheckpointFolder}' continue with --resume" : "")}");
                Environment.Exit(Cancelled);
            });
            // In a terminal a live status line runs below the result lines (training experiments have their own bars).
            ExperimentOutput result = interactive && !trains
                ? Progress.Status($"experiment {experiment.Name}", print =>
                {
                    _print = print;
                    try { return experiment.Run(b, folder.Work, this); }
                    finally { _print = null; }
                })
                : experiment.Run(b, folder.Work, this);
            folder.Publish(result.Files, keepCheckpoints: trains);
            // In a terminal the lines logged while the experiment ran are already on the screen: print only the rest.
            foreach (string line in result.Summary)
                if (!interactive || !_logged.Contains(line)) output.WriteLine(line);
            output.WriteLine($"report: {Path.Combine(path, "report.html")}");
            return 0;
        }

        private readonly HashSet<string> _logged = [];
        private Action<string>? _print; // the live status display's printer while one runs

        public void Log(string line)
        {
            lock (_logged) _logged.Add(line);
            if (_print is { } print) print(line);
            else error.WriteLine(line);
        }

        public T Train<T>(Func<Func<string, IProgress<TrainingProgress>?>, T> body) => Progress.Train(interactive, body);

        // One line per run; runs on several targets (the demo's target seeds) say which.
        private int SummariseIsotropic(IReadOnlyList<FitOutcome> outcomes, RunFolder folder, IReadOnlyDictionary<string, string> files, IEnumerable<string>? details = null)
        {
            var seeds = outcomes.ToDictionary(o => o.Config, o => o.Job.Target.TargetSeed);
            string Target(FitSettings c) => seeds.Values.Distinct().Count() > 1 ? $"target seed {seeds[c]}  " : "";
            return Summarise([.. outcomes.Select(o => (o.Config, o.Result.Status, o.Result.StatusText, o.Result.Message, o.Result.Warnings, o.Result.FinalState.Iteration, o.FinalKl))],
                folder, files, (c, status, iterations) => $"{Target(c)}{c.Algorithm.ToUpperInvariant(),-4} N={c.Components,-3} {status,-9} iterations {iterations,6}", details);
        }

        // Publishes the files, then one line per run (label, status, iterations, final KL ± SE), errors and warnings on
        // stderr, and where the report is; a cancelled run keeps its checkpoints and says how to resume.
        private int Summarise(IReadOnlyList<(FitSettings Config, RunStatus Status, string StatusText, string? Message, IReadOnlyList<string> Warnings, long Iterations, Diagnostics.KlEstimate Kl)> runs,
            RunFolder folder, IReadOnlyDictionary<string, string> files, Func<FitSettings, string, long, string> head, IEnumerable<string>? details = null)
        {
            bool cancelled = runs.Any(r => r.Status == RunStatus.Cancelled);
            folder.Publish(files, keepCheckpoints: cancelled);
            foreach (var r in runs)
            {
                // The final estimate uses more draws than the running ones the progress shows, so it says how many.
                string kl = string.Create(CultureInfo.InvariantCulture, $"{r.Kl.Value:G4} ± {r.Kl.StandardError:G2} ({r.Kl.Draws} draws)");
                output.WriteLine($"{head(r.Config, r.StatusText, r.Iterations)}  {(r.Kl.IsExact ? "KL" : "KL − log Z")} {kl}");
                if (r.Message is not null && r.Status != RunStatus.Cancelled) error.WriteLine($"error: {r.Message}");
                foreach (string warning in r.Warnings) error.WriteLine($"warning: {warning}");
            }
            foreach (string line in details ?? []) output.WriteLine(line);
            output.WriteLine($"report: {Path.Combine(folder.Output, "report.html")}");
            if (cancelled)
            {
                error.WriteLine($"cancelled at iteration {runs.First(r => r.Status == RunStatus.Cancelled).Iterations}; results so far in '{folder.Output}', checkpoints in '{folder.CheckpointFolder}': run the same command with --resume to continue");
                return Cancelled;
            }
            return runs.All(r => r.Status is RunStatus.Completed or RunStatus.Converged) ? 0 : RunFailed;
        }
    }
}
