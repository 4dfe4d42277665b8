namespace Wasserflow.NeuralNetworks;

/// <summary>
/// Layers applied one after another (GM layers, fully connected layers, unit-norm normalisation), with the buffers for
/// the activations and their gradients kept between minibatches so a training step allocates nothing once the largest
/// batch has been seen.
/// </summary>
/// <example>
/// A GM layer with K = 20 components from 784 pixels to 9 logits, then one SGD step on a minibatch:
/// <code>
/// var rng = new Xoshiro256StarStar(0);
/// var net = new Sequential(GaussianMixtureLayer.Initialize(rng, 20, 784, 9));
/// ReadOnlySpan&lt;double&gt; h = net.Forward(images, 64);
/// double loss = ZeroLogitLoss.LossAndGradient(h, labels, 9, gradient);
/// net.Backward(gradient);
/// Sgd.Step(net, new SgdOptions());
/// </code>
/// </example>
public sealed class Sequential
{
    private double[][] _activations = [];
    private double[][] _gradients = [];
    private int _capacity, _batch;

    /// <summary>A network of <paramref name="layers"/>, each one's outputs the next one's inputs.</summary>
    /// <exception cref="ArgumentException">No layers, or adjacent dimensions disagree (the message names the layers).</exception>
    public Sequential(params ILayer[] layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Length == 0) throw new ArgumentException("a network needs at least one layer.", nameof(layers));
        for (int i = 1; i < layers.Length; i++)
            if (layers[i - 1].Outputs != layers[i].Inputs)
                throw new ArgumentException($"layer {i - 1} has {layers[i - 1].Outputs} outputs but layer {i} takes {layers[i].Inputs} inputs.", nameof(layers));
        Layers = layers;
        Parameters = layers.SelectMany(l => l.Parameters).ToArray();
    }

    /// <summary>The layers in order.</summary>
    public IReadOnlyList<ILayer> Layers { get; }

    /// <summary>Input dimension of the first layer.</summary>
    public int Inputs => Layers[0].Inputs;

    /// <summary>Output dimension of the last layer.</summary>
    public int Outputs => Layers[^1].Outputs;

    /// <summary>Every trainable block, layer by layer.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>Runs the <paramref name="batch"/> rows of <paramref name="inputs"/> through every layer; the result (B×outputs) stays valid until the next call.</summary>
    public ReadOnlySpan<double> Forward(ReadOnlySpan<double> inputs, int batch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        if (inputs.Length < batch * Inputs) throw new ArgumentException($"inputs hold {inputs.Length} values, fewer than {batch} rows × {Inputs}.", nameof(inputs));
        EnsureCapacity(batch);
        ReadOnlySpan<double> current = inputs[..(batch * Inputs)];
        for (int i = 0; i < Layers.Count; i++)
        {
            Span<double> next = _activations[i].AsSpan(0, batch * Layers[i].Outputs);
            Layers[i].Forward(current, batch, next);
            current = next;
        }
        _batch = batch;
        return current;
    }

    /// <summary>
    /// Back-propagates ∂ℓ/∂outputs of the last <see cref="Forward"/> batch, filling every layer's parameter gradients
    /// (the first layer's input gradient is not formed).
    /// </summary>
    public void Backward(ReadOnlySpan<double> outputGradients)
    {
        if (_batch == 0) throw new InvalidOperationException("Backward needs a Forward pass first.");
        ReadOnlySpan<double> current = outputGradients;
        for (int i = Layers.Count - 1; i >= 0; i--)
        {
            Span<double> below = i == 0 ? [] : _gradients[i - 1].AsSpan(0, _batch * Layers[i].Inputs);
            Layers[i].Backward(current, below);
            current = below;
        }
    }

    private void EnsureCapacity(int batch)
    {
        if (batch > _capacity) Grow(batch);
    }

    // Separate from EnsureCapacity: a lambda capturing `batch` there would allocate its closure on every call.
    private void Grow(int batch)
    {
        _activations = Layers.Select(l => new double[batch * l.Outputs]).ToArray();
        _gradients = Layers.Select(l => new double[batch * l.Outputs]).ToArray();
        _capacity = batch;
    }
}
