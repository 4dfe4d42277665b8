namespace Wasserflow.Running;

/// <summary>Which of Stan's two criteria ended a run, if any.</summary>
public enum RelativeToleranceCriterion
{
    /// <summary>Neither: the run goes on.</summary>
    None,

    /// <summary>The mean of the recent relative ELBO changes fell below the tolerance ("MEAN ELBO CONVERGED").</summary>
    Mean,

    /// <summary>Their median fell below it ("MEDIAN ELBO CONVERGED"); Stan checks it after the mean, so it wins when both fire.</summary>
    Median,
}

/// <summary>The state of <see cref="RelativeToleranceRule"/> after a trace point.</summary>
/// <param name="Iteration">The iteration of the latest trace point.</param>
/// <param name="Elbo">The ELBO there (log Z − KL, or −(KL − log Z) when log Z is unknown).</param>
/// <param name="Change">Its relative change from the previous evaluation, |(ELBO_prev − ELBO)/ELBO| (1 at the first).</param>
/// <param name="MeanChange">Mean of the last changes in the rule's window.</param>
/// <param name="MedianChange">Their median (Stan's: the upper middle element for an even count).</param>
/// <param name="Criterion">The criterion that fired, or <see cref="RelativeToleranceCriterion.None"/>.</param>
/// <param name="MayBeDiverging">Stan's warning: after 10 evaluations, the mean or the median change is above 0.5.</param>
public readonly record struct RelativeToleranceCheck(long Iteration, double Elbo, double Change, double MeanChange, double MedianChange,
    RelativeToleranceCriterion Criterion, bool MayBeDiverging);

/// <summary>
/// Stan ADVI's stopping rule (<c>tol_rel_obj</c>), read off the KL trace: at every trace point after the start the ELBO's
/// relative change |(ELBO_prev − ELBO)/ELBO| joins a circular buffer of the last <see cref="Window"/> changes (the first
/// change is measured from 0, so it is 1); the run stops when the buffer's mean or its median falls below the tolerance.
/// Stan evaluates the ELBO every 100 iterations (eval_elbo) from 100 draws (elbo_samples) with a buffer of
/// max(0.1 · max_iterations / eval_elbo, 2) changes (<see cref="StanWindow"/>); run with <see cref="RunOptions.TraceEvery"/> =
/// eval_elbo and <see cref="RunOptions.KlDraws"/> = elbo_samples to match it. A relative rule is not a convergence test:
/// the median of three changes can fire at the third evaluation while the fit is still moving, which is where Stan's
/// ADVI stops early. Stateless (the trace is checkpointed), so a resumed run stops where an uninterrupted one would.
/// </summary>
public sealed class RelativeToleranceRule : IStopRule
{
    /// <summary>A rule with Stan's tolerance (default 0.01) and buffer size.</summary>
    /// <param name="tolerance">tol_rel_obj: the relative ELBO change below which the run stops. Range: &gt; 0.</param>
    /// <param name="window">How many recent changes the mean and median take (Stan: <see cref="StanWindow"/>). Range: ≥ 1.</param>
    /// <param name="logNormalizer">log Z when the KL trace holds true KL values (the ELBO is then log Z − KL); 0 otherwise.</param>
    /// <exception cref="ArgumentOutOfRangeException">A setting out of range.</exception>
    public RelativeToleranceRule(double tolerance = 0.01, int window = 10, double logNormalizer = 0)
    {
        if (!(tolerance > 0) || !double.IsFinite(tolerance)) throw new ArgumentOutOfRangeException(nameof(tolerance), tolerance, "must be > 0 and finite");
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        if (!double.IsFinite(logNormalizer)) throw new ArgumentOutOfRangeException(nameof(logNormalizer), logNormalizer, "must be finite");
        Tolerance = tolerance;
        Window = window;
        LogNormalizer = logNormalizer;
    }

    /// <summary>The tolerance on the relative change.</summary>
    public double Tolerance { get; }

    /// <summary>The number of recent changes the mean and median take.</summary>
    public int Window { get; }

    /// <summary>log Z added to −KL to give the ELBO (0 when the trace holds KL − log Z).</summary>
    public double LogNormalizer { get; }

    /// <summary>Stan's buffer size for a run of <paramref name="maxIterations"/> with the ELBO evaluated every <paramref name="evalEvery"/>: max(⌊0.1 · max/eval⌋, 2).</summary>
    public static int StanWindow(long maxIterations, int evalEvery)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(evalEvery, 1);
        return (int)Math.Min(int.MaxValue, Math.Max(0.1 * maxIterations / evalEvery, 2.0));
    }

    /// <inheritdoc/>
    public bool Converged(in Flows.StepInfo info) => false;

    /// <inheritdoc/>
    public bool ConvergedOnTrace(IReadOnlyList<TracePoint> trace) => Check(trace).Criterion != RelativeToleranceCriterion.None;

    /// <summary>The rule's state after the last point of <paramref name="trace"/> (its first point is the run's start, which Stan does not evaluate).</summary>
    public RelativeToleranceCheck Check(IReadOnlyList<TracePoint> trace)
    {
        ArgumentNullException.ThrowIfNull(trace);
        int evaluations = trace.Count - 1;
        if (evaluations < 1) return new RelativeToleranceCheck(trace.Count == 0 ? 0 : trace[^1].Iteration, double.NaN, double.NaN, double.NaN, double.NaN, RelativeToleranceCriterion.None, false);
        int count = Math.Min(Window, evaluations);
        Span<double> changes = count <= 256 ? stackalloc double[count] : new double[count];
        for (int i = 0; i < count; i++) changes[i] = Change(trace, trace.Count - count + i);
        double mean = 0;
        foreach (double c in changes) mean += c;
        mean /= count;
        changes.Sort();
        double median = changes[count / 2];
        var criterion = median < Tolerance ? RelativeToleranceCriterion.Median
            : mean < Tolerance ? RelativeToleranceCriterion.Mean : RelativeToleranceCriterion.None;
        bool diverging = evaluations > 10 && (median > 0.5 || mean > 0.5);
        return new RelativeToleranceCheck(trace[^1].Iteration, Elbo(trace[^1]), Change(trace, trace.Count - 1), mean, median, criterion, diverging);
    }

    private double Elbo(TracePoint p) => LogNormalizer - p.Kl;

    // The change at trace point i ≥ 1: from the previous evaluation, or from Stan's initial ELBO of 0 at the first.
    private double Change(IReadOnlyList<TracePoint> trace, int i)
    {
        double now = Elbo(trace[i]), previous = i == 1 ? 0 : Elbo(trace[i - 1]);
        double change = Math.Abs((previous - now) / now);
        return double.IsNaN(change) ? double.PositiveInfinity : change;
    }
}
