using System.Buffers;
using System.Globalization;
using System.Numerics.Tensors;
using static Wasserflow.Models.SpecialFunctions;

namespace Wasserflow.Models;

/// <summary>
/// A Bayesian neural network for regression (paper 000, Appendix E.5.1): y ~ N(f(x), σ²) with σ² known and
/// f(x) = w₂ · relu(W₁ x + b₁) + b₂, one hidden layer of h ReLU units; priors N(0, s²) on every weight and bias,
/// constants kept. d = h(p + 1) + (h + 1), the paper's h(d_data + 1) + c(h + 1) with c = 1.
/// </summary>
/// <remarks>
/// Parameters in the order W₁ (h × p, unit-major), b₁ (h), w₂ (h), b₂. Backward pass: r_i = (y_i − f_i)/σ²;
/// ∂/∂w₂ₖ = Σ_i r_i a_ik, ∂/∂b₂ = Σ_i r_i, δ_ik = r_i w₂ₖ [z_ik &gt; 0], ∂/∂W₁ₖⱼ = Σ_i δ_ik x_ij, ∂/∂b₁ₖ = Σ_i δ_ik. The rows
/// are held column by column, so each unit's pre-activations are p vector updates over the n rows.
/// </remarks>
public sealed class NeuralRegressionModel : Model, IPredictiveModel
{
    private readonly double[] _columns; // X column by column (p × n)
    private readonly double[] _y;

    private NeuralRegressionModel(string name, ParameterLayout layout, double[] x, double[] y, int predictors, int hidden, double noiseVariance, double priorScale)
        : base(name, layout)
    {
        _y = y;
        _columns = DesignData.ColumnMajor(x, y.Length, predictors);
        Predictors = predictors;
        Hidden = hidden;
        NoiseVariance = noiseVariance;
        PriorScale = priorScale;
    }

    /// <summary>Number of inputs p.</summary>
    public int Predictors { get; }

    /// <summary>Hidden units h.</summary>
    public int Hidden { get; }

    /// <summary>The known noise variance σ².</summary>
    public double NoiseVariance { get; }

    /// <summary>The prior scale s of every weight and bias.</summary>
    public double PriorScale { get; }

    /// <summary>Number of training rows.</summary>
    public int Rows => _y.Length;

    /// <inheritdoc/>
    public (double[] X, double[] Y)? HeldOut { get; private set; }

    /// <inheritdoc/>
    public string Provenance { get; private set; } = "";

    /// <inheritdoc/>
    public (double[] X, double[] Y) Training => (DesignData.RowMajor(_columns, Rows, Predictors), (double[])_y.Clone());

    /// <summary>A network on an n×p design matrix (row-major) and n responses.</summary>
    /// <exception cref="ArgumentException">Sizes disagree, a value is not finite, or a setting is out of range (named).</exception>
    public static NeuralRegressionModel Create(double[] x, double[] y, int hidden = 50, double noiseVariance = 10, double priorScale = 10,
        IReadOnlyList<string>? predictorNames = null, string name = "neural-network regression")
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        int n = y.Length;
        if (n == 0 || x.Length % n != 0) throw new ArgumentException($"the design matrix holds {x.Length} numbers for {n} responses.");
        int p = x.Length / n;
        if (p == 0) throw new ArgumentException("the network needs at least one predictor.");
        if (hidden < 1 || hidden > 100_000) throw new ArgumentException($"hidden units must be between 1 and 100000, got {hidden}.");
        if (!(noiseVariance > 0) || !double.IsFinite(noiseVariance)) throw new ArgumentException($"the noise variance must be > 0 and finite, got {noiseVariance}.");
        if (!(priorScale > 0) || !double.IsFinite(priorScale)) throw new ArgumentException($"the prior scale must be > 0 and finite, got {priorScale}.");
        if (!TensorPrimitives.IsFiniteAll<double>(x) || !TensorPrimitives.IsFiniteAll<double>(y)) throw new ArgumentException("the data have a non-finite value.");
        string[] names = [.. predictorNames ?? Enumerable.Range(1, p).Select(j => j.ToString(CultureInfo.InvariantCulture))];
        var units = Enumerable.Range(1, hidden).Select(k => k.ToString(CultureInfo.InvariantCulture)).ToArray();
        var layout = new ParameterLayout(
            new ParameterBlock("w1", hidden * p, Constraint.Real, [.. units.SelectMany(k => names.Select(j => $"{k}, {j}"))]),
            new ParameterBlock("b1", hidden, Constraint.Real, units),
            new ParameterBlock("w2", hidden, Constraint.Real, units),
            new ParameterBlock("b2", 1, Constraint.Real));
        return new NeuralRegressionModel(name, layout, (double[])x.Clone(), (double[])y.Clone(), p, hidden, noiseVariance, priorScale);
    }

    /// <summary>A network on the columns of a CSV table, prepared as <see cref="DesignData.Prepare"/> does (the response in its own units).</summary>
    /// <exception cref="Data.DataFormatException">A column is missing or a cell is bad (file, line and column named).</exception>
    public static NeuralRegressionModel FromTable(Data.CsvTable table, string response, IReadOnlyList<string> predictors, int hidden, double noiseVariance,
        double priorScale, double testFraction, ulong splitSeed, bool standardize)
    {
        ArgumentNullException.ThrowIfNull(table);
        double[] y = table.Column(response);
        DesignData data = DesignData.Prepare(table, response, y, predictors, testFraction, splitSeed, standardize);
        var model = Create(data.TrainX, data.TrainY, hidden, noiseVariance, priorScale, data.Names,
            $"neural-network regression of {response} on {Path.GetFileName(table.Path)}");
        model.HeldOut = data.HeldOut;
        model.Provenance = data.Provenance + $"; one hidden layer of {hidden} ReLU units, noise variance {noiseVariance.ToString(CultureInfo.InvariantCulture)}"
            + $"; priors N(0, {priorScale.ToString(CultureInfo.InvariantCulture)}²) on every weight and bias";
        return model;
    }

    /// <inheritdoc/>
    public override double ConstrainedLogDensity(ReadOnlySpan<double> theta, Span<double> gradient)
    {
        int n = Rows, p = Predictors, h = Hidden;
        ReadOnlySpan<double> w1 = theta[..(h * p)], b1 = theta.Slice(h * p, h), w2 = theta.Slice(h * p + h, h);
        double b2 = theta[h * p + 2 * h];
        double[] rented = ArrayPool<double>.Shared.Rent((h + 2) * n);
        try
        {
            Span<double> z = rented.AsSpan(0, h * n), f = rented.AsSpan(h * n, n), scratch = rented.AsSpan((h + 1) * n, n);
            f.Fill(b2);
            for (int k = 0; k < h; k++)
            {
                Span<double> zk = z.Slice(k * n, n);
                zk.Fill(b1[k]);
                for (int j = 0; j < p; j++) TensorPrimitives.MultiplyAdd(_columns.AsSpan(j * n, n), w1[k * p + j], zk, zk);
                TensorPrimitives.Max(zk, 0.0, scratch); // a_k = relu(z_k)
                TensorPrimitives.MultiplyAdd(scratch, w2[k], f, f);
            }
            // r = (y − f)/σ²; log-likelihood −½ Σ (y − f)²/σ² − (n/2) log(2πσ²).
            TensorPrimitives.Subtract(_y, f, f);
            double value = -0.5 * LinearAlgebra.Reductions.SumOfSquares(f) / NoiseVariance - n * (HalfLog2Pi + 0.5 * Math.Log(NoiseVariance));
            TensorPrimitives.Divide(f, NoiseVariance, f);
            double s2 = PriorScale * PriorScale;
            value += -0.5 * LinearAlgebra.Reductions.SumOfSquares(theta) / s2 - theta.Length * (Math.Log(PriorScale) + HalfLog2Pi);

            gradient[h * p + 2 * h] = LinearAlgebra.Reductions.Sum(f) - b2 / s2;
            for (int k = 0; k < h; k++)
            {
                Span<double> zk = z.Slice(k * n, n);
                TensorPrimitives.Max(zk, 0.0, scratch);
                gradient[h * p + h + k] = LinearAlgebra.Reductions.Dot(scratch, f) - w2[k] / s2;
                // δ_k = r ⊙ [z_k > 0] · w₂ₖ, kept in scratch.
                for (int i = 0; i < n; i++) scratch[i] = zk[i] > 0 ? f[i] * w2[k] : 0.0;
                gradient[h * p + k] = LinearAlgebra.Reductions.Sum(scratch) - b1[k] / s2;
                for (int j = 0; j < p; j++) gradient[k * p + j] = LinearAlgebra.Reductions.Dot(_columns.AsSpan(j * n, n), scratch) - w1[k * p + j] / s2;
            }
            return value;
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }

    /// <summary>f(x) for one row x (length p) and one parameter vector.</summary>
    public double Predict(ReadOnlySpan<double> theta, ReadOnlySpan<double> x)
    {
        int p = Predictors, h = Hidden;
        double f = theta[h * p + 2 * h];
        for (int k = 0; k < h; k++)
        {
            double z = theta[h * p + k] + LinearAlgebra.Reductions.Dot(theta.Slice(k * p, p), x);
            if (z > 0) f += theta[h * p + h + k] * z;
        }
        return f;
    }

    /// <inheritdoc/>
    /// <remarks>Log predictive density per row: log (1/S) Σ_s N(y; f_s(x), σ²); RMSE of the mean prediction (1/S) Σ_s f_s(x).</remarks>
    public PredictiveSummary Predict(ReadOnlySpan<double> draws, int count, double[] x, double[] y)
    {
        DesignData.CheckPredictArguments(draws, count, x, y, Predictors, Dimension);
        int n = y.Length, p = Predictors, d = Dimension;
        var logLik = new double[count];
        double lpd = 0, squares = 0;
        for (int i = 0; i < n; i++)
        {
            double mean = 0;
            for (int s = 0; s < count; s++)
            {
                double f = Predict(draws.Slice(s * d, d), x.AsSpan(i * p, p)), r = y[i] - f;
                logLik[s] = -0.5 * r * r / NoiseVariance - HalfLog2Pi - 0.5 * Math.Log(NoiseVariance);
                mean += f / count;
            }
            lpd += Targets.GaussianMixtureTarget.LogSumExp(logLik) - Math.Log(count);
            squares += (y[i] - mean) * (y[i] - mean);
        }
        return new PredictiveSummary(n, lpd / n, null, Math.Sqrt(squares / n));
    }
}
