using Wasserflow.Diagnostics;
using Wasserflow.Randomness;

namespace Wasserflow.Flows;

/// <summary>The state an algorithm carries from step to step: parameters, iteration count and RNG position.</summary>
/// <typeparam name="TSelf">The state type itself.</typeparam>
public interface IFlowState<TSelf> where TSelf : IFlowState<TSelf>
{
    /// <summary>Number of steps taken so far.</summary>
    long Iteration { get; }

    /// <summary>An independent deep copy (parameters and RNG position).</summary>
    TSelf Clone();

    /// <summary>
    /// The largest standard deviation of any component along any coordinate (how spread out the fit is), used to tell
    /// a blow-up; NaN when the family has no such number.
    /// </summary>
    double Spread { get; }

    /// <summary>
    /// The fit's mean and marginal standard deviations as one array [mean₁…mean_d, sd₁…sd_d] (a mixture's overall
    /// moments), for the stop rules' parameter-change criterion; null when the family has no such numbers.
    /// </summary>
    double[]? Moments() => null;

    /// <summary>Writes the whole state (the exact bits of every number, counters and RNG position) for a checkpoint.</summary>
    void Write(BinaryWriter writer);

    /// <summary>Reads a state written by <see cref="Write"/>.</summary>
    /// <exception cref="Data.DataFormatException">The data is not a state of this kind.</exception>
    static abstract TSelf Read(BinaryReader reader);
}

/// <summary>What one step reports to the run loop and its observers.</summary>
/// <param name="Iteration">The iteration count after the step.</param>
/// <param name="ObjectiveEstimate">The step's own noisy estimate of KL(q‖pi) − log Z, from its gradient draws (before the update).</param>
/// <param name="StepNorm">Euclidean norm of the parameter change.</param>
/// <param name="Evaluation">An estimate of the objective on fresh draws, when the flow made one after this step (its
/// own schedule, e.g. RoVI's F̂ every m iterations); NaN otherwise. Stop rules read it.</param>
public readonly record struct StepInfo(long Iteration, double ObjectiveEstimate, double StepNorm, double Evaluation = double.NaN);

/// <summary>
/// One update rule of a variational algorithm: <see cref="Step"/> advances a state in place by one iteration, and
/// <see cref="EstimateKl"/> measures the fit of a state. The run loop (<see cref="Running.VariationalRunner"/>) owns
/// iterations, observers and stopping.
/// </summary>
/// <typeparam name="TState">The algorithm's state.</typeparam>
public interface IVariationalFlow<TState> where TState : IFlowState<TState>
{
    /// <summary>Short algorithm name (as on the command line).</summary>
    string Name { get; }

    /// <summary>Advances <paramref name="state"/> by one step. On failure the state is left as it was before the step.</summary>
    /// <exception cref="FlowDivergedException">The update produced an invalid value (a non-positive or non-finite variance).</exception>
    /// <exception cref="Targets.TargetEvaluationException">The target returned a non-finite value.</exception>
    StepInfo Step(TState state);

    /// <summary>A Monte Carlo estimate of KL(q‖pi) for the distribution held by <paramref name="state"/>.</summary>
    KlEstimate EstimateKl(TState state, Xoshiro256StarStar rng, int draws);
}

/// <summary>An update left the valid parameter set; the message names the iteration and the component.</summary>
public sealed class FlowDivergedException(string message, long iteration, int component) : Exception(message)
{
    /// <summary>The iteration whose update failed (1-based: the step that would have produced it).</summary>
    public long Iteration { get; } = iteration;

    /// <summary>The component whose parameters became invalid.</summary>
    public int Component { get; } = component;
}
