using System.Numerics.Tensors;
using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;

namespace Wasserflow.NeuralNetworks;

/// <summary>
/// A fully connected layer y = act(s·(x Wᵀ + b)) with W stored outputs×inputs, optional bias, optional ReLU and a fixed
/// output scale s (1 for an ordinary layer; 1/m for the mean-field readout (1/m) Σ_j ω_j r(β_j·x) of paper 004 §5,
/// docs/specs/gm-layer.md §9). Forward and backward are products through <see cref="Gemm"/>.
/// </summary>
public sealed class FullyConnectedLayer : ILayer
{
    private readonly Parameter _weight;
    private readonly Parameter? _bias;
    private double[] _x = [], _y = [], _gy = [];
    private int _batch;

    /// <summary>A layer from <paramref name="inputs"/> to <paramref name="outputs"/> with zero weights.</summary>
    public FullyConnectedLayer(int inputs, int outputs, bool bias = true, bool relu = false, double outputScale = 1.0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inputs, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outputs, 1);
        if (!double.IsFinite(outputScale) || outputScale <= 0) throw new ArgumentOutOfRangeException(nameof(outputScale), outputScale, "the output scale must be finite and positive.");
        Inputs = inputs;
        Outputs = outputs;
        Relu = relu;
        OutputScale = outputScale;
        _weight = new Parameter("weight", new double[outputs * inputs]);
        _bias = bias ? new Parameter("bias", new double[outputs]) : null;
        Parameters = _bias is null ? [_weight] : [_weight, _bias];
    }

    /// <summary>
    /// PyTorch's default initialisation of nn.Linear (Kaiming-uniform with a = √5): every weight and bias uniform on
    /// ±1/√inputs.
    /// </summary>
    public static FullyConnectedLayer InitializeDefault(Xoshiro256StarStar rng, int inputs, int outputs, bool relu)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var layer = new FullyConnectedLayer(inputs, outputs, bias: true, relu: relu);
        double bound = 1.0 / Math.Sqrt(inputs);
        foreach (double[] values in new[] { layer.Weight, layer.Bias })
            for (int i = 0; i < values.Length; i++) values[i] = rng.NextDouble(-bound, bound);
        return layer;
    }

    /// <inheritdoc/>
    public int Inputs { get; }

    /// <inheritdoc/>
    public int Outputs { get; }

    /// <summary>Whether a ReLU follows the affine map.</summary>
    public bool Relu { get; }

    /// <summary>The fixed factor s applied before the activation.</summary>
    public double OutputScale { get; }

    /// <summary>W, outputs×inputs.</summary>
    public double[] Weight => _weight.Values;

    /// <summary>b (empty when the layer has no bias).</summary>
    public double[] Bias => _bias?.Values ?? [];

    /// <inheritdoc/>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <inheritdoc/>
    public void Forward(ReadOnlySpan<double> inputs, int batch, Span<double> outputs)
    {
        int d = Inputs, o = Outputs;
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        if (inputs.Length < batch * d || outputs.Length < batch * o) throw new ArgumentException("buffers smaller than batch × dimension.");
        if (_x.Length < batch * d)
        {
            _x = new double[batch * d];
            _y = new double[batch * o];
            _gy = new double[batch * o];
        }
        Span<double> x = _x.AsSpan(0, batch * d), y = _y.AsSpan(0, batch * o);
        inputs[..(batch * d)].CopyTo(x);
        Gemm.MultiplyTransposed(x, batch, Weight, o, d, y);
        for (int b = 0; b < batch; b++)
        {
            Span<double> row = y.Slice(b * o, o);
            if (_bias is not null) TensorPrimitives.Add(row, _bias.Values, row);
            if (OutputScale != 1.0) TensorPrimitives.Multiply(row, OutputScale, row);
            if (Relu) TensorPrimitives.Max(row, 0.0, row);
        }
        y.CopyTo(outputs);
        _batch = batch;
    }

    /// <inheritdoc/>
    public void Backward(ReadOnlySpan<double> outputGradients, Span<double> inputGradients)
    {
        int d = Inputs, o = Outputs, batch = _batch;
        if (batch == 0) throw new InvalidOperationException("Backward needs a Forward pass first.");
        if (outputGradients.Length < batch * o) throw new ArgumentException("the output gradient is smaller than batch × outputs.");
        if (!inputGradients.IsEmpty && inputGradients.Length < batch * d) throw new ArgumentException("the input gradient is smaller than batch × inputs.");
        // g = s · ĝ ⊙ 1{y > 0}: the gradient with respect to the affine map x Wᵀ + b.
        Span<double> g = _gy.AsSpan(0, batch * o);
        TensorPrimitives.Multiply(outputGradients[..(batch * o)], OutputScale, g);
        if (Relu)
        {
            ReadOnlySpan<double> y = _y.AsSpan(0, batch * o);
            for (int i = 0; i < g.Length; i++) if (y[i] <= 0) g[i] = 0;
        }
        double[] gw = _weight.Gradient;
        Array.Clear(gw);
        Gemm.AddProduct(g, 1, o, o, batch, _x, d, gw);                       // ∂ℓ/∂W = gᵀ X
        if (_bias is not null)
        {
            Span<double> gb = _bias.Gradient;
            gb.Clear();
            for (int b = 0; b < batch; b++) TensorPrimitives.Add(gb, g.Slice(b * o, o), gb);
        }
        if (inputGradients.IsEmpty) return;
        Span<double> gx = inputGradients[..(batch * d)];
        gx.Clear();
        Gemm.AddProduct(g, o, 1, batch, o, Weight, d, gx);                   // ∂ℓ/∂X = g W
    }
}

/// <summary>
/// Row-wise normalisation z = h / (‖h‖ + ε) between stacked GM layers (docs/specs/gm-layer.md §9.5), ε = 1e−12; its exact
/// backward pass is ∂ℓ/∂h = ĝ/(‖h‖ + ε) − h (h·ĝ)/(‖h‖ (‖h‖ + ε)²).
/// </summary>
public sealed class UnitNormLayer(int dimension) : ILayer
{
    private const double Epsilon = 1e-12;
    private double[] _h = [], _norm = [];
    private int _batch;

    /// <inheritdoc/>
    public int Inputs { get; } = dimension >= 1 ? dimension : throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "must be at least 1.");

    /// <inheritdoc/>
    public int Outputs => Inputs;

    /// <inheritdoc/>
    public IReadOnlyList<Parameter> Parameters => [];

    /// <inheritdoc/>
    public void Forward(ReadOnlySpan<double> inputs, int batch, Span<double> outputs)
    {
        int d = Inputs;
        if (inputs.Length < batch * d || outputs.Length < batch * d) throw new ArgumentException("buffers smaller than batch × dimension.");
        if (_h.Length < batch * d)
        {
            _h = new double[batch * d];
            _norm = new double[batch];
        }
        inputs[..(batch * d)].CopyTo(_h);
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<double> h = _h.AsSpan(b * d, d);
            double norm = LinearAlgebra.Reductions.Norm(h);
            _norm[b] = norm;
            TensorPrimitives.Multiply(h, 1.0 / (norm + Epsilon), outputs.Slice(b * d, d));
        }
        _batch = batch;
    }

    /// <inheritdoc/>
    public void Backward(ReadOnlySpan<double> outputGradients, Span<double> inputGradients)
    {
        if (_batch == 0) throw new InvalidOperationException("Backward needs a Forward pass first.");
        if (inputGradients.IsEmpty) return;
        int d = Inputs;
        for (int b = 0; b < _batch; b++)
        {
            ReadOnlySpan<double> h = _h.AsSpan(b * d, d), g = outputGradients.Slice(b * d, d);
            Span<double> gh = inputGradients.Slice(b * d, d);
            double n = _norm[b], denominator = n + Epsilon;
            TensorPrimitives.Multiply(g, 1.0 / denominator, gh);
            if (n > 0) TensorPrimitives.MultiplyAdd(h, -LinearAlgebra.Reductions.Dot(h, g) / (n * denominator * denominator), gh, gh);
        }
    }
}
