using Wasserflow.Randomness;

namespace Wasserflow.NeuralNetworks;

/// <summary>
/// Finite two-layer ReLU networks h_m(x) = (1/m) Σ_j ω_j r(β_j·x) built from a GM layer (docs/specs/gm-layer.md §9): as
/// FC layer pairs (m hidden ReLU units without bias, then a bias-free readout scaled by 1/m), so they train and evaluate
/// like any other <see cref="Sequential"/>.
/// </summary>
public static class MeanFieldNetwork
{
    /// <summary>
    /// m neurons drawn from the layer's mixture: k_j uniform on the components, β_j ~ N(μ_k, diag σ_k²) and
    /// ω_j = U_k β_j + v_k, the Monte Carlo reduction of §9.4 (an unbiased estimate of h) and the "matching"
    /// initialisation of the FC baseline (§9.1 b).
    /// </summary>
    public static Sequential Sample(GaussianMixtureLayer layer, int neurons, Xoshiro256StarStar rng)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfLessThan(neurons, 1);
        int d = layer.Inputs, l = layer.Outputs;
        var beta = new double[d];
        var (hidden, readout) = Pair(d, neurons, l);
        for (int j = 0; j < neurons; j++)
        {
            int k = rng.NextInt(layer.Components);
            rng.FillStandardNormal(beta);
            for (int i = 0; i < d; i++) beta[i] = layer.Mu[k * d + i] + layer.Sigma[k * d + i] * beta[i];
            SetNeuron(layer, k, beta, j, hidden, readout);
        }
        return new Sequential(hidden, readout);
    }

    /// <summary>The K neurons at the components' means: β_k = μ_k, ω_k = U_k μ_k + v_k (the width-K network of §9.2).</summary>
    public static Sequential FromMeans(GaussianMixtureLayer layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        int d = layer.Inputs, k = layer.Components;
        var (hidden, readout) = Pair(d, k, layer.Outputs);
        for (int j = 0; j < k; j++) SetNeuron(layer, j, layer.Mu.AsSpan(j * d, d), j, hidden, readout);
        return new Sequential(hidden, readout);
    }

    private static (FullyConnectedLayer Hidden, FullyConnectedLayer Readout) Pair(int d, int m, int l) =>
        (new FullyConnectedLayer(d, m, bias: false, relu: true), new FullyConnectedLayer(m, l, bias: false, outputScale: 1.0 / m));

    private static void SetNeuron(GaussianMixtureLayer layer, int component, ReadOnlySpan<double> beta, int neuron, FullyConnectedLayer hidden, FullyConnectedLayer readout)
    {
        int d = layer.Inputs, l = layer.Outputs, m = readout.Inputs;
        beta.CopyTo(hidden.Weight.AsSpan(neuron * d, d));
        for (int o = 0; o < l; o++)
        {
            int row = (component * l + o) * d;
            readout.Weight[o * m + neuron] = LinearAlgebra.Reductions.Dot(layer.U.AsSpan(row, d), beta) + layer.V[component * l + o];
        }
    }
}
