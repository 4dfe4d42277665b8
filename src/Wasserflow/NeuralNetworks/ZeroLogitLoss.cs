namespace Wasserflow.NeuralNetworks;

/// <summary>
/// The multi-class logistic loss of paper 004 (docs/specs/gm-layer.md §7): outputs h ∈ R^L for classes 1..L, class 0
/// with a fixed logit 0; ℓ = mean over the batch of log(1 + Σ_l e^{h_l}) − h_y (h_0 = 0). Log-sum-exp with the max over
/// all L + 1 logits subtracted.
/// </summary>
public static class ZeroLogitLoss
{
    /// <summary>Returns the mean loss over the batch and writes ∂ℓ/∂h (B×L) into <paramref name="gradient"/>.</summary>
    /// <exception cref="ArgumentException">A label is outside 0..L or buffers are too small.</exception>
    public static double LossAndGradient(ReadOnlySpan<double> outputs, ReadOnlySpan<int> labels, int outputsPerRow, Span<double> gradient)
    {
        int batch = labels.Length, l = outputsPerRow;
        if (outputs.Length < batch * l || gradient.Length < batch * l) throw new ArgumentException("buffers smaller than batch × L.");
        double total = 0;
        for (int b = 0; b < batch; b++)
        {
            int y = labels[b];
            if (y < 0 || y > l) throw new ArgumentException($"label {y} of row {b} is outside 0..{l}.");
            ReadOnlySpan<double> h = outputs.Slice(b * l, l);
            double max = 0; // the class-0 logit
            foreach (double v in h) if (v > max) max = v;
            double sum = Math.Exp(-max);
            foreach (double v in h) sum += Math.Exp(v - max);
            double logSum = max + Math.Log(sum);
            total += logSum - (y == 0 ? 0.0 : h[y - 1]);
            Span<double> g = gradient.Slice(b * l, l);
            for (int o = 0; o < l; o++)
                g[o] = (Math.Exp(h[o] - logSum) - (y == o + 1 ? 1.0 : 0.0)) / batch;
        }
        return total / batch;
    }
}
