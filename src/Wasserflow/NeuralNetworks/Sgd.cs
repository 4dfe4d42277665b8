namespace Wasserflow.NeuralNetworks;

/// <summary>
/// Plain minibatch SGD as in paper 004 §5 (no momentum, no weight decay, constant rates): θ ← θ − η_name ∇θ, with the
/// rate chosen by the parameter block's <see cref="Parameter.Name"/>.
/// </summary>
public sealed record SgdOptions
{
    /// <summary>Rate for every block not named in <see cref="RatesByName"/> (the paper: 0.1).</summary>
    public double LearningRate { get; init; } = 0.1;

    /// <summary>Per-block rates by name (the paper: σ at 1). A rate of 0 freezes the block (the fixed-β ablation: mu and sigma at 0).</summary>
    public IReadOnlyDictionary<string, double> RatesByName { get; init; } = new Dictionary<string, double> { ["sigma"] = 1.0 };

    /// <summary>The rate used for a block named <paramref name="name"/>.</summary>
    public double RateFor(string name) => RatesByName.TryGetValue(name, out double rate) ? rate : LearningRate;

    /// <summary>Checks that every rate is finite and non-negative.</summary>
    /// <exception cref="ArgumentException">One is not; the message names it.</exception>
    public void Validate()
    {
        if (!double.IsFinite(LearningRate) || LearningRate < 0) throw new ArgumentException($"learning rate {LearningRate} must be finite and ≥ 0.");
        foreach (var (name, rate) in RatesByName)
            if (!double.IsFinite(rate) || rate < 0) throw new ArgumentException($"learning rate {rate} for '{name}' must be finite and ≥ 0.");
    }
}

/// <summary>The SGD update over a network's parameter blocks.</summary>
public static class Sgd
{
    /// <summary>
    /// One step θ ← θ − η ∇θ on every block of <paramref name="network"/> with the gradients of its last backward pass;
    /// the parts of a <see cref="ParallelAverageLayer"/> are updated on their own threads, as their passes ran.
    /// </summary>
    public static void Step(Sequential network, SgdOptions options)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(options);
        IReadOnlyList<ILayer> layers = network.Layers;
        for (int i = 0; i < layers.Count; i++)
        {
            if (layers[i] is ParallelAverageLayer average) StepParts(average, options);
            else Update(layers[i].Parameters, options);
        }
    }

    // Separate from Step: the lambda's closure would otherwise be allocated on every call.
    private static void StepParts(ParallelAverageLayer average, SgdOptions options) =>
        average.RunParts(s => Update(average.Parts[s].Parameters, options));

    private static void Update(IReadOnlyList<Parameter> parameters, SgdOptions options)
    {
        for (int i = 0; i < parameters.Count; i++)
        {
            Parameter p = parameters[i];
            double rate = options.RateFor(p.Name);
            if (rate != 0) System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(p.Gradient, -rate, p.Values, p.Values);
        }
    }
}
