using System.Numerics.Tensors;

namespace Wasserflow.NeuralNetworks;

/// <summary>
/// The average h(x) = (1/S) Σ_s part_s(x) of S layers with the same shape, each part on its own thread. A GM layer with
/// K components is exactly the average of S GM layers holding K/S of its components each (the 1/K of the mixture is
/// 1/S times the parts' own 1/(K/S)), so <see cref="Split"/> turns one layer into parts that train on S cores: each
/// core keeps its components' parameters, packed matrices and gradients in its own cache (splitting one minibatch's
/// products instead moved the packed matrix between cores every step and was slower; docs/benchmarks.md).
/// </summary>
/// <remarks>
/// Results depend on S (the sum over components is associated by part) but not on the number of threads that run the
/// parts. <see cref="Sgd.Step"/> updates each part's parameters on the part's thread as well.
/// </remarks>
public sealed class ParallelAverageLayer : ILayer
{
    private readonly ILayer[] _parts;
    private readonly Action<int> _forwardPart, _backwardPart;
    private double[] _input = [], _outputGradient = [];
    private double[][] _outputs = [], _inputGradients = [];
    private int _batch;
    private bool _wantInputGradient;

    /// <summary>The average of <paramref name="parts"/> (at least one, all with the same input and output dimensions).</summary>
    public ParallelAverageLayer(params ILayer[] parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Length == 0) throw new ArgumentException("at least one part is needed.", nameof(parts));
        for (int s = 1; s < parts.Length; s++)
            if (parts[s].Inputs != parts[0].Inputs || parts[s].Outputs != parts[0].Outputs)
                throw new ArgumentException($"part {s} maps {parts[s].Inputs} → {parts[s].Outputs}, part 0 {parts[0].Inputs} → {parts[0].Outputs}.", nameof(parts));
        _parts = parts;
        Parameters = parts.SelectMany(p => p.Parameters).ToArray();
        _forwardPart = ForwardPart;
        _backwardPart = BackwardPart;
    }

    /// <summary>
    /// <paramref name="layer"/>'s components split into <paramref name="parts"/> consecutive groups of equal size, as a
    /// layer computing the same function (up to round-off); the parameters are copied.
    /// </summary>
    /// <exception cref="ArgumentException">K is not a multiple of <paramref name="parts"/>.</exception>
    public static ParallelAverageLayer Split(GaussianMixtureLayer layer, int parts)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentOutOfRangeException.ThrowIfLessThan(parts, 1);
        int k = layer.Components, d = layer.Inputs, l = layer.Outputs;
        if (k % parts != 0) throw new ArgumentException($"{k} components cannot be split into {parts} equal parts.", nameof(parts));
        int size = k / parts;
        var result = new ILayer[parts];
        for (int s = 0; s < parts; s++)
        {
            var part = new GaussianMixtureLayer(size, d, l);
            Array.Copy(layer.Mu, s * size * d, part.Mu, 0, size * d);
            Array.Copy(layer.Sigma, s * size * d, part.Sigma, 0, size * d);
            Array.Copy(layer.U, s * size * l * d, part.U, 0, size * l * d);
            Array.Copy(layer.V, s * size * l, part.V, 0, size * l);
            result[s] = part;
        }
        return new ParallelAverageLayer(result);
    }

    /// <summary>The parts, in order.</summary>
    public IReadOnlyList<ILayer> Parts => _parts;

    /// <inheritdoc/>
    public int Inputs => _parts[0].Inputs;

    /// <inheritdoc/>
    public int Outputs => _parts[0].Outputs;

    /// <inheritdoc/>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <inheritdoc/>
    public void Forward(ReadOnlySpan<double> inputs, int batch, Span<double> outputs)
    {
        int d = Inputs, l = Outputs;
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        if (inputs.Length < batch * d || outputs.Length < batch * l) throw new ArgumentException("buffers smaller than batch × dimension.");
        if (_input.Length < batch * d) Grow(batch);
        inputs[..(batch * d)].CopyTo(_input); // an array, so the other threads can read it
        _batch = batch;
        RunParts(_forwardPart);
        // The mean, summed in part order whatever thread ran each part.
        Span<double> h = outputs[..(batch * l)];
        _outputs[0].AsSpan(0, batch * l).CopyTo(h);
        for (int s = 1; s < _parts.Length; s++) TensorPrimitives.Add(h, _outputs[s].AsSpan(0, batch * l), h);
        TensorPrimitives.Multiply(h, 1.0 / _parts.Length, h);
    }

    /// <inheritdoc/>
    public void Backward(ReadOnlySpan<double> outputGradients, Span<double> inputGradients)
    {
        int d = Inputs, l = Outputs, batch = _batch;
        if (batch == 0) throw new InvalidOperationException("Backward needs a Forward pass first.");
        if (outputGradients.Length < batch * l) throw new ArgumentException("the output gradient is smaller than batch × outputs.");
        TensorPrimitives.Multiply(outputGradients[..(batch * l)], 1.0 / _parts.Length, _outputGradient.AsSpan(0, batch * l));
        _wantInputGradient = !inputGradients.IsEmpty;
        RunParts(_backwardPart);
        if (!_wantInputGradient) return;
        Span<double> gx = inputGradients[..(batch * d)];
        _inputGradients[0].AsSpan(0, batch * d).CopyTo(gx);
        for (int s = 1; s < _parts.Length; s++) TensorPrimitives.Add(gx, _inputGradients[s].AsSpan(0, batch * d), gx);
    }

    /// <summary>Runs <paramref name="body"/> for every part index, in parallel when there are several parts.</summary>
    internal void RunParts(Action<int> body)
    {
        if (_parts.Length == 1) body(0);
        else Parallel.For(0, _parts.Length, body);
    }

    private void ForwardPart(int s) =>
        _parts[s].Forward(_input.AsSpan(0, _batch * Inputs), _batch, _outputs[s].AsSpan(0, _batch * Outputs));

    private void BackwardPart(int s) =>
        _parts[s].Backward(_outputGradient.AsSpan(0, _batch * Outputs), _wantInputGradient ? _inputGradients[s].AsSpan(0, _batch * Inputs) : []);

    private void Grow(int batch)
    {
        _input = new double[batch * Inputs];
        _outputGradient = new double[batch * Outputs];
        _outputs = _parts.Select(_ => new double[batch * Outputs]).ToArray();
        _inputGradients = _parts.Select(_ => new double[batch * Inputs]).ToArray();
    }
}
