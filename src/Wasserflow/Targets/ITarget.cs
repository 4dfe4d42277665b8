namespace Wasserflow.Targets;

/// <summary>
/// A target distribution pi ∝ exp(−V) on R^d, given by its log density up to a constant and its gradient.
/// </summary>
/// <remarks>
/// Implementations must be safe to call from several threads at once (the estimators evaluate batches in parallel):
/// keep scratch space on the stack or rent it per call. A flow that needs more (a Hessian) checks for the capability
/// up front. Non-finite values returned by a target are caught by <see cref="TargetEvaluator"/> and reported with the
/// target's name and the point.
/// </remarks>
public interface ITarget
{
    /// <summary>Dimension d of the space.</summary>
    int Dimension { get; }

    /// <summary>A short name used in messages and reports.</summary>
    string Name { get; }

    /// <summary>
    /// log Z where Z = ∫ exp(<see cref="LogDensity"/>): 0 for a normalised density, null when unknown. When known, KL
    /// estimates are true KL divergences; otherwise they are KL − log Z.
    /// </summary>
    double? LogNormalizer { get; }

    /// <summary>log pi(x) up to the constant <see cref="LogNormalizer"/>. Requires x.Length == Dimension.</summary>
    double LogDensity(ReadOnlySpan<double> x);

    /// <summary>Writes ∇log pi(x) = −∇V(x) into <paramref name="gradient"/> and returns log pi(x).</summary>
    double LogDensityAndGradient(ReadOnlySpan<double> x, Span<double> gradient);
}

/// <summary>Thrown when a target returns a non-finite log density or gradient, or is called with a wrong dimension.</summary>
public sealed class TargetEvaluationException(string message) : Exception(message);

/// <summary>
/// A target that also provides the Hessian of its log density (needed by Bures–Wasserstein SGD and the Laplace
/// approximation; flows check for this capability up front and say so when it is missing).
/// </summary>
public interface ITargetWithHessian : ITarget
{
    /// <summary>
    /// Writes ∇log pi(x) into <paramref name="gradient"/> and ∇²log pi(x) = −∇²V(x) (d×d row-major) into
    /// <paramref name="hessian"/>; returns log pi(x).
    /// </summary>
    double LogDensityGradientAndHessian(ReadOnlySpan<double> x, Span<double> gradient, Span<double> hessian);
}

/// <summary>
/// A target that averages its Hessian over many points in one pass — for a generalised linear model
/// (1/P) Σ_n ∇²log pi(x_n) = −Xᵀ diag(w̄) X − prior precision with w̄_i the mean curvature of row i, one n×d² product
/// however many points — for the Hessian form of the Gaussian Bures–Wasserstein flow.
/// </summary>
public interface ITargetWithMeanHessian : ITarget
{
    /// <summary>Whether <see cref="MeanHessian"/> is available for this instance (a model may offer it only for some settings).</summary>
    bool HasMeanHessian { get; }

    /// <summary>Writes (1/<paramref name="count"/>) Σ_n ∇²log pi(x_n) (d×d row-major, symmetric) for the rows x_n of <paramref name="points"/>.</summary>
    /// <exception cref="NotSupportedException"><see cref="HasMeanHessian"/> is false.</exception>
    void MeanHessian(ReadOnlySpan<double> points, int count, Span<double> hessian);
}

/// <summary>
/// A target that can tell whether exp(log pi) is normalisable at all (a flat-prior posterior on separable data is
/// not). Laplace and the experiments ask before fitting, so an improper target gets a message instead of a drifting fit.
/// </summary>
public interface ITargetWithPropriety : ITarget
{
    /// <summary>True when the density is proper; otherwise false with <paramref name="reason"/> saying why, naming the target.</summary>
    bool CheckProper(out string? reason);
}

/// <summary>
/// A target with a faster batched evaluation than point by point (e.g. logistic regression as matrix products).
/// <see cref="TargetEvaluator"/> uses it when present and still checks every value for finiteness.
/// </summary>
public interface IBatchedTarget : ITarget
{
    /// <summary>
    /// Writes log pi and ∇log pi at <paramref name="count"/> points (rows of a count×d row-major buffer) into
    /// <paramref name="logDensities"/> and <paramref name="gradients"/> (count×d). Same values as
    /// <see cref="ITarget.LogDensityAndGradient"/> up to round-off.
    /// </summary>
    void LogDensityAndGradientBatch(ReadOnlySpan<double> points, int count, Span<double> logDensities, Span<double> gradients);
}

/// <summary>
/// A target whose log density is a sum of terms of linear predictors plus a Gaussian prior:
/// log pi(z) = Σ_i ℓ_i(x_iᵀz) − (λ/2)‖z‖² + const, with covariates x_i (n of them) — generalised linear models such as
/// logistic regression. Flows that evaluate the target at points on lines through a common centre (cubature:
/// m ± √d R e_i) use it to form every predictor from X m and X R e_i and every gradient difference from one
/// product Xᵀ W, instead of 2d products with X each way. Every piece works on a range of data rows, so a caller can
/// go through the data in blocks that stay in cache (X read once per evaluation, not once per point).
/// </summary>
public interface ILinearPredictorTarget : ITarget
{
    /// <summary>n, the number of predictors (data rows).</summary>
    int PredictorCount { get; }

    /// <summary>λ ≥ 0, the precision of the N(0, I/λ) prior (0: flat).</summary>
    double PriorPrecision { get; }

    /// <summary>
    /// Whether this instance has that form: a model type may have it only in some configurations (a linear regression
    /// with an unknown noise scale has a parameter outside the predictors, and answers false). True unless overridden.
    /// </summary>
    bool HasLinearPredictors => true;

    /// <summary>
    /// The constant c of log pi(z) = Σ_i ℓ_i(x_iᵀz) − (λ/2)‖z‖² + c as <see cref="ITarget.LogDensity"/> defines it (the
    /// prior's and the likelihood's normalisers), so that the pieces add up to the log density itself. 0 unless overridden.
    /// </summary>
    double LogConstant => 0;

    /// <summary>
    /// predictors[k·rows + r] = x_{first+r}ᵀ z_k for the <paramref name="count"/> rows z_k of <paramref name="directions"/>
    /// (count×d) and the data rows first … first + rows − 1.
    /// </summary>
    void Predictors(ReadOnlySpan<double> directions, int count, int first, int rows, Span<double> predictors);

    /// <summary>
    /// Σ_r ℓ_{first+r}(t_r) over the predictors t of the data rows first … first + t.Length − 1, writing ℓ'(t_r) into
    /// <paramref name="derivatives"/>.
    /// </summary>
    double Likelihood(int first, ReadOnlySpan<double> predictors, Span<double> derivatives);

    /// <summary>
    /// The derivatives of <see cref="Likelihood"/> alone (the same numbers, bit for bit), for callers that do not need
    /// the sum: it spares a logarithm per row where the likelihood has one.
    /// </summary>
    void LikelihoodDerivatives(int first, ReadOnlySpan<double> predictors, Span<double> derivatives);

    /// <summary>
    /// result[k·d + j] += Σ_r weights[k·rows + r] x_{first+r, j} for <paramref name="count"/> weight vectors: Xᵀw_k over
    /// the data rows first … first + rows − 1, added to what result holds.
    /// </summary>
    void AddPullBack(ReadOnlySpan<double> weights, int count, int first, int rows, Span<double> result);
}
