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
                $"{Label(config)}: iteration {point.Iteration}/{config.Iterations}  KL {point.Kl:G4} ± {point.StandardError:G2}  {point.Iteration / Math.Max(1e-9, now):F0} it/s"));
        }
    }
}
