using System.CommandLine;
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
/// codes: 0 success, 1 the run failed (its result is still written, with the reason), 2 bad input (one line on stderr,
/// nothing written).
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
        var cli = new Commands(output, error, interactive);
        RootCommand root = cli.Root();
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
            error.WriteLine($"error: {message}");
            return ex is TrainingDivergedException ? RunFailed : BadInput;
        }
    }

    /// <summary>The root command with every subcommand (help and tests read it).</summary>
    public static RootCommand Root() => new Commands(TextWriter.Null, TextWriter.Null, false).Root();

    // The commands, the writers they print to, and the options of the command being run (so one handler can name a bad
    // setting as the user wrote it).
    private sealed class Commands(TextWriter output, TextWriter error, bool interactive) : IExperimentHost
    {
        private CommandOptions? _options;
        private BoundOptions? _bound;

        public RootCommand Root()
        {
            var root = new RootCommand("Wasserflow: variational inference by Wasserstein gradient flows.\n\nExamples:\n"
                + "  wasserflow demo\n  wasserflow fit --target funnel -a ibw -n 10\n  wasserflow fit --target logistic -d 10 --points 50 -a bw -n 1\n"
                + "  wasserflow rovi --target bimodal --restarts 4\n  wasserflow experiment gm-components --epochs 3 --train-limit 2000");
            root.Subcommands.Add(Command("fit", "Fit a mixture of isotropic Gaussians (IBW, MD, GD, NGD) or of full-covariance Gaussians (Bures–Wasserstein flows) to a target.",
                new CommandOptions(config: true, typeof(TargetParameters), typeof(FitSettings)), Fit));
            root.Subcommands.Add(Command("rovi", "Mean-field VI through polyhedral transport maps, or rotational VI against mode collapse (paper 003), on a target.",
                new CommandOptions(config: true, typeof(TargetParameters), typeof(RoviSettings)), Rovi));
            root.Subcommands.Add(Command("demo", "Reproduce paper 000 Figure 1 (2-D mixture of 5 Gaussians; IBW and MD; N = 1, 5, 10, 20) and write a report.",
                new CommandOptions(config: false, typeof(DemoSettings)), Demo));
            var experiment = new Command("experiment", "Run a named experiment of the papers and write its report (numbers beside the paper's).");
            foreach (ExperimentDefinition e in ExperimentCatalog.All)
                experiment.Subcommands.Add(Command(e.Name, e.Description, new CommandOptions(config: false, [.. e.Settings, typeof(ExperimentOutputSettings)]), b => Experiment(e, b)));
            root.Subcommands.Add(experiment);
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
            job.Fit.Validate(job.Target.Build());
            AtomicFiles.EnsureWritable(job.Fit.Output);
            if (job.Fit.IsBuresWasserstein)
            {
                GaussianFitOutcome bw = Progress.Run(interactive, error, [job], (observer, j) => GaussianFitRun.Run(j, observer))[0];
                AtomicFiles.WriteAll(job.Fit.Output, GaussianFitRun.Files(bw));
                return Summarise([(bw.Config, bw.Result.Status, bw.Result.Message, bw.Result.FinalState.Iteration, bw.FinalKl)], job.Fit.Output,
                    (c, status, iterations) => $"{c.Algorithm} K={c.Components} {status} iterations {iterations}");
            }
            FitOutcome outcome = Progress.Run(interactive, error, [job], (observer, j) => FitRun.Run(j, observer))[0];
            AtomicFiles.WriteAll(job.Fit.Output, FitRun.Files(outcome));
            return SummariseIsotropic([outcome], job.Fit.Output);
        }

        private int Rovi(BoundOptions b)
        {
            var settings = b.Get<RoviSettings>();
            ITarget target = b.Get<TargetParameters>().Build();
            if (target is ITargetWithPropriety propriety && !propriety.CheckProper(out string? reason))
                throw new InvalidParameterException(nameof(TargetParameters.Target), reason ?? "the posterior is improper");
            var options = settings.ToOptions(target, b.Given);
            AtomicFiles.EnsureWritable(settings.Output);
            RotationalFitOutcome outcome;
            try
            {
                outcome = RotationalFitRun.Run(target, options, [b.Get<TargetParameters>(), settings]);
            }
            catch (TargetEvaluationException ex)
            {
                error.WriteLine($"error: {ex.Message} (nothing written)");
                return RunFailed;
            }
            AtomicFiles.WriteAll(settings.Output, RotationalFitRun.Files(outcome));
            var best = outcome.Result.Best;
            string quantity = target.LogNormalizer == 0 ? "KL" : "KL − log Z";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{(options.Rotate ? "RoVI" : "MFVI")} best of {options.Restarts} restarts: restart {best.Index}, {quantity} {best.FreeEnergy:G4} ± {best.StandardError:G2}, {best.Iterations} iterations"));
            foreach (string warning in best.Warnings) error.WriteLine($"warning: {warning}");
            output.WriteLine($"report: {Path.Combine(settings.Output, "report.html")}");
            return 0;
        }

        private int Demo(BoundOptions b)
        {
            var settings = b.Get<DemoSettings>();
            var jobs = FigureOneDemo.Jobs(settings);
            AtomicFiles.EnsureWritable(settings.Output);
            var outcomes = Progress.Run(interactive, error, jobs, (observer, j) => FitRun.Run(j, observer));
            AtomicFiles.WriteAll(settings.Output, FigureOneDemo.Files(outcomes, settings.Output));
            return SummariseIsotropic(outcomes, settings.Output);
        }

        private int Experiment(ExperimentDefinition experiment, BoundOptions b)
        {
            string folder = b.Get<ExperimentOutputSettings>().Output ?? Path.Combine("runs", experiment.Name);
            AtomicFiles.EnsureWritable(folder);
            ExperimentOutput result = experiment.Run(b, folder, this);
            AtomicFiles.WriteAll(folder, result.Files);
            foreach (string line in result.Summary) output.WriteLine(line);
            output.WriteLine($"report: {Path.Combine(folder, "report.html")}");
            return 0;
        }

        public void Log(string line) => error.WriteLine(line);

        public T Train<T>(Func<Func<string, IProgress<TrainingProgress>?>, T> body) => Progress.Train(interactive, body);

        private int SummariseIsotropic(IReadOnlyList<FitOutcome> outcomes, string folder) =>
            Summarise([.. outcomes.Select(o => (o.Config, o.Result.Status, o.Result.Message, o.Result.FinalState.Iteration, o.FinalKl))], folder,
                (c, status, iterations) => $"{c.Algorithm.ToUpperInvariant(),-4} N={c.Components,-3} {status,-9} iterations {iterations,6}");

        // One line per run (label, status, iterations, final KL ± SE), errors on stderr, and where the report is.
        private int Summarise(IReadOnlyList<(FitSettings Config, RunStatus Status, string? Message, long Iterations, Diagnostics.KlEstimate Kl)> runs,
            string folder, Func<FitSettings, string, long, string> head)
        {
            foreach (var r in runs)
            {
                string kl = string.Create(CultureInfo.InvariantCulture, $"{r.Kl.Value:G4} ± {r.Kl.StandardError:G2}");
                output.WriteLine($"{head(r.Config, r.Status.ToString().ToLowerInvariant(), r.Iterations)}  {(r.Kl.IsExact ? "KL" : "KL − log Z")} {kl}");
                if (r.Message is not null) error.WriteLine($"error: {r.Message}");
            }
            output.WriteLine($"report: {Path.Combine(folder, "report.html")}");
            return runs.All(r => r.Status == RunStatus.Completed) ? 0 : RunFailed;
        }
    }
}
