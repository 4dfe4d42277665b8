using Wasserflow.NeuralNetworks;
using Wasserflow.Randomness;

namespace Wasserflow.Tests.NeuralNetworks;

public class GaussianMixtureLayerTests
{
    private const int K = 3, D = 6, L = 4, B = 5;

    private static (GaussianMixtureLayer Layer, double[] X, double[] G) Setup(ulong seed = 1)
    {
        var rng = new Xoshiro256StarStar(seed);
        var layer = GaussianMixtureLayer.Initialize(rng, K, D, L);
        // Varied σ (some negative) so no symmetry hides a wrong formula.
        for (int i = 0; i < layer.Sigma.Length; i++) layer.Sigma[i] = 0.2 + 0.6 * rng.NextDouble() * (i % 3 == 0 ? -1 : 1);
        var x = new double[B * D];
        rng.FillStandardNormal(x);
        var g = new double[B * L];
        rng.FillStandardNormal(g);
        return (layer, x, g);
    }

    private static double Objective(GaussianMixtureLayer layer, double[] x, double[] g)
    {
        var h = new double[B * L];
        layer.Forward(x, B, h);
        double s = 0;
        for (int i = 0; i < h.Length; i++) s += g[i] * h[i];
        return s;
    }

    [Fact]
    public void Backward_matches_central_finite_differences_for_every_parameter_block_and_the_input()
    {
        var (layer, x, g) = Setup();
        var h = new double[B * L];
        layer.Forward(x, B, h);
        var gx = new double[B * D];
        layer.Backward(g, gx);
        TestSupport.AssertBackwardMatchesFiniteDifferences(
            layer.Parameters.Select(p => (p.Name, p.Values, (double[])p.Gradient.Clone())).Append(("x", x, gx)), () => Objective(layer, x, g));
    }

    [Fact]
    public void Backward_matches_finite_differences_at_sizes_that_use_the_blocked_products()
    {
        // B = 9, K = 5, d = 13, L = 3: the product kernels' full blocks and all their remainders are exercised.
        const int b = 9, k = 5, d = 13, l = 3;
        var rng = new Xoshiro256StarStar(11);
        var layer = GaussianMixtureLayer.Initialize(rng, k, d, l);
        for (int i = 0; i < layer.Sigma.Length; i++) layer.Sigma[i] = 0.1 + 0.5 * rng.NextDouble();
        double[] x = new double[b * d], g = new double[b * l], h = new double[b * l], gx = new double[b * d];
        rng.FillStandardNormal(x);
        rng.FillStandardNormal(g);
        double Objective()
        {
            layer.Forward(x, b, h);
            return h.Select((v, i) => v * g[i]).Sum();
        }
        Objective();
        layer.Backward(g, gx);
        TestSupport.AssertBackwardMatchesFiniteDifferences(
            layer.Parameters.Select(p => (p.Name, p.Values, (double[])p.Gradient.Clone())).Append(("x", x, gx)), Objective);
    }

    [Fact]
    public void Forward_agrees_with_monte_carlo_over_beta_within_four_standard_errors()
    {
        var (layer, x, _) = Setup(2);
        var h = new double[B * L];
        layer.Forward(x, B, h);
        var rng = new Xoshiro256StarStar(7);
        const int draws = 100_000;
        var beta = new double[D];
        for (int b = 0; b < B; b++)
        {
            var sum = new double[L];
            var sumSq = new double[L];
            for (int k = 0; k < K; k++)
                for (int n = 0; n < draws; n++)
                {
                    rng.FillStandardNormal(beta);
                    double y = 0;
                    for (int i = 0; i < D; i++)
                    {
                        beta[i] = layer.Mu[k * D + i] + layer.Sigma[k * D + i] * beta[i];
                        y += beta[i] * x[b * D + i];
                    }
                    double relu = Math.Max(y, 0);
                    for (int o = 0; o < L; o++)
                    {
                        double omega = layer.V[k * L + o];
                        for (int i = 0; i < D; i++) omega += layer.U[(k * L + o) * D + i] * beta[i];
                        double v = omega * relu;
                        sum[o] += v;
                        sumSq[o] += v * v;
                    }
                }
            for (int o = 0; o < L; o++)
            {
                // Stratified over components: h = (1/K) Σ_k mean_k; variance from the pooled second moment (conservative).
                double mean = sum[o] / (K * draws);
                double variance = sumSq[o] / (K * draws) - mean * mean;
                double se = Math.Sqrt(variance / (K * draws));
                Assert.True(Math.Abs(mean - h[b * L + o]) < 4 * se, $"row {b}, output {o}: closed form {h[b * L + o]}, Monte Carlo {mean} ± {se}");
            }
        }
    }

    [Fact]
    public void A_component_with_sigma_zero_is_a_relu_neuron_and_x_zero_is_finite()
    {
        var (layer, x, g) = Setup(3);
        var single = new GaussianMixtureLayer(1, D, L);
        Array.Copy(layer.Mu, single.Mu, D);
        Array.Copy(layer.U, single.U, L * D);
        Array.Copy(layer.V, single.V, L);
        var h = new double[B * L];
        single.Forward(x, B, h);
        for (int b = 0; b < B; b++)
        {
            double pre = 0;
            for (int i = 0; i < D; i++) pre += single.Mu[i] * x[b * D + i];
            for (int o = 0; o < L; o++)
            {
                double omega = single.V[o];
                for (int i = 0; i < D; i++) omega += single.U[o * D + i] * single.Mu[i];
                Assert.True(Math.Abs(omega * Math.Max(pre, 0) - h[b * L + o]) <= 1e-12 * (1 + Math.Abs(h[b * L + o])));
            }
        }
        var zeros = new double[B * D];
        layer.Forward(zeros, B, h);
        Assert.All(h, v => Assert.True(Math.Abs(v) < 1e-9));
        var gx = new double[B * D];
        layer.Backward(g, gx);
        Assert.All(gx, v => Assert.True(double.IsFinite(v)));
        Assert.All(layer.Parameters.SelectMany(p => p.Gradient), v => Assert.True(double.IsFinite(v)));
    }

    [Fact]
    public void Zero_logit_loss_gradient_matches_finite_differences_and_rejects_bad_labels()
    {
        var rng = new Xoshiro256StarStar(5);
        var h = new double[B * L];
        rng.FillStandardNormal(h);
        for (int i = 0; i < h.Length; i++) h[i] *= 30; // large logits: the log-sum-exp must stay finite
        int[] labels = [0, 1, 4, 2, 0];
        var g = new double[B * L];
        double loss = ZeroLogitLoss.LossAndGradient(h, labels, L, g);
        Assert.True(double.IsFinite(loss) && loss >= 0);
        var scratch = new double[B * L];
        for (int i = 0; i < h.Length; i++)
        {
            double saved = h[i];
            h[i] = saved + 1e-6;
            double up = ZeroLogitLoss.LossAndGradient(h, labels, L, scratch);
            h[i] = saved - 1e-6;
            double down = ZeroLogitLoss.LossAndGradient(h, labels, L, scratch);
            h[i] = saved;
            Assert.True(Math.Abs((up - down) / 2e-6 - g[i]) < 1e-6, $"∂ℓ/∂h[{i}]: {g[i]} vs {(up - down) / 2e-6}");
        }
        Assert.Throws<ArgumentException>(() => ZeroLogitLoss.LossAndGradient(h, [0, 1, 5, 2, 0], L, g));
    }
}
