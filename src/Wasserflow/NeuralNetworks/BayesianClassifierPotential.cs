using System.Numerics.Tensors;
using Wasserflow.Data;
using Wasserflow.Flows;

namespace Wasserflow.NeuralNetworks;

/// <summary>
/// The Bayesian neural-network classifier of paper 000, Appendix E.5.1, as a minibatch potential: one hidden ReLU layer
/// of h units with biases, then c logits with biases and a softmax likelihood, a N(0, σ²I) prior on all
/// d = h(p + 1) + c(h + 1) weights. U(z) = −(n/B) Σ_{b ∈ batch} log p(y_b | x_b, z) + ‖z‖²/(2σ²) + (d/2) log(2πσ²),
/// an unbiased estimate of −log p(z, data). With σ² = ∞ the prior is dropped (U is the scaled loss alone: plain training).
/// </summary>
/// <remarks>
/// z is laid out as [W₁ (h×p, row-major), b₁ (h), W₂ (c×h), b₂ (c)]. Every worker has its own network and buffers, so
/// <see cref="Workers"/> evaluations may run at once on the minibatch set by <see cref="SetBatch"/>; after the first
/// call at the largest batch an evaluation allocates nothing.
/// </remarks>
public sealed class BayesianClassifierPotential : IStochasticPotential
{
    private readonly LabeledData _data;
    private readonly Sequential[] _networks;
    private readonly double[][] _logitGradients;
    private double[] _batchX = [];
    private int[] _batchY = [];
    private int _batch;

    /// <summary>A classifier of <paramref name="data"/>'s classes from its features through <paramref name="hidden"/> ReLU units.</summary>
    /// <param name="data">The training rows (n = data.Count scales the minibatch likelihood).</param>
    /// <param name="hidden">h ≥ 1.</param>
    /// <param name="priorVariance">σ² &gt; 0, or +∞ for no prior.</param>
    /// <param name="workers">Evaluations that may run at once (≥ 1).</param>
    public BayesianClassifierPotential(LabeledData data, int hidden, double priorVariance, int workers = 1)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfLessThan(hidden, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        if (!(priorVariance > 0)) throw new ArgumentOutOfRangeException(nameof(priorVariance), priorVariance, "the prior variance must be positive (or +∞ for none).");
        if (data.Count == 0) throw new ArgumentException("the data set has no rows.", nameof(data));
        _data = data;
        Hidden = hidden;
        PriorVariance = priorVariance;
        Workers = workers;
        Dimension = DimensionOf(data.Dimension, hidden, data.Classes);
        _networks = new Sequential[workers];
        _logitGradients = new double[workers][];
        for (int w = 0; w < workers; w++)
        {
            _networks[w] = new Sequential(new FullyConnectedLayer(data.Dimension, hidden, bias: true, relu: true), new FullyConnectedLayer(hidden, data.Classes, bias: true));
            _logitGradients[w] = [];
        }
    }

    /// <summary>d = h(p + 1) + c(h + 1), the paper's count for p features, h hidden units and c classes.</summary>
    public static int DimensionOf(int features, int hidden, int classes) => checked(hidden * (features + 1) + classes * (hidden + 1));

    /// <inheritdoc/>
    public int Dimension { get; }

    /// <inheritdoc/>
    public int Workers { get; }

    /// <summary>h.</summary>
    public int Hidden { get; }

    /// <summary>σ² (+∞: no prior).</summary>
    public double PriorVariance { get; }

    /// <summary>The training rows.</summary>
    public LabeledData Data => _data;

    /// <summary>Makes rows <paramref name="rows"/> of the training data the minibatch of the following evaluations.</summary>
    /// <exception cref="ArgumentException">Empty, or a row out of range.</exception>
    public void SetBatch(ReadOnlySpan<int> rows)
    {
        if (rows.IsEmpty) throw new ArgumentException("a minibatch needs at least one row.", nameof(rows));
        int p = _data.Dimension;
        if (_batchX.Length < rows.Length * p)
        {
            _batchX = new double[rows.Length * p];
            _batchY = new int[rows.Length];
        }
        for (int b = 0; b < rows.Length; b++)
        {
            int r = rows[b];
            if ((uint)r >= (uint)_data.Count) throw new ArgumentException($"row {r} is outside the {_data.Count} training rows.", nameof(rows));
            _data.Features.AsSpan(r * p, p).CopyTo(_batchX.AsSpan(b * p, p));
            _batchY[b] = _data.Labels[r];
        }
        _batch = rows.Length;
    }

    /// <inheritdoc/>
    public double Evaluate(int worker, ReadOnlySpan<double> z, Span<double> gradient)
    {
        if (_batch == 0) throw new InvalidOperationException("SetBatch must choose a minibatch first.");
        if (z.Length != Dimension || gradient.Length != Dimension) throw new ArgumentException($"z and its gradient must have length {Dimension}.");
        Sequential net = _networks[worker];
        Load(net, z);
        int c = _data.Classes;
        ReadOnlySpan<double> logits = net.Forward(_batchX, _batch);
        if (_logitGradients[worker].Length < _batch * c) _logitGradients[worker] = new double[_batch * c];
        Span<double> dLogits = _logitGradients[worker].AsSpan(0, _batch * c);
        double scale = (double)_data.Count / _batch;
        double u = scale * SoftmaxLoss(logits, _batchY.AsSpan(0, _batch), c, dLogits);
        TensorPrimitives.Multiply(dLogits, scale, dLogits);
        net.Backward(dLogits);
        int offset = 0;
        foreach (Parameter block in net.Parameters)
        {
            block.Gradient.CopyTo(gradient.Slice(offset));
            offset += block.Gradient.Length;
        }
        if (double.IsFinite(PriorVariance))
        {
            TensorPrimitives.MultiplyAdd(z, 1.0 / PriorVariance, gradient, gradient);
            u += LinearAlgebra.VectorKernels.Dot(z, z) / (2 * PriorVariance) + 0.5 * Dimension * Math.Log(2 * Math.PI * PriorVariance);
        }
        return u;
    }

    /// <summary>
    /// Adds the class probabilities p(y | x_r, z) of rows 0 … count − 1 of <paramref name="features"/> into
    /// <paramref name="probabilities"/> (count×c), in blocks of <paramref name="block"/> rows, using worker
    /// <paramref name="worker"/>'s network.
    /// </summary>
    public void AddProbabilities(int worker, ReadOnlySpan<double> z, ReadOnlySpan<double> features, int count, Span<double> probabilities, int block = 500)
    {
        if (z.Length != Dimension) throw new ArgumentException($"z must have length {Dimension}.", nameof(z));
        int p = _data.Dimension, c = _data.Classes;
        if (features.Length < count * p || probabilities.Length < count * c) throw new ArgumentException("buffers smaller than count rows.");
        Sequential net = _networks[worker];
        Load(net, z);
        for (int start = 0; start < count; start += block)
        {
            int rows = Math.Min(block, count - start);
            ReadOnlySpan<double> logits = net.Forward(features.Slice(start * p, rows * p), rows);
            for (int b = 0; b < rows; b++)
            {
                ReadOnlySpan<double> h = logits.Slice(b * c, c);
                double max = TensorPrimitives.Max(h), sum = 0;
                for (int o = 0; o < c; o++) sum += Math.Exp(h[o] - max);
                Span<double> target = probabilities.Slice((start + b) * c, c);
                for (int o = 0; o < c; o++) target[o] += Math.Exp(h[o] - max) / sum;
            }
        }
    }

    // Σ_b −log softmax(h_b)[y_b], and ∂/∂h into gradient (softmax − one-hot), with the max subtracted.
    private static double SoftmaxLoss(ReadOnlySpan<double> logits, ReadOnlySpan<int> labels, int c, Span<double> gradient)
    {
        double total = 0;
        for (int b = 0; b < labels.Length; b++)
        {
            ReadOnlySpan<double> h = logits.Slice(b * c, c);
            double max = TensorPrimitives.Max(h), sum = 0;
            for (int o = 0; o < c; o++) sum += Math.Exp(h[o] - max);
            double logSum = max + Math.Log(sum);
            int y = labels[b];
            total += logSum - h[y];
            Span<double> g = gradient.Slice(b * c, c);
            for (int o = 0; o < c; o++) g[o] = Math.Exp(h[o] - logSum) - (o == y ? 1.0 : 0.0);
        }
        return total;
    }

    private static void Load(Sequential net, ReadOnlySpan<double> z)
    {
        int offset = 0;
        foreach (Parameter block in net.Parameters)
        {
            z.Slice(offset, block.Values.Length).CopyTo(block.Values);
            offset += block.Values.Length;
        }
    }
}
