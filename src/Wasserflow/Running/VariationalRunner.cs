using System.Diagnostics;
using System.Globalization;
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
/// <param name="ParameterChange">How far the fit moved since the previous trace point, in its own standard deviations:
/// max_i |Δmean_i| / sd_i over the fit's overall mean and marginal sds (<see cref="Flows.IFlowState{TSelf}.Moments"/>);
/// NaN at the first point and for families without moments.</param>
public readonly record struct TracePoint(long Iteration, double Kl, double StandardError, double Seconds, double ParameterChange = double.NaN);

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

    /// <summary>Whether to stop after the KL trace gained its latest point (the whole trace so far is given).</summary>
    bool ConvergedOnTrace(IReadOnlyList<TracePoint> trace) => false;
}

/// <summary>Where <see cref="TraceWindowRule"/> stands after a trace point (both of its criteria, for reports).</summary>
/// <param name="KlChange">|mean of the last window of KL estimates − mean of the window before|; NaN before two windows exist.</param>
/// <param name="TwoStandardErrors">2 standard errors of that difference.</param>
/// <param name="ParameterChange">The largest parameter change (<see cref="TracePoint.ParameterChange"/>) over the last window; NaN without moments.</param>
/// <param name="KlSettled">Whether the KL criterion holds.</param>
/// <param name="ParametersSettled">Whether the parameter criterion holds (true when the family has no moments to check).</param>
public readonly record struct TraceWindowCheck(double KlChange, double TwoStandardErrors, double ParameterChange, bool KlSettled, bool ParametersSettled)
{
    /// <summary>Both criteria hold: the run stops.</summary>
    public bool Converged => KlSettled && ParametersSettled;
}

/// <summary>
/// A stopping rule for every flow, read off the KL (−ELBO) trace, with two criteria that must both hold. The KL: the means
/// of the last two windows of <see cref="Window"/> trace points differ by less than max(<see cref="Tolerance"/>, 2 standard
/// errors of the difference), the standard errors being those of the estimates themselves (independent draws per point),
/// provided those 2 s.e. are themselves within the tolerance or 10% of (|KL| + 1) — too noisy a trace never counts as
/// settled. The parameters: between consecutive points of the last window the fit's mean moved by less than
/// <see cref="ParameterTolerance"/> of its own sd in every coordinate (<see cref="TracePoint.ParameterChange"/>; a stochastic
/// flow's iterates jitter by about 0.02 sd at its defaults, so the default 0.05 passes noise and stops drift). The
/// iteration count becomes a cap. Stateless (the trace is checkpointed), so a resumed run stops where an uninterrupted one would.
/// </summary>
/// <param name="tolerance">The smallest change of the KL estimate (in nats) that counts as progress.</param>
/// <param name="parameterTolerance">The largest move of the fit's mean between trace points, in its sds, that counts as settled.</param>
public sealed class TraceWindowRule(double tolerance, double parameterTolerance = 0.05) : IStopRule
{
    /// <summary>Trace points per window.</summary>
    public const int Window = 5;

    /// <summary>The tolerance in nats.</summary>
    public double Tolerance { get; } = tolerance >= 0 && double.IsFinite(tolerance) ? tolerance : throw new ArgumentOutOfRangeException(nameof(tolerance), tolerance, "must be ≥ 0 and finite");

    /// <summary>The parameter tolerance, in the fit's standard deviations.</summary>
    public double ParameterTolerance { get; } = parameterTolerance > 0 && double.IsFinite(parameterTolerance) ? parameterTolerance : throw new ArgumentOutOfRangeException(nameof(parameterTolerance), parameterTolerance, "must be > 0 and finite");

    /// <inheritdoc/>
    public bool Converged(in StepInfo info) => false;

    /// <inheritdoc/>
    public bool ConvergedOnTrace(IReadOnlyList<TracePoint> trace) => Check(trace).Converged;

    /// <summary>Both criteria after the last point of <paramref name="trace"/>.</summary>
    public TraceWindowCheck Check(IReadOnlyList<TracePoint> trace)
    {
        ArgumentNullException.ThrowIfNull(trace);
        double parameterChange = double.NaN;
        bool parametersSettled = true;
        for (int i = Math.Max(trace.Count - Window, 1); i < trace.Count; i++)
        {
            double moved = trace[i].ParameterChange;
            if (double.IsNaN(moved)) continue;
            parameterChange = double.IsNaN(parameterChange) ? moved : Math.Max(parameterChange, moved);
            parametersSettled &= moved < ParameterTolerance;
        }
        if (trace.Count < 2 * Window) return new TraceWindowCheck(double.NaN, double.NaN, parameterChange, false, parametersSettled);
        double meanLast = 0, meanPrevious = 0, varianceLast = 0, variancePrevious = 0;
        for (int i = 0; i < Window; i++)
        {
            TracePoint last = trace[trace.Count - 1 - i], previous = trace[trace.Count - 1 - Window - i];
            if (!double.IsFinite(last.Kl) || !double.IsFinite(previous.Kl)) return new TraceWindowCheck(double.NaN, double.NaN, parameterChange, false, parametersSettled);
            meanLast += last.Kl / Window;
            meanPrevious += previous.Kl / Window;
            varianceLast += last.StandardError * last.StandardError / (Window * Window);
            variancePrevious += previous.StandardError * previous.StandardError / (Window * Window);
        }
        // Two windows that agree only because their estimates are too noisy to tell apart say nothing: the difference's
        // 2 s.e. must itself be within the tolerance or 10% of (|KL| + 1).
        double twoSe = 2 * Math.Sqrt(varianceLast + variancePrevious), change = Math.Abs(meanLast - meanPrevious);
        bool settled = twoSe <= Math.Max(Tolerance, 0.1 * (Math.Abs(meanLast) + 1)) && change < Math.Max(Tolerance, twoSe);
        return new TraceWindowCheck(change, twoSe, parameterChange, settled, parametersSettled);
    }
}

/// <summary>
/// The window rule of docs/specs/rovi-mfvi.md §6: collects the flow's fresh-sample evaluations (<see cref="StepInfo.Evaluation"/>)
/// and stops when the means of the last two windows of <see cref="Window"/> evaluations differ by less than
/// max(tolerance, 2 SE of the difference). With <c>stop</c> false it only records them.
/// </summary>
/// <param name="tolerance">The smallest difference that counts as a change.</param>
/// <param name="stop">Whether to stop the run, or only record the evaluations.</param>
public sealed class EvaluationWindow(double tolerance, bool stop = true) : IPersistentStopRule
{
    /// <summary>Evaluations per window.</summary>
    public const int Window = 10;

    private readonly List<(int Iteration, double Estimate)> _trace = [];

    /// <summary>The evaluations so far, by iteration.</summary>
    public IReadOnlyList<(int Iteration, double Estimate)> Trace => _trace;

    /// <inheritdoc/>
    public IReadOnlyList<double> Save() => [.. _trace.SelectMany(p => new[] { p.Iteration, p.Estimate })];

    /// <inheritdoc/>
    public void Restore(IReadOnlyList<double> record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.Count % 2 != 0) throw new ArgumentException($"an evaluation record holds pairs, not {record.Count} numbers", nameof(record));
        _trace.Clear();
        for (int i = 0; i < record.Count; i += 2) _trace.Add(((int)record[i], record[i + 1]));
    }

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
/// <param name="FinalState">The state after the last successful step; after a failure, the last state whose KL estimate
/// was finite (or, without a KL trace, the state before the failed step).</param>
/// <param name="Trace">KL estimates along the run; it always starts with the initial state's (NaN when even that could not
/// be evaluated, and the message says so).</param>
/// <param name="Status">How it ended.</param>
/// <param name="Message">Why it failed or was cancelled; null when completed.</param>
/// <param name="StepSeconds">Seconds spent in steps.</param>
/// <param name="TraceSeconds">Seconds spent estimating the KL trace.</param>
public sealed record RunResult<TState>(TState FinalState, IReadOnlyList<TracePoint> Trace, RunStatus Status, string? Message,
    double StepSeconds, double TraceSeconds)
{
    /// <summary>Signs of a blow-up the run survived (see <see cref="DivergenceChecks"/>); empty when there were none.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>Steps per second of stepping time.</summary>
    public double IterationsPerSecond(long steps) => StepSeconds > 0 ? steps / StepSeconds : double.PositiveInfinity;

    /// <summary>The status as result files and the console show it: "completed with warnings" (or "converged with warnings") when it finished but warned.</summary>
    public string StatusText => Status is RunStatus.Completed or RunStatus.Converged && Warnings.Count > 0
        ? Status.ToString().ToLowerInvariant() + " with warnings" : Status.ToString().ToLowerInvariant();
}

/// <summary>
/// The checks that tell a run that finished from one that blew up on the way (each raises a warning in
/// <see cref="RunResult{TState}.Warnings"/>): a KL estimate that jumps up from the previous one by more than
/// <see cref="JumpStandardErrors"/> standard errors of the difference and by more than <see cref="JumpFraction"/> of
/// (|previous| + 1); a final estimate worse than the best seen by the same margin; a spread (largest component standard
/// deviation) that grew past <see cref="SpreadGrowth"/> times the one the run started from, a start narrower than 1
/// counting as 1 (so a fit that widens from a deliberately narrow start to the posterior's width is not flagged).
/// </summary>
public static class DivergenceChecks
{
    /// <summary>Standard errors of the difference a KL increase must exceed to count as a jump.</summary>
    public const double JumpStandardErrors = 8;

    /// <summary>Fraction of (|previous KL| + 1) a KL increase must also exceed to count as a jump.</summary>
    public const double JumpFraction = 0.1;

    /// <summary>Growth of the spread, relative to the start, that counts as a blow-up.</summary>
    public const double SpreadGrowth = 100;

    /// <summary>The warnings for a run with this trace, starting spread and largest spread seen.</summary>
    public static IReadOnlyList<string> Check(IReadOnlyList<TracePoint> trace, double initialSpread, double largestSpread)
    {
        ArgumentNullException.ThrowIfNull(trace);
        var warnings = new List<string>();
        var finite = trace.Where(p => double.IsFinite(p.Kl) && double.IsFinite(p.StandardError)).ToList();
        for (int i = 1; i < finite.Count; i++)
        {
            if (IsWorse(finite[i], finite[i - 1]))
            {
                warnings.Add(string.Create(CultureInfo.InvariantCulture,
                    $"the KL estimate jumped from {finite[i - 1].Kl:G4} ± {finite[i - 1].StandardError:G2} at iteration {finite[i - 1].Iteration} to {finite[i].Kl:G4} ± {finite[i].StandardError:G2} at iteration {finite[i].Iteration}: the step is too large for this target (try a smaller step size)"));
                break;
            }
        }
        if (finite.Count > 1)
        {
            TracePoint best = finite.MinBy(p => p.Kl), last = finite[^1];
            if (IsWorse(last, best))
                warnings.Add(string.Create(CultureInfo.InvariantCulture,
                    $"the final KL estimate {last.Kl:G4} ± {last.StandardError:G2} is worse than the best seen, {best.Kl:G4} ± {best.StandardError:G2} at iteration {best.Iteration}"));
        }
        if (double.IsFinite(initialSpread) && initialSpread > 0 && largestSpread > SpreadGrowth * Math.Max(initialSpread, 1))
            warnings.Add(string.Create(CultureInfo.InvariantCulture,
                $"a component's standard deviation grew to {largestSpread:G3}, {largestSpread / initialSpread:G3} times the {initialSpread:G3} it started from: the fit has blown up (try a smaller step size)"));
        return warnings;
    }

    private static bool IsWorse(TracePoint now, TracePoint before)
    {
        double rise = now.Kl - before.Kl;
        double se = Math.Sqrt(now.StandardError * now.StandardError + before.StandardError * before.StandardError);
        return rise > JumpStandardErrors * se && rise > JumpFraction * (Math.Abs(before.Kl) + 1);
    }
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
/// informs observers, writes checkpoints, and stops on completion, cancellation, or a failed step (invalid update or
/// non-finite target value) with a message naming the iteration and the phase, never a NaN result.
/// </summary>
public static class VariationalRunner
{
    /// <summary>
    /// Runs <paramref name="flow"/> from a copy of <paramref name="initialState"/> (the caller's state is not changed).
    /// Passing the <see cref="RunResult{TState}.FinalState"/> of an earlier run continues it: T/2 + T/2 steps give the
    /// same numbers as T. With a <paramref name="checkpoint"/> slot that holds a checkpoint, the run resumes from it
    /// instead (the initial state is then not used) and ends with the numbers of an uninterrupted run; checkpoints are
    /// written to the slot on the store's schedule and whenever the run ends or is cancelled.
    /// </summary>
    /// <exception cref="Data.DataFormatException">The slot's checkpoint cannot be read.</exception>
    public static RunResult<TState> Run<TState>(IVariationalFlow<TState> flow, TState initialState, RunOptions options,
        IRunObserver? observer = null, CancellationToken cancellationToken = default, CheckpointSlot? checkpoint = null)
        where TState : IFlowState<TState>
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(initialState);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var saved = checkpoint?.Store.Load<TState>(checkpoint.Name);
        var run = saved is null
            ? new Loop<TState>(flow, initialState.Clone(), [], initialState.Iteration + options.Iterations, initialState.Spread, options, observer, checkpoint)
            : new Loop<TState>(flow, saved.State, [.. saved.Trace], saved.End, saved.InitialSpread, options, observer, checkpoint, saved);
        if (saved is not null && options.StopRule is IPersistentStopRule rule) rule.Restore(saved.StopRuleRecord);
        return saved?.Finished is { } finished ? run.Finish(finished, null) : run.Go(cancellationToken);
    }

    // One run in progress: its state, trace, clocks and last checked state.
    private sealed class Loop<TState>(IVariationalFlow<TState> flow, TState state, List<TracePoint> trace, long end, double initialSpread,
        RunOptions options, IRunObserver? observer, CheckpointSlot? slot, RunCheckpoint<TState>? resumed = null)
        where TState : IFlowState<TState>
    {
        private readonly Stopwatch _stepClock = new(), _traceClock = new(), _sinceCheckpoint = Stopwatch.StartNew();
        private readonly double _stepOffset = resumed?.StepSeconds ?? 0, _traceOffset = resumed?.TraceSeconds ?? 0;
        private TState _state = state;
        private TState? _lastGood;
        private long _checkpointedAt = state.Iteration;
        private double[]? _tracedMoments = resumed?.TracedMoments is { Count: > 0 } m ? [.. m] : null;
        private double _largestSpread = Math.Max(initialSpread, state.Spread);

        private double StepSeconds => _stepOffset + _stepClock.Elapsed.TotalSeconds;

        public RunResult<TState> Go(CancellationToken cancellationToken)
        {
            string phase = "KL estimate";
            try
            {
                // A resumed run has its trace already; estimating again here would add a point the uninterrupted run lacks.
                if (trace.Count == 0) Record();
                while (_state.Iteration < end)
                {
                    if (cancellationToken.IsCancellationRequested)
                        return Finish(RunStatus.Cancelled, $"cancelled at iteration {_state.Iteration}");
                    // A failing step throws before committing anything, so this state stays the last good one.
                    phase = "step";
                    _stepClock.Start();
                    StepInfo info = flow.Step(_state);
                    _stepClock.Stop();
                    phase = "KL estimate";
                    // No KL estimate here: a resumed run must not hold a trace point the uninterrupted one lacks.
                    if (observer is not null && !observer.OnStep(info))
                        return Finish(RunStatus.Cancelled, $"stopped by an observer at iteration {_state.Iteration}");
                    if (options.StopRule is not null && options.StopRule.Converged(info))
                    {
                        Record();
                        return Finish(RunStatus.Converged, null);
                    }
                    if (options.TraceEvery > 0 && _state.Iteration % options.TraceEvery == 0 || _state.Iteration == end)
                    {
                        Record();
                        if (_state.Iteration < end && options.StopRule is not null && options.StopRule.ConvergedOnTrace(trace))
                            return Finish(RunStatus.Converged, null);
                    }
                    if (slot is not null && slot.Store.Due(_state.Iteration - _checkpointedAt, _sinceCheckpoint.Elapsed.TotalSeconds))
                        Save(null);
                }
                return Finish(RunStatus.Completed, null);
            }
            catch (Exception ex) when (ex is FlowDivergedException or TargetEvaluationException)
            {
                _stepClock.Stop();
                _traceClock.Stop();
                long at = phase == "step" ? _state.Iteration + 1 : _state.Iteration;
                string message = $"{phase} at iteration {at}: {ex.Message}";
                if (trace.Count == 0 && options.TraceEvery > 0)
                {
                    trace.Add(new TracePoint(_state.Iteration, double.NaN, double.NaN, 0));
                    message = $"the initial state could not be evaluated ({message})";
                }
                if (_lastGood is not null && _lastGood.Iteration != _state.Iteration)
                {
                    message += $"; the result holds the state at iteration {_lastGood.Iteration}, the last whose KL estimate was finite";
                    _state = _lastGood;
                }
                return Finish(RunStatus.Failed, message);
            }
        }

        public RunResult<TState> Finish(RunStatus status, string? message)
        {
            _largestSpread = Math.Max(_largestSpread, _state.Spread);
            if (slot is not null) Save(status);
            var warnings = status is RunStatus.Completed or RunStatus.Converged ? DivergenceChecks.Check(trace, initialSpread, _largestSpread) : [];
            return new RunResult<TState>(_state, trace, status, message, StepSeconds, _traceOffset + _traceClock.Elapsed.TotalSeconds) { Warnings = warnings };
        }

        private void Save(RunStatus? finished)
        {
            var record = options.StopRule is IPersistentStopRule rule ? rule.Save() : [];
            // A finished run resumes to its result; a cancelled or failed one takes its steps again from this state.
            RunStatus? final = finished is RunStatus.Completed or RunStatus.Converged ? finished : null;
            slot!.Store.Save(slot.Name, new RunCheckpoint<TState>(_state, trace, end, final, record, initialSpread, StepSeconds,
                _traceOffset + _traceClock.Elapsed.TotalSeconds)
            { TracedMoments = _tracedMoments ?? [] });
            _checkpointedAt = _state.Iteration;
            _sinceCheckpoint.Restart();
        }

        private void Record()
        {
            if (options.TraceEvery == 0 || (trace.Count > 0 && trace[^1].Iteration == _state.Iteration)) return;
            _traceClock.Start();
            var rng = new Xoshiro256StarStar(Xoshiro256StarStar.Mix(options.TraceSeed, (ulong)_state.Iteration));
            KlEstimate kl = flow.EstimateKl(_state, rng, options.KlDraws);
            _traceClock.Stop();
            double[]? moments = _state.Moments();
            var point = new TracePoint(_state.Iteration, kl.Value, kl.StandardError, StepSeconds, ParameterChange(_tracedMoments, moments));
            _tracedMoments = moments;
            trace.Add(point);
            observer?.OnTrace(point);
            _largestSpread = Math.Max(_largestSpread, _state.Spread);
            if (double.IsFinite(kl.Value)) _lastGood = _state.Clone();
            else throw new TargetEvaluationException($"the KL estimate is {kl.Value}");
        }

        // max_i |mean_i − previous mean_i| / sd_i, with the current sds; NaN without both moment sets.
        private static double ParameterChange(double[]? previous, double[]? now)
        {
            if (previous is null || now is null || previous.Length != now.Length) return double.NaN;
            int d = now.Length / 2;
            double largest = 0;
            for (int i = 0; i < d; i++)
            {
                double shift = Math.Abs(now[i] - previous[i]), sd = now[d + i];
                largest = Math.Max(largest, sd > 0 ? shift / sd : shift > 0 ? double.PositiveInfinity : 0);
            }
            return largest;
        }
    }
}
