using System.Buffers;
using System.Globalization;
using System.Numerics.Tensors;
using static Wasserflow.Models.SpecialFunctions;

namespace Wasserflow.Models;

/// <summary>
/// Multinomial (softmax) regression: y ∈ {0, …, C−1}, P(y = c) ∝ exp(t_c) with t_0 = 0 (class 0 the reference, so the
/// parameters are identified) and t_c = α_c + x·β_c for c ≥ 1; priors N(0, s²) on every α_c and β_jc, constants kept.
/// </summary>
/// <remarks>
/// log p = Σ_i [t_{i,y_i} − log Σ_c e^{t_ic}] + priors; ∂/∂t_ic = [y_i = c] − softmax_c(t_i). Parameters laid out as
/// alpha[1..C−1] then beta[predictor, class] class-major within each predictor.
/// </remarks>
public sealed class SoftmaxRegressionModel : Model, IPredictiveModel
{
    private readonly double[] _x;
    private readonly int[] _y;

    private SoftmaxRegressionModel(string name, ParameterLayout layout, double[] x, int[] y, int predictors, int classes, bool intercept, double priorScale)
        : base(name, layout)
    {
        _x = x;
        _y = y;
        Predictors = predictors;
        Classes = classes;
        Intercept = intercept;
        PriorScale = priorScale;
    }

    /// <summary>Number of predictors p.</summary>
    public int Predictors { get; }

    /// <summary>Number of classes C.</summary>
    public int Classes { get; }

    /// <summary>Whether each class c ≥ 1 has an intercept α_c.</summary>
    public bool Intercept { get; }

    /// <summary>The prior scale s.</summary>
    public double PriorScale { get; }

    /// <inheritdoc/>
    public (double[] X, double[] Y)? HeldOut { get; private set; }

    /// <inheritdoc/>
    public string Provenance { get; private set; } = "";

    /// <inheritdoc/>
    public (double[] X, double[] Y) Training => ((double[])_x.Clone(), [.. _y.Select(c => (double)c)]);

    /// <summary>A model on an n×p design matrix and class labels 0 … C−1 (C = the largest label + 1, at least 2).</summary>
    /// <exception cref="ArgumentException">Sizes disagree, a label is not a whole number ≥ 0, or fewer than 2 classes.</exception>
    public static SoftmaxRegressionModel Create(double[] x, double[] y, bool intercept = true, double priorScale = 10, IReadOnlyList<string>? predictorNames = null,
        string name = "softmax regression")
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        int n = y.Length;
        if (n == 0 || x.Length % n != 0) throw new ArgumentException($"the design matrix holds {x.Length} numbers for {n} responses.");
        for (int i = 0; i < n; i++)
            if (!(y[i] >= 0) || y[i] != Math.Floor(y[i]) || y[i] > 1000)
                throw new ArgumentException($"response {i + 1} is {y[i]}; softmax regression needs class labels 0, 1, 2, ….");
        if (!(priorScale > 0) || !double.IsFinite(priorScale)) throw new ArgumentException($"the prior scale must be > 0 and finite, got {priorScale}.");
        int p = x.Length / n, classes = (int)y.Max() + 1;
        if (classes < 2) throw new ArgumentException("softmax regression needs at least 2 classes (labels 0 and 1).");
        string[] names = [.. predictorNames ?? Enumerable.Range(1, p).Select(j => j.ToString(CultureInfo.InvariantCulture))];
        var blocks = new List<ParameterBlock>();
        if (intercept) blocks.Add(new ParameterBlock("alpha", classes - 1, Constraint.Real, [.. Enumerable.Range(1, classes - 1).Select(c => $"class {c}")]));
        if (p > 0)
            blocks.Add(new ParameterBlock("beta", p * (classes - 1), Constraint.Real,
                [.. names.SelectMany(nm => Enumerable.Range(1, classes - 1).Select(c => $"{nm}, class {c}"))]));
        return new SoftmaxRegressionModel(name, new ParameterLayout(blocks), (double[])x.Clone(), [.. y.Select(v => (int)v)], p, classes, intercept, priorScale);
    }

    /// <summary>A model on the columns of a CSV table, prepared as <see cref="DesignData.Prepare"/> does.</summary>
    public static SoftmaxRegressionModel FromTable(Data.CsvTable table, string response, IReadOnlyList<string> predictors, bool intercept, double priorScale,
        double testFraction, ulong splitSeed, bool standardize)
    {
        ArgumentNullException.ThrowIfNull(table);
        double[] y = table.Column(response);
        for (int i = 0; i < y.Length; i++)
            if (!(y[i] >= 0) || y[i] != Math.Floor(y[i]))
                throw new ArgumentException($"{table.Path}, line {table.LineOf(i)}, column '{response}': {y[i]} is not a class label 0, 1, 2, … (softmax regression).");
        DesignData data = DesignData.Prepare(table, response, y, predictors, testFraction, splitSeed, standardize);
        var model = Create(data.TrainX, data.TrainY, intercept, priorScale, data.Names, $"softmax regression of {response} on {Path.GetFileName(table.Path)}");
        model.HeldOut = data.HeldOut;
        model.Provenance = data.Provenance + $"; {model.Classes} classes, class 0 the reference" + (intercept ? "; with intercepts" : "; no intercepts")
            + $"; priors N(0, {priorScale}²) on every coefficient";
        return model;
    }

    // t_c for c = 1 … C−1 of row x (t_0 = 0).
    private void Scores(ReadOnlySpan<double> x, ReadOnlySpan<double> theta, Span<double> t)
    {
        int c1 = Classes - 1, b0 = Intercept ? c1 : 0;
        for (int c = 0; c < c1; c++) t[c] = Intercept ? theta[c] : 0;
        for (int j = 0; j < Predictors; j++)
            if (x[j] != 0) TensorPrimitives.MultiplyAdd(theta.Slice(b0 + j * c1, c1), x[j], t, t);
    }

    // log Σ_c e^{t_c} with t_0 = 0, and the probabilities of classes 1 … C−1 into prob.
    private static double LogSumExp(ReadOnlySpan<double> t, Span<double> prob)
    {
        double max = 0;
        foreach (double v in t) max = Math.Max(max, v);
        double sum = Math.Exp(-max);
        for (int c = 0; c < t.Length; c++) sum += prob[c] = Math.Exp(t[c] - max);
        for (int c = 0; c < t.Length; c++) prob[c] /= sum;
        return max + Math.Log(sum);
    }

    /// <inheritdoc/>
    public override double ConstrainedLogDensity(ReadOnlySpan<double> theta, Span<double> gradient)
    {
        int c1 = Classes - 1, p = Predictors, b0 = Intercept ? c1 : 0, n = _y.Length;
        double[] rented = ArrayPool<double>.Shared.Rent(2 * c1);
        try
        {
            Span<double> t = rented.AsSpan(0, c1), prob = rented.AsSpan(c1, c1);
            gradient.Clear();
            double value = 0;
            for (int i = 0; i < n; i++)
            {
                ReadOnlySpan<double> x = _x.AsSpan(i * p, p);
                Scores(x, theta, t);
                double lse = LogSumExp(t, prob);
                int y = _y[i];
                value += (y == 0 ? 0 : t[y - 1]) - lse;
                // ∂/∂t_c = [y = c] − prob_c, written into prob.
                for (int c = 0; c < c1; c++) prob[c] = (y == c + 1 ? 1 : 0) - prob[c];
                if (Intercept) TensorPrimitives.Add(gradient[..c1], prob, gradient[..c1]);
                for (int j = 0; j < p; j++)
                    if (x[j] != 0) TensorPrimitives.MultiplyAdd(prob, x[j], gradient.Slice(b0 + j * c1, c1), gradient.Slice(b0 + j * c1, c1));
            }
            double s2 = PriorScale * PriorScale;
            for (int k = 0; k < theta.Length; k++)
            {
                value += -0.5 * theta[k] * theta[k] / s2 - Math.Log(PriorScale) - HalfLog2Pi;
                gradient[k] -= theta[k] / s2;
            }
            return value;
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }

    /// <summary>The predictive: accuracy of the posterior mean class probabilities' argmax, and the mean log predictive density.</summary>
    public PredictiveSummary Predict(ReadOnlySpan<double> draws, int count, double[] x, double[] y)
    {
        DesignData.CheckPredictArguments(draws, count, x, y, Predictors, Dimension);
        int n = y.Length, d = Dimension, c1 = Classes - 1, p = Predictors;
        var t = new double[c1];
        var prob = new double[c1];
        var mean = new double[Classes];
        var logLik = new double[count];
        double lpd = 0;
        int correct = 0;
        for (int i = 0; i < n; i++)
        {
            Array.Clear(mean);
            int label = (int)y[i];
            for (int s = 0; s < count; s++)
            {
                Scores(x.AsSpan(i * p, p), draws.Slice(s * d, d), t);
                double lse = LogSumExp(t, prob);
                logLik[s] = (label == 0 ? 0 : label <= c1 ? t[label - 1] : double.NegativeInfinity) - lse;
                mean[0] += (1 - prob.Sum()) / count;
                for (int c = 0; c < c1; c++) mean[c + 1] += prob[c] / count;
            }
            lpd += Targets.GaussianMixtureTarget.LogSumExp(logLik) - Math.Log(count);
            int argmax = 0;
            for (int c = 1; c < Classes; c++)
                if (mean[c] > mean[argmax]) argmax = c;
            if (argmax == label) correct++;
        }
        return new PredictiveSummary(n, lpd / n, (double)correct / n, null);
    }
}
