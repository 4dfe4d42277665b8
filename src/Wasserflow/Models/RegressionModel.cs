using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using static Wasserflow.Models.SpecialFunctions;

namespace Wasserflow.Models;

/// <summary>The likelihood of a <see cref="RegressionModel"/>.</summary>
public enum RegressionFamily
{
    /// <summary>y ~ N(t, σ²), σ a parameter (half-normal prior) unless given.</summary>
    Linear,

    /// <summary>y ∈ {0, 1}, P(y = 1) = σ(t).</summary>
    Logistic,

    /// <summary>y ∈ {0, 1, 2, …}, y ~ Poisson(eᵗ).</summary>
    Poisson,
}

/// <summary>How a regression model did on held-out data, averaged over posterior draws.</summary>
/// <param name="Points">Held-out rows.</param>
/// <param name="MeanLogPredictiveDensity">(1/n) Σ_i log (1/S) Σ_s p(y_i | θ_s).</param>
/// <param name="Accuracy">Logistic: the share of rows whose posterior mean P(y = 1) is on the side of 0.5 of y; otherwise null.</param>
/// <param name="Rmse">Linear and Poisson: root mean square error of the posterior mean prediction; otherwise null.</param>
public sealed record PredictiveSummary(int Points, double MeanLogPredictiveDensity, double? Accuracy, double? Rmse);

/// <summary>
/// Generalised linear models with a linear predictor t = α + xᵀβ: linear (Gaussian noise), logistic and Poisson
/// regression, with priors β_j, α ~ N(0, s²) and, for the linear model, σ ~ half-normal(0, s_σ). Log density with
/// every constant, exact gradient, evaluated over the data rows with vector kernels.
/// </summary>
/// <remarks>
/// log p = Σ_i ℓ(y_i, t_i) + Σ_j log N(β_j; 0, s²) [+ log N(α; 0, s²)] [+ log 2 + log N(σ; 0, s_σ²)], with
/// ℓ = −½((y − t)/σ)² − log σ − ½ log 2π (linear), y t − softplus(t) (logistic), y t − eᵗ − log y! (Poisson).
/// ∂ℓ/∂t = (y − t)/σ², y − σ(t), y − eᵗ; ∂ℓ/∂σ = (y − t)²/σ³ − 1/σ.
/// </remarks>
public sealed class RegressionModel : Model, IPredictiveModel, Targets.ITargetWithMeanHessian, Targets.IBatchedTarget, Targets.ILinearPredictorTarget
{
    private readonly double[] _columns; // X column by column (p × n): Xβ and Xᵀw as p long vector operations
    private readonly double[] _rows; // X row by row (n × p), for the batched products
    private readonly double[] _y;
    private readonly double _logFactorials; // Σ log y_i! (Poisson)
    private double[]? _design; // [1, X] row by row (n × d), built for the linear-predictor path when there is an intercept

    private RegressionModel(string name, ParameterLayout layout, RegressionFamily family, double[] x, double[] y, int predictors, bool intercept,
        double priorScale, double sigmaPriorScale, double? knownSigma)
        : base(name, layout)
    {
        Family = family;
        _y = y;
        _columns = DesignData.ColumnMajor(x, y.Length, predictors);
        _rows = x;
        Predictors = predictors;
        Intercept = intercept;
        PriorScale = priorScale;
        SigmaPriorScale = sigmaPriorScale;
        KnownSigma = knownSigma;
        _logFactorials = family == RegressionFamily.Poisson ? y.Sum(v => LogFactorial(v)) : 0;
    }

    /// <summary>The likelihood.</summary>
    public RegressionFamily Family { get; }

    /// <summary>Number of predictors p (columns of the design matrix).</summary>
    public int Predictors { get; }

    /// <summary>Whether the model has an intercept α.</summary>
    public bool Intercept { get; }

    /// <summary>The prior scale s of α and every β_j.</summary>
    public double PriorScale { get; }

    /// <summary>The half-normal prior scale of σ (linear model).</summary>
    public double SigmaPriorScale { get; }

    /// <summary>σ when fixed (linear model), else null.</summary>
    public double? KnownSigma { get; }

    /// <summary>Number of data rows.</summary>
    public int Rows => _y.Length;

    /// <summary>Held-out rows for the posterior predictive (design matrix n×p on the model's scale, responses), or null.</summary>
    public (double[] X, double[] Y)? HeldOut { get; private set; }

    /// <inheritdoc/>
    public (double[] X, double[] Y) Training => ((double[])_rows.Clone(), (double[])_y.Clone());

    /// <summary>How the data were prepared (file, split, standardisation), for reports; empty when built from arrays.</summary>
    public string Provenance { get; private set; } = "";

    /// <summary>
    /// A model on the columns of a CSV table: <paramref name="response"/> as y, <paramref name="predictors"/> (all other
    /// columns when empty; categorical ones one-hot) as the design matrix; a seeded random <paramref name="testFraction"/>
    /// of the rows held out; predictors standardised by the training rows' mean and sd when <paramref name="standardize"/>
    /// (so β is per sd of each predictor).
    /// </summary>
    /// <exception cref="Data.DataFormatException">A column is missing or a cell is bad (file, line and column named).</exception>
    /// <exception cref="ArgumentException">A response outside the family's support, a constant predictor when standardising, or too few rows.</exception>
    public static RegressionModel FromTable(RegressionFamily family, Data.CsvTable table, string response, IReadOnlyList<string> predictors,
        bool intercept, double priorScale, double testFraction, ulong splitSeed, bool standardize)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(predictors);
        double[] y = table.Column(response);
        for (int i = 0; i < y.Length; i++)
            if (!InSupport(family, y[i]))
                throw new ArgumentException($"{table.Path}, line {table.LineOf(i)}, column '{response}': {y[i]} is not {SupportText(family)} ({family.ToString().ToLowerInvariant()} regression).");
        DesignData data = DesignData.Prepare(table, response, y, predictors, testFraction, splitSeed, standardize);
        var model = Create(family, data.TrainX, data.TrainY, intercept, priorScale, predictorNames: data.Names,
            name: $"{family.ToString().ToLowerInvariant()} regression of {response} on {Path.GetFileName(table.Path)}");
        model.HeldOut = data.HeldOut;
        model.Provenance = data.Provenance + (intercept ? "; with an intercept" : "; no intercept")
            + $"; priors N(0, {priorScale}²) on every coefficient" + (family == RegressionFamily.Linear ? $", half-normal(0, {priorScale}) on sigma" : "");
        return model;
    }

    /// <summary>
    /// A model on data: <paramref name="x"/> is the n×p design matrix (row-major, no intercept column),
    /// <paramref name="y"/> the n responses.
    /// </summary>
    /// <exception cref="ArgumentException">Sizes disagree, a value is not finite, a response is outside the family's support, or a scale is not positive (the message names it).</exception>
    public static RegressionModel Create(RegressionFamily family, double[] x, double[] y, bool intercept = true, double priorScale = 10,
        double? sigmaPriorScale = null, double? knownSigma = null, string? name = null, IReadOnlyList<string>? predictorNames = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        int n = y.Length;
        if (n == 0) throw new ArgumentException("the data have no rows.");
        if (x.Length % n != 0) throw new ArgumentException($"the design matrix holds {x.Length} numbers, not a multiple of the {n} responses.");
        int p = x.Length / n;
        if (p == 0 && !intercept) throw new ArgumentException("the model has no parameter: give predictors or an intercept.");
        if (!TensorPrimitives.IsFiniteAll<double>(x)) throw new ArgumentException("the design matrix has a non-finite value.");
        if (!(priorScale > 0) || !double.IsFinite(priorScale)) throw new ArgumentException($"the prior scale must be > 0 and finite, got {priorScale}.");
        double sigmaScale = sigmaPriorScale ?? priorScale;
        if (!(sigmaScale > 0) || !double.IsFinite(sigmaScale)) throw new ArgumentException($"the prior scale of sigma must be > 0 and finite, got {sigmaScale}.");
        if (knownSigma is { } ks && (!(ks > 0) || !double.IsFinite(ks))) throw new ArgumentException($"a known sigma must be > 0 and finite, got {ks}.");
        for (int i = 0; i < n; i++)
            if (!InSupport(family, y[i]))
                throw new ArgumentException($"response {i + 1} is {y[i]}; {family.ToString().ToLowerInvariant()} regression needs {SupportText(family)}.");
        var blocks = new List<ParameterBlock>();
        if (intercept) blocks.Add(new ParameterBlock("alpha", 1, Constraint.Real));
        if (predictorNames is not null && predictorNames.Count != p) throw new ArgumentException($"{predictorNames.Count} predictor names for {p} predictors.");
        if (p > 0) blocks.Add(new ParameterBlock("beta", p, Constraint.Real, predictorNames));
        if (family == RegressionFamily.Linear && knownSigma is null) blocks.Add(new ParameterBlock("sigma", 1, Constraint.Positive));
        return new RegressionModel(name ?? family.ToString().ToLowerInvariant() + " regression", new ParameterLayout(blocks), family, (double[])x.Clone(),
            (double[])y.Clone(), p, intercept, priorScale, sigmaScale, knownSigma);
    }


    /// <summary>log p(θ, data) on the constrained parameters θ = (α, β, σ) as laid out, writing ∂/∂θ.</summary>
    public override double ConstrainedLogDensity(ReadOnlySpan<double> theta, Span<double> gradient)
    {
        int n = Rows, p = Predictors;
        int b0 = Intercept ? 1 : 0;
        double alpha = Intercept ? theta[0] : 0;
        ReadOnlySpan<double> beta = theta.Slice(b0, p);
        double sigma = Family == RegressionFamily.Linear ? KnownSigma ?? theta[b0 + p] : 1;
        double[] rented = ArrayPool<double>.Shared.Rent(2 * n);
        try
        {
            Span<double> w = rented.AsSpan(0, n); // ∂ℓ_i/∂t_i
            Span<double> linear = rented.AsSpan(n, n); // t_i, then scratch
            linear.Fill(alpha);
            for (int j = 0; j < p; j++) TensorPrimitives.MultiplyAdd(_columns.AsSpan(j * n, n), beta[j], linear, linear);
            double value = Likelihood(linear, w, sigma, out double sumSquares);

            gradient.Clear();
            double s2 = PriorScale * PriorScale;
            if (Intercept)
            {
                double sum = 0;
                for (int i = 0; i < n; i++) sum += w[i];
                gradient[0] = sum - alpha / s2;
                value += -0.5 * alpha * alpha / s2 - Math.Log(PriorScale) - HalfLog2Pi;
            }
            if (p > 0)
            {
                Span<double> gb = gradient.Slice(b0, p);
                for (int j = 0; j < p; j++) gb[j] = LinearAlgebra.Reductions.Dot(_columns.AsSpan(j * n, n), w) - beta[j] / s2;
                value += -0.5 * LinearAlgebra.Reductions.SumOfSquares(beta) / s2 - p * (Math.Log(PriorScale) + HalfLog2Pi);
            }
            if (Family == RegressionFamily.Linear && KnownSigma is null)
            {
                double ss = SigmaPriorScale;
                gradient[b0 + p] = sumSquares / (sigma * sigma * sigma) - n / sigma - sigma / (ss * ss);
                value += Math.Log(2) - Math.Log(ss) - HalfLog2Pi - 0.5 * sigma * sigma / (ss * ss);
            }
            return value;
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }

    /// <summary>Whether <see cref="MeanHessian"/> applies: every parameter is a coefficient (logistic, Poisson, or linear with σ known).</summary>
    public bool HasMeanHessian => Family != RegressionFamily.Linear || KnownSigma is not null;

    /// <summary>
    /// (1/P) Σ_n ∇²log p(θ_n, data) = −X̃ᵀ diag(w̄) X̃ − I/s², X̃ the design with its intercept column, w̄_i the mean over the
    /// points of −∂²ℓ/∂t² at row i: σ(t)(1 − σ(t)) (logistic), eᵗ (Poisson), 1/σ² (linear, σ known). One pass over the
    /// rows per point for t, then one n·d² product, whatever the number of points.
    /// </summary>
    /// <exception cref="NotSupportedException">The linear model with σ a parameter.</exception>
    public void MeanHessian(ReadOnlySpan<double> points, int count, Span<double> hessian)
    {
        if (!HasMeanHessian) throw new NotSupportedException("the mean Hessian needs every parameter to be a coefficient (σ known for the linear model).");
        int n = Rows, p = Predictors, d = Dimension, b0 = Intercept ? 1 : 0;
        if (count < 1 || points.Length < count * d || hessian.Length < d * d) throw new ArgumentException("buffers are smaller than count × dimension and dimension².");
        double[] rented = ArrayPool<double>.Shared.Rent(2 * n);
        try
        {
            Span<double> curvature = rented.AsSpan(0, n), t = rented.AsSpan(n, n);
            curvature.Clear();
            if (Family == RegressionFamily.Linear) curvature.Fill(1 / (KnownSigma!.Value * KnownSigma.Value));
            else
                for (int c = 0; c < count; c++)
                {
                    ReadOnlySpan<double> theta = points.Slice(c * d, d);
                    t.Fill(Intercept ? theta[0] : 0);
                    for (int j = 0; j < p; j++) TensorPrimitives.MultiplyAdd(_columns.AsSpan(j * n, n), theta[b0 + j], t, t);
                    if (Family == RegressionFamily.Poisson) LinearAlgebra.VectorMath.Exp(t, t);
                    else
                    {
                        // σ(t)(1 − σ(t)) = e/(1 + e)² with e = e^{−|t|}: no overflow either way.
                        TensorPrimitives.Abs(t, t);
                        TensorPrimitives.Negate(t, t);
                        LinearAlgebra.VectorMath.Exp(t, t);
                        for (int i = 0; i < n; i++) t[i] = t[i] / ((1 + t[i]) * (1 + t[i]));
                    }
                    TensorPrimitives.MultiplyAdd(t, 1.0 / count, curvature, curvature);
                }
            // −X̃ᵀ diag(w̄) X̃: column j of X̃ is 1 (the intercept) or _columns[j]; t holds w̄ ⊙ column a.
            for (int a = 0; a < d; a++)
            {
                if (a < b0) curvature.CopyTo(t);
                else TensorPrimitives.Multiply(_columns.AsSpan((a - b0) * n, n), curvature, t);
                for (int b = 0; b <= a; b++)
                {
                    double h = -(b < b0 ? LinearAlgebra.Reductions.Sum(t) : LinearAlgebra.Reductions.Dot(_columns.AsSpan((b - b0) * n, n), t));
                    hessian[a * d + b] = h;
                    hessian[b * d + a] = h;
                }
                hessian[a * d + a] -= 1 / (PriorScale * PriorScale);
            }
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }

    // Σ_i ℓ(y_i, t_i) with every constant, writing w_i = ∂ℓ/∂t_i; t (the linear predictor) is used as scratch. For the
    // linear model also Σ (y − t)², which σ's gradient needs.
    private double Likelihood(Span<double> linear, Span<double> w, double sigma, out double sumSquares)
    {
        int n = Rows;
        double value = 0;
        sumSquares = 0;
        switch (Family)
        {
            case RegressionFamily.Linear:
                for (int i = 0; i < n; i++)
                {
                    double r = _y[i] - linear[i];
                    sumSquares += r * r;
                    w[i] = r / (sigma * sigma);
                }
                value = -0.5 * sumSquares / (sigma * sigma) - n * (Math.Log(sigma) + HalfLog2Pi);
                break;
            case RegressionFamily.Logistic:
                // ℓ = y t − softplus(t), softplus(t) = max(t, 0) + log(1 + e^{−|t|}); ∂ℓ/∂t = y − σ(t) with
                // σ(t) = 1/(1 + e^{−|t|}) for t ≥ 0 and e^{−|t|}/(1 + e^{−|t|}) below: one vectorised exp and log per row.
                value = LinearAlgebra.Reductions.Dot(_y, linear);
                TensorPrimitives.Abs(linear, w);
                TensorPrimitives.Negate(w, w);
                LinearAlgebra.VectorMath.Exp(w, w); // e = e^{−|t|} ∈ (0, 1]
                value -= LogisticResiduals(_y, linear, w);
                LinearAlgebra.VectorMath.Log(linear, linear);
                value -= LinearAlgebra.Reductions.Sum(linear);
                break;
            default:
                value = LinearAlgebra.Reductions.Dot(_y, linear);
                LinearAlgebra.VectorMath.Exp(linear, linear);
                value -= LinearAlgebra.Reductions.Sum(linear);
                TensorPrimitives.Subtract(_y, linear, w);
                value -= _logFactorials;
                break;
        }
        return value;
    }

    // w_i ← y_i − (t_i ≥ 0 ? 1 : e_i)/(1 + e_i) and t_i ← 1 + e_i, where w holds e_i = e^{−|t_i|} on entry, four rows
    // per vector; returns Σ_i max(t_i, 0) in a fixed order (one vector accumulator, then the scalar tail).
    private static double LogisticResiduals(ReadOnlySpan<double> y, Span<double> linear, Span<double> w)
    {
        int n = linear.Length, i = 0;
        double positive = 0;
        if (LinearAlgebra.VectorKernels.FixedLanes && n >= 4)
        {
            var one = Vector256.Create(1.0);
            var sum = Vector256<double>.Zero;
            for (; i + 3 < n; i += 4)
            {
                var e = Vector256.Create(w.Slice(i, 4));
                var t = Vector256.Create(linear.Slice(i, 4));
                var denominator = one + e;
                sum += Vector256.Max(t, Vector256<double>.Zero);
                var numerator = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(t, Vector256<double>.Zero), one, e);
                Vector256.StoreUnsafe(Vector256.Create(y.Slice(i, 4)) - numerator / denominator, ref w[i]);
                Vector256.StoreUnsafe(denominator, ref linear[i]);
            }
            positive = LinearAlgebra.Gemm.HorizontalSum(sum);
        }
        for (; i < n; i++)
        {
            double e = w[i], t = linear[i];
            positive += Math.Max(t, 0);
            w[i] = y[i] - (t >= 0 ? 1 : e) / (1 + e);
            linear[i] = 1 + e;
        }
        return positive;
    }

    /// <summary>
    /// Many points at once (the flows' 2d cubature points, an IBW step's N·B draws): the linear predictors of all of them
    /// as one matrix product T = Θ Xᵀ and the coefficient gradients as one product W X, so the data stream through the
    /// cache once per batch instead of once per point. A model with a constrained parameter (σ) evaluates point by point.
    /// A point's numbers depend only on its place in the batch modulo 4, so the thread chunks of
    /// <see cref="Targets.TargetEvaluator"/> (multiples of 4) give the same bits as one batch.
    /// </summary>
    public void LogDensityAndGradientBatch(ReadOnlySpan<double> points, int count, Span<double> logDensities, Span<double> gradients)
    {
        int d = Dimension;
        if (points.Length < count * d || gradients.Length < count * d || logDensities.Length < count)
            throw new ArgumentException("Buffers are smaller than count × dimension.");
        if (!Layout.IsUnconstrained || Predictors == 0)
        {
            for (int c = 0; c < count; c++) logDensities[c] = LogDensityAndGradient(points.Slice(c * d, d), gradients.Slice(c * d, d));
            return;
        }
        int n = Rows, p = Predictors, b0 = Intercept ? 1 : 0;
        double s2 = PriorScale * PriorScale, prior = -d * (Math.Log(PriorScale) + HalfLog2Pi);
        double[] rented = ArrayPool<double>.Shared.Rent(count * p + 2 * count * n + count * p);
        try
        {
            Span<double> beta = rented.AsSpan(0, count * p), t = rented.AsSpan(count * p, count * n), w = rented.AsSpan(count * (p + n), count * n);
            Span<double> gb = rented.AsSpan(count * (p + 2 * n), count * p);
            for (int c = 0; c < count; c++) points.Slice(c * d + b0, p).CopyTo(beta.Slice(c * p, p));
            LinearAlgebra.Gemm.Multiply(beta, p, 1, count, p, _columns, n, t); // t_c = X β_c, one row per point (outer-product form over Xᵀ)
            for (int c = 0; c < count; c++)
            {
                ReadOnlySpan<double> point = points.Slice(c * d, d);
                Span<double> tc = t.Slice(c * n, n);
                if (b0 == 1) TensorPrimitives.Add(tc, point[0], tc);
                logDensities[c] = Likelihood(tc, w.Slice(c * n, n), KnownSigma ?? 1, out _) - 0.5 * LinearAlgebra.Reductions.SumOfSquares(point) / s2 + prior;
            }
            LinearAlgebra.Gemm.Multiply(w, n, 1, count, n, _rows, p, gb); // ∇_β = Xᵀ w_c for every point at once
            for (int c = 0; c < count; c++)
            {
                ReadOnlySpan<double> point = points.Slice(c * d, d);
                Span<double> g = gradients.Slice(c * d, d);
                if (b0 == 1) g[0] = LinearAlgebra.Reductions.Sum(w.Slice(c * n, n)) - point[0] / s2;
                for (int j = 0; j < p; j++) g[b0 + j] = gb[c * p + j] - point[b0 + j] / s2;
            }
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }

    /// <summary>n, the data rows: every row's predictor is (1, x_i)ᵀ(α, β) (x_iᵀβ without an intercept).</summary>
    int Targets.ILinearPredictorTarget.PredictorCount => Rows;

    /// <summary>1/s², the precision of the N(0, s²) prior on every coefficient (the intercept's included).</summary>
    public double PriorPrecision => 1.0 / (PriorScale * PriorScale);

    /// <summary>
    /// Whether every parameter is a coefficient (logistic, Poisson, or linear with σ known), so that the log density is
    /// a sum of terms of linear predictors plus the Gaussian prior: the form the Gaussian flow's data-streaming path needs.
    /// </summary>
    public bool HasLinearPredictors => Layout.IsUnconstrained;

    /// <summary>The normalisers: −d (log s + ½ log 2π) of the prior, −n (log σ + ½ log 2π) (linear) or −Σ log y_i! (Poisson).</summary>
    public double LogConstant =>
        -Dimension * (Math.Log(PriorScale) + HalfLog2Pi) + Family switch
        {
            RegressionFamily.Linear => -Rows * (Math.Log(KnownSigma ?? 1) + HalfLog2Pi),
            RegressionFamily.Poisson => -_logFactorials,
            _ => 0,
        };

    /// <inheritdoc/>
    void Targets.ILinearPredictorTarget.Predictors(ReadOnlySpan<double> directions, int count, int first, int rows, Span<double> predictors) =>
        Targets.LinearPredictorTerms.Predictors(Design(), Dimension, directions, count, first, rows, predictors);

    /// <inheritdoc/>
    double Targets.ILinearPredictorTarget.Likelihood(int first, ReadOnlySpan<double> predictors, Span<double> derivatives) =>
        RowsLikelihood(first, predictors, derivatives, withValue: true);

    /// <inheritdoc/>
    void Targets.ILinearPredictorTarget.LikelihoodDerivatives(int first, ReadOnlySpan<double> predictors, Span<double> derivatives) =>
        RowsLikelihood(first, predictors, derivatives, withValue: false);

    /// <inheritdoc/>
    void Targets.ILinearPredictorTarget.AddPullBack(ReadOnlySpan<double> weights, int count, int first, int rows, Span<double> result) =>
        Targets.LinearPredictorTerms.AddPullBack(Design(), Dimension, weights, count, first, rows, result);

    private double RowsLikelihood(int first, ReadOnlySpan<double> predictors, Span<double> derivatives, bool withValue)
    {
        RequireLinearPredictors();
        (Targets.LinearPredictorTerms.Kind kind, double precision) = Family switch
        {
            RegressionFamily.Logistic => (Targets.LinearPredictorTerms.Kind.Logistic, 0.0),
            RegressionFamily.Poisson => (Targets.LinearPredictorTerms.Kind.Poisson, 0.0),
            _ => (Targets.LinearPredictorTerms.Kind.Gaussian, 1.0 / (KnownSigma!.Value * KnownSigma.Value)),
        };
        return Targets.LinearPredictorTerms.Rows(kind, _y, first, predictors, derivatives, precision, withValue);
    }

    // A model with σ unknown is not a sum of predictor terms: asking it for the pieces is an error.
    private void RequireLinearPredictors()
    {
        if (!HasLinearPredictors) throw new InvalidOperationException($"'{Name}' has a parameter outside its linear predictors (σ): it is not a sum of predictor terms.");
    }

    // The design row by row: X itself without an intercept; with one, [1, X], built on first use (a copy of the data only
    // for this path).
    private double[] Design()
    {
        RequireLinearPredictors();
        if (!Intercept) return _rows;
        if (_design is { } built) return built;
        int n = Rows, p = Predictors, d = Dimension;
        var design = new double[n * d];
        for (int i = 0; i < n; i++)
        {
            design[i * d] = 1;
            _rows.AsSpan(i * p, p).CopyTo(design.AsSpan(i * d + 1, p));
        }
        System.Threading.Volatile.Write(ref _design, design);
        return design;
    }

    /// <summary>
    /// The posterior predictive on held-out rows (<paramref name="x"/> n×p, <paramref name="y"/>), from
    /// <paramref name="count"/> draws of the constrained parameters (rows of <paramref name="draws"/>).
    /// </summary>
    public PredictiveSummary Predict(ReadOnlySpan<double> draws, int count, double[] x, double[] y)
    {
        DesignData.CheckPredictArguments(draws, count, x, y, Predictors, Dimension);
        int n = y.Length, p = Predictors, d = Dimension, b0 = Intercept ? 1 : 0;
        double lpd = 0, squares = 0;
        int correct = 0;
        var logLik = new double[count];
        for (int i = 0; i < n; i++)
        {
            double meanPrediction = 0;
            for (int s = 0; s < count; s++)
            {
                ReadOnlySpan<double> theta = draws.Slice(s * d, d);
                double t = (Intercept ? theta[0] : 0) + (p > 0 ? LinearAlgebra.Reductions.Dot(x.AsSpan(i * p, p), theta.Slice(b0, p)) : 0);
                switch (Family)
                {
                    case RegressionFamily.Linear:
                        double sigma = KnownSigma ?? theta[b0 + p];
                        double r = (y[i] - t) / sigma;
                        logLik[s] = -0.5 * r * r - Math.Log(sigma) - HalfLog2Pi;
                        meanPrediction += t;
                        break;
                    case RegressionFamily.Logistic:
                        logLik[s] = y[i] * t - Softplus(t);
                        meanPrediction += Sigmoid(t);
                        break;
                    default:
                        logLik[s] = y[i] * t - Math.Exp(t) - LogFactorial(y[i]);
                        meanPrediction += Math.Exp(t);
                        break;
                }
            }
            meanPrediction /= count;
            lpd += Targets.GaussianMixtureTarget.LogSumExp(logLik) - Math.Log(count);
            if (Family == RegressionFamily.Logistic) correct += (meanPrediction >= 0.5) == (y[i] == 1) ? 1 : 0;
            else squares += (y[i] - meanPrediction) * (y[i] - meanPrediction);
        }
        return new PredictiveSummary(n, lpd / n, Family == RegressionFamily.Logistic ? (double)correct / n : null,
            Family == RegressionFamily.Logistic ? null : Math.Sqrt(squares / n));
    }

    /// <summary>The model in one line: family, rows, predictors, prior scale.</summary>
    public override string ToString() => $"{Name}: n = {Rows}, p = {Predictors}{(Intercept ? " + intercept" : "")}, prior scale {PriorScale}";

    private static bool InSupport(RegressionFamily family, double v) => family switch
    {
        RegressionFamily.Linear => double.IsFinite(v),
        RegressionFamily.Logistic => v is 0 or 1,
        _ => v >= 0 && v == Math.Floor(v) && double.IsFinite(v),
    };

    private static string SupportText(RegressionFamily family) => family switch
    {
        RegressionFamily.Linear => "a finite number",
        RegressionFamily.Logistic => "0 or 1",
        _ => "a count 0, 1, 2, …",
    };

    private static double LogFactorial(double k) => k < 2 ? 0 : LogGamma(k + 1);



}
