namespace Wasserflow.NeuralNetworks;

/// <summary>The squared loss for regression: ℓ = (1/B) Σ_b ‖h_b − y_b‖², the mean over the batch of the squared error.</summary>
public static class SquaredLoss
{
    /// <summary>Returns the mean loss over the <paramref name="batch"/> rows and writes ∂ℓ/∂h = 2(h − y)/B into <paramref name="gradient"/>.</summary>
    /// <exception cref="ArgumentException">Buffers smaller than the batch, or a non-finite target (the message names its row).</exception>
    public static double LossAndGradient(ReadOnlySpan<double> outputs, ReadOnlySpan<double> targets, int batch, int outputsPerRow, Span<double> gradient)
    {
        int n = batch * outputsPerRow;
        if (outputs.Length < n || targets.Length < n || gradient.Length < n) throw new ArgumentException("buffers smaller than batch × outputs.");
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            if (!double.IsFinite(targets[i])) throw new ArgumentException($"target {targets[i]} of row {i / outputsPerRow} is not finite.");
            double r = outputs[i] - targets[i];
            total += r * r;
            gradient[i] = 2 * r / batch;
        }
        return total / batch;
    }
}
