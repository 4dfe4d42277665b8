using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using Wasserflow.Experiments;
using Wasserflow.Flows;
using Wasserflow.NeuralNetworks;
using Wasserflow.Running;

namespace Wasserflow.Cli;

/// <summary>
/// Progress for the CLI: a Spectre.Console bar per run in a terminal (iteration, KL estimate, iterations per second),
/// otherwise one plain line per run and per few seconds on stderr.
/// </summary>
internal static class Progress
{
    public static IReadOnlyList<TOutcome> Run<TOutcome>(bool interactive, TextWriter error, IReadOnlyList<FitJob> configs,
        Func<IRunObserver, FitJob, TOutcome> run)
    {
        var outcomes = new List<TOutcome>();
        if (interactive)
        {
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    foreach (var c in configs)
                    {
                        var task = ctx.AddTask(Label(c.Fit), maxValue: Math.Max(1, c.Fit.Iterations));
                        outcomes.Add(run(new BarObserver(task, c.Fit), c));
                        task.Value = task.MaxValue;
                    }
                });
        }
        else
        {
            foreach (var c in configs)
                outcomes.Add(run(new LineObserver(error, c.Fit), c));
        }
        return outcomes;
    }

    /// <summary>
    /// Runs <paramref name="body"/>, giving it a progress sink per training run: a bar per run in a terminal (epoch, minibatch,
    /// loss, samples per second), otherwise nothing (the experiment logs one line per epoch).
    /// </summary>
    public static T Train<T>(bool interactive, Func<Func<string, IProgress<TrainingProgress>?>, T> body)
    {
        if (!interactive) return body(_ => null);
        T result = default!;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx => result = body(label => new EpochBar(ctx.AddTask(label, maxValue: 1), label)));
        return result;
    }

    private sealed class EpochBar(ProgressTask task, string label) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            task.MaxValue = (double)p.Epochs * p.Batches;
            task.Value = (double)(p.Epoch - 1) * p.Batches + p.Batch;
            // Compact, so the bar keeps its width on an 80-column terminal.
            task.Description = string.Create(CultureInfo.InvariantCulture,
                $"{label} ep {p.Epoch}/{p.Epochs} b {p.Batch}/{p.Batches} loss {p.Loss:F3} {p.SamplesPerSecond / 1000:F1}k/s");
        }
    }

    /// <summary>
    /// Runs <paramref name="body"/> with an observer per restart: a bar per restart in a terminal (iteration, the latest
    /// fresh-sample estimate, iterations per second, time left), otherwise a line per restart every 5 s and at the iteration cap.
    /// Restarts may run in parallel, so the observers are thread-safe.
    /// </summary>
    public static T Restarts<T>(bool interactive, TextWriter error, string method, int restarts, int iterations, Func<Func<int, IRunObserver?>, T> body)
    {
        if (!interactive)
        {
            var gate = new Lock();
            return body(r => new RestartLines(error, gate, $"{method} restart {r}", iterations));
        }
        T result = default!;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var tasks = Enumerable.Range(0, restarts).Select(r => ctx.AddTask($"{method} restart {r}", maxValue: Math.Max(1, iterations))).ToArray();
                result = body(r => new RestartBar(tasks[r], $"{method} restart {r}"));
                foreach (var task in tasks) task.Value = task.MaxValue;
            });
        return result;
    }

    private sealed class RestartBar(ProgressTask task, string label) : IRunObserver
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public bool OnStep(in StepInfo info)
        {
            task.Value = info.Iteration;
            if (double.IsFinite(info.Evaluation))
                task.Description = string.Create(CultureInfo.InvariantCulture,
                    $"{label} it {info.Iteration} F̂ {info.Evaluation:G4} {info.Iteration / Math.Max(1e-9, _clock.Elapsed.TotalSeconds):F0} it/s");
            return true;
        }
    }

    private sealed class RestartLines(TextWriter error, Lock gate, string label, int iterations) : IRunObserver
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private double _lastPrint;
        private double _estimate = double.NaN;

        public bool OnStep(in StepInfo info)
        {
            if (double.IsFinite(info.Evaluation)) _estimate = info.Evaluation;
            double now = _clock.Elapsed.TotalSeconds;
            if (now - _lastPrint < 5 && info.Iteration != iterations) return true;
            _lastPrint = now;
            string line = string.Create(CultureInfo.InvariantCulture,
                $"{label}: iteration {info.Iteration}/{iterations}  F̂ {_estimate:G4} (running estimate)  {info.Iteration / Math.Max(1e-9, now):F0} it/s");
            lock (gate) error.WriteLine(line);
            return true;
        }
    }

    /// <summary>
    /// Progress of parallel chains: a bar per chain in a terminal, otherwise a line every 5 s on stderr. The body gets the
    /// callback the sampler calls with (chain, iteration) from the chains' threads.
    /// </summary>
    public static T Chains<T>(bool interactive, TextWriter error, int chains, int iterations, int warmup, Func<Action<int, int>, T> body)
    {
        if (!interactive)
        {
            var clock = Stopwatch.StartNew();
            var done = new int[chains];
            var gate = new Lock();
            double last = 0;
            return body((c, i) =>
            {
                done[c] = i + 1;
                double now = clock.Elapsed.TotalSeconds;
                if (now - last < 5) return;
                lock (gate)
                {
                    if (now - last < 5) return;
                    last = now;
                    error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"NUTS: iterations {string.Join(" ", done)} of {iterations} per chain ({warmup} warmup), {now:F0} s"));
                }
            });
        }
        T result = default!;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var tasks = Enumerable.Range(0, chains).Select(c => ctx.AddTask($"chain {c + 1} warmup", maxValue: Math.Max(1, iterations))).ToArray();
                result = body((c, i) =>
                {
                    if ((i & 15) != 15 && i != warmup - 1 && i != iterations - 1) return;
                    tasks[c].Value = i + 1;
                    tasks[c].Description = i + 1 < warmup ? $"chain {c + 1} warmup" : $"chain {c + 1} sampling";
                });
                foreach (var task in tasks) task.Value = task.MaxValue;
            });
        return result;
    }

    /// <summary>
    /// Runs <paramref name="body"/> under a live status line in a terminal (a spinner, how many results so far, the
    /// time since the start); each line <paramref name="body"/> logs is printed above it once.
    /// </summary>
    public static T Status<T>(string label, Func<Action<string>, T> body)
    {
        T result = default!;
        var clock = Stopwatch.StartNew();
        var gate = new Lock();
        int lines = 0;
        AnsiConsole.Status().Start(Markup.Escape(label + " …"), ctx =>
            result = body(line =>
            {
                lock (gate)
                {
                    AnsiConsole.WriteLine(line);
                    lines++;
                    ctx.Status(Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"{label}: {lines} result line(s), {clock.Elapsed.TotalSeconds:F0} s elapsed …")));
                }
            }));
        return result;
    }

    private static string Label(FitSettings c) => $"{c.Algorithm.ToUpperInvariant()} N={c.Components}";

    private sealed class BarObserver(ProgressTask task, FitSettings config) : IRunObserver
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private double _kl = double.NaN;

        public bool OnStep(in StepInfo info)
        {
            if ((info.Iteration & 63) == 0) task.Value = info.Iteration;
            return true;
        }

        public void OnTrace(in TracePoint point)
        {
            _kl = point.Kl;
            double rate = point.Iteration / Math.Max(1e-9, _clock.Elapsed.TotalSeconds);
            task.Description = string.Create(CultureInfo.InvariantCulture,
                $"{Label(config)} it {point.Iteration} KL {_kl:G3} {rate:F0} it/s");
        }
    }

    private sealed class LineObserver(TextWriter error, FitSettings config) : IRunObserver
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private double _lastPrint = -10;

        public void OnTrace(in TracePoint point)
        {
            double now = _clock.Elapsed.TotalSeconds;
            if (now - _lastPrint < 5 && point.Iteration != config.Iterations) return;
            _lastPrint = now;
            error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{Label(config)}: iteration {point.Iteration}/{config.Iterations}  KL {point.Kl:G4} ± {point.StandardError:G2} (running estimate, {config.KlSamples} draws)  {point.Iteration / Math.Max(1e-9, now):F0} it/s"));
        }
    }
}
