using System.Diagnostics;
using Wasserflow.Diagnostics;
using Wasserflow.Flows;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Running;

/// <summary>Settings of a run.</summary>
/// <param name="Iterations">Steps to take in this run (a warm-started state continues its iteration count). Range: ≥ 0.</param>
/// <param name="TraceEvery">Estimate the KL every this many iterations (and at the start and the end); 0 for no KL trace
/// (a flow that evaluates itself, read through <see cref="StepInfo.Evaluation"/>). Range: ≥ 0.</param>
/// <param name="KlDraws">B_KL, draws per KL estimate (paper: 1000). Range: ≥ 1.</param>
/// <param name="TraceSeed">Seed of the KL estimates: the estimate at iteration t uses stream Mix(TraceSeed, t), so
/// the trace does not disturb the algorithm's own random stream and is the same however the run is split.</param>
/// <param name="StopRule">Ends the run early, with status <see cref="RunStatus.Converged"/>, when it says so; null runs every iteration.</param>
public sealed record RunOptions(long Iterations, int TraceEvery = 100, int KlDraws = 1000, ulong TraceSeed = 0x5EED, IStopRule? StopRule = null)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (Iterations < 0) throw new ArgumentException($"iterations must be ≥ 0, got {Iterations}", nameof(Iterations));
        if (TraceEvery < 0) throw new ArgumentException($"trace interval must be ≥ 0, got {TraceEvery}", nameof(TraceEvery));
        if (KlDraws < 1) throw new ArgumentException($"KL draws must be ≥ 1, got {KlDraws}", nameof(KlDraws));
    }
}

/// <summary>One point of the KL trace.</summary>
/// <param name="Iteration">The iteration at which the KL was estimated.</param>
/// <param name="Kl">The estimate (true KL when the target's log Z is known).</param>
/// <param name="StandardError">Its standard error.</param>
/// <param name="Seconds">Seconds of stepping (not counting trace estimates) since the run started.</param>
public readonly record struct TracePoint(long Iteration, double Kl, double StandardError, double Seconds);

/// <summary>How a run ended.</summary>
public enum RunStatus
{
    /// <summary>All iterations done.</summary>
    Completed,
    /// <summary>Stopped early by an invalid update or a non-finite target value; see <see cref="RunResult{TState}.Message"/>.</summary>
    Failed,
    /// <summary>Stopped by the cancellation token or an observer.</summary>
    Cancelled,
    /// <summary>Stopped early by the <see cref="RunOptions.StopRule"/>.</summary>
    Converged,
}

/// <summary>A rule that ends a run early: it sees every step's <see cref="StepInfo"/> and says when the run has converged.</summary>
public interface IStopRule
{
    /// <summary>Whether to stop after the step described by <paramref name="info"/>.</summary>
    bool Converged(in StepInfo info);
}

/// <summary>
/// The window rule of ../specs/rovi-mfvi.md §6: collects the flow's fresh-sample evaluations (<see cref="StepInfo.Evaluation"/>)
/// and stops when the means of the last two windows of <see cref="Window"/> evaluations differ by less than
/// max(tolerance, 2 SE of the difference). With <c>stop</c> false it only records them.
/// </summary>
/// <param name="tolerance">The smallest difference that counts as a change.</param>
/// <param name="stop">Whether to stop the run, or only record the evaluations.</param>
public sealed class EvaluationWindow(double tolerance, bool stop = true) : IStopRule
{
    /// <summary>Evaluations per window.</summary>
    public const int Window = 10;

    private readonly List<(int Iteration, double Estimate)> _trace = [];

    /// <summary>The evaluations so far, by iteration.</summary>
    public IReadOnlyList<(int Iteration, double Estimate)> Trace => _trace;

    /// <inheritdoc/>
    public bool Converged(in StepInfo info)
    {
        if (double.IsNaN(info.Evaluation)) return false;
        _trace.Add(((int)info.Iteration, info.Evaluation));
        if (!stop || _trace.Count < 2 * Window) return false;
        double MeanOf(int from) => Enumerable.Range(from, Window).Average(i => _trace[i].Estimate);
        double VarianceOf(int from, double mean) => Enumerable.Range(from, Window).Sum(i => (_trace[i].Estimate - mean) * (_trace[i].Estimate - mean)) / (Window - 1);
        int last = _trace.Count - Window, previous = _trace.Count - 2 * Window;
        double a = MeanOf(last), b = MeanOf(previous);
        double se = Math.Sqrt((VarianceOf(last, a) + VarianceOf(previous, b)) / Window);
        return Math.Abs(a - b) < Math.Max(tolerance, 2 * se);
    }
}

/// <summary>What a run returns. <see cref="FinalState"/> is always valid: on failure it is the last good state.</summary>
/// <param name="FinalState">The state after the last successful step.</param>
/// <param name="Trace">KL estimates along the run.</param>
/// <param name="Status">How it ended.</param>
/// <param name="Message">Why it failed or was cancelled; null when completed.</param>
/// <param name="StepSeconds">Seconds spent in steps.</param>
/// <param name="TraceSeconds">Seconds spent estimating the KL trace.</param>
public sealed record RunResult<TState>(TState FinalState, IReadOnlyList<TracePoint> Trace, RunStatus Status, string? Message,
    double StepSeconds, double TraceSeconds)
{
    /// <summary>Steps per second of stepping time.</summary>
    public double IterationsPerSecond(long steps) => StepSeconds > 0 ? steps / StepSeconds : double.PositiveInfinity;
}

/// <summary>Receives progress from a run; return false from <see cref="OnStep"/> to stop it.</summary>
public interface IRunObserver
{
    /// <summary>After each successful step.</summary>
    bool OnStep(in StepInfo info) => true;

    /// <summary>After each KL estimate.</summary>
    void OnTrace(in TracePoint point) { }
}

/// <summary>
/// The loop around a flow: takes the steps, estimates the KL every <see cref="RunOptions.TraceEvery"/> iterations,
/// informs observers, and stops on completion, cancellation, or a failed step (invalid update or non-finite target
/// value) with a message, never a NaN result.
/// </summary>
public static class VariationalRunner
{
    /// <summary>
    /// Runs <paramref name="flow"/> from a copy of <paramref name="initialState"/> (the caller's state is not changed).
    /// Passing the <see cref="RunResult{TState}.FinalState"/> of an earlier run continues it: T/2 + T/2 steps give the
    /// same numbers as T.
    /// </summary>
    public static RunResult<TState> Run<TState>(IVariationalFlow<TState> flow, TState initialState, RunOptions options,
        IRunObserver? observer = null, CancellationToken cancellationToken = default)
        where TState : IFlowState<TState>
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(initialState);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        TState state = initialState.Clone();
        var trace = new List<TracePoint>();
        var stepClock = new Stopwatch();
        var traceClock = new Stopwatch();
        long end = state.Iteration + options.Iterations;

        try
        {
            Record(flow, state, options, observer, trace, stepClock, traceClock);
            while (state.Iteration < end)
            {
                if (cancellationToken.IsCancellationRequested)
                    return Finish(RunStatus.Cancelled, $"cancelled at iteration {state.Iteration}");
                // A failing step throws before committing anything, so this state stays the last good one.
                stepClock.Start();
                StepInfo info = flow.Step(state);
                stepClock.Stop();
                if (observer is not null && !observer.OnStep(info))
                {
                    Record(flow, state, options, observer, trace, stepClock, traceClock);
                    return Finish(RunStatus.Cancelled, $"stopped by an observer at iteration {state.Iteration}");
                }
                if (options.StopRule is not null && options.StopRule.Converged(info))
                {
                    Record(flow, state, options, observer, trace, stepClock, traceClock);
                    return Finish(RunStatus.Converged, null);
                }
                if (options.TraceEvery > 0 && state.Iteration % options.TraceEvery == 0 || state.Iteration == end)
                    Record(flow, state, options, observer, trace, stepClock, traceClock);
            }
            return Finish(RunStatus.Completed, null);
        }
        catch (Exception ex) when (ex is FlowDivergedException or TargetEvaluationException)
        {
            stepClock.Stop();
            return Finish(RunStatus.Failed, ex.Message);
        }

        RunResult<TState> Finish(RunStatus status, string? message) =>
            new(state, trace, status, message, stepClock.Elapsed.TotalSeconds, traceClock.Elapsed.TotalSeconds);
    }

    private static void Record<TState>(IVariationalFlow<TState> flow, TState state, RunOptions options, IRunObserver? observer,
        List<TracePoint> trace, Stopwatch stepClock, Stopwatch traceClock) where TState : IFlowState<TState>
    {
        if (options.TraceEvery == 0 || (trace.Count > 0 && trace[^1].Iteration == state.Iteration)) return;
        traceClock.Start();
        var rng = new Xoshiro256StarStar(Xoshiro256StarStar.Mix(options.TraceSeed, (ulong)state.Iteration));
        KlEstimate kl = flow.EstimateKl(state, rng, options.KlDraws);
        traceClock.Stop();
        var point = new TracePoint(state.Iteration, kl.Value, kl.StandardError, stepClock.Elapsed.TotalSeconds);
        trace.Add(point);
        observer?.OnTrace(point);
    }
}
