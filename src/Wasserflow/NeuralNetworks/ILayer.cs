namespace Wasserflow.NeuralNetworks;

/// <summary>
/// One layer of a <see cref="Sequential"/> network: a map from B×<see cref="Inputs"/> rows to B×<see cref="Outputs"/>
/// rows with trainable <see cref="Parameters"/>. <see cref="Forward"/> caches what <see cref="Backward"/> needs, so a
/// layer serves one minibatch at a time and is not thread-safe.
/// </summary>
public interface ILayer
{
    /// <summary>Input dimension.</summary>
    int Inputs { get; }

    /// <summary>Output dimension.</summary>
    int Outputs { get; }

    /// <summary>The trainable blocks, each with its gradient buffer (empty for a layer without parameters).</summary>
    IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>Outputs for the <paramref name="batch"/> rows of <paramref name="inputs"/>, caching for <see cref="Backward"/>.</summary>
    void Forward(ReadOnlySpan<double> inputs, int batch, Span<double> outputs);

    /// <summary>
    /// Given ∂ℓ/∂outputs for the last <see cref="Forward"/> batch, overwrites every <see cref="Parameter.Gradient"/>
    /// with ∂ℓ/∂θ and, when <paramref name="inputGradients"/> is not empty, writes ∂ℓ/∂inputs (B×<see cref="Inputs"/>).
    /// </summary>
    void Backward(ReadOnlySpan<double> outputGradients, Span<double> inputGradients);
}

/// <summary>A named block of trainable values and the gradient of the loss with respect to them (same length).</summary>
public sealed class Parameter
{
    /// <summary>A block named <paramref name="name"/> over <paramref name="values"/>, with a zero gradient.</summary>
    public Parameter(string name, double[] values)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(values);
        Name = name;
        Values = values;
        Gradient = new double[values.Length];
    }

    /// <summary>The block's role, which selects its learning rate in <see cref="SgdOptions"/> ("mu", "sigma", "U", "v", "weight", "bias").</summary>
    public string Name { get; }

    /// <summary>The values, updated in place by training.</summary>
    public double[] Values { get; }

    /// <summary>∂ℓ/∂<see cref="Values"/> from the last backward pass.</summary>
    public double[] Gradient { get; }
}
