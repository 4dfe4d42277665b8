using Wasserflow.NeuralNetworks;
using Wasserflow.Randomness;

namespace Wasserflow.Tests.NeuralNetworks;

public class GaussianRegressionMixtureTests
{
    private const int D = 3, N = D + 1, Points = 5;

    private static (double[] Mu, double[] Sigma, double[] X, double[] Y) Problem(int components, ulong seed)
    {
        var rng = new Xoshiro256StarStar(seed);
        var mu = new double[components * N];
        rng.FillStandardNormal(mu);
        var sigma = new double[components * N * N];
        for (int k = 0; k < components; k++)
        {
            // Σ = G Gᵀ/N + 0.2 I, a generic SPD matrix with correlated ω and β.
            var g = new double[N * N];
            rng.FillStandardNormal(g);
            for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++)
                {
                    double v = i == j ? 0.2 : 0;
                    for (int p = 0; p < N; p++) v += g[i * N + p] * g[j * N + p] / N;
                    sigma[k * N * N + i * N + j] = v;
                }
        }
        var x = new double[Points * D];
        rng.FillStandardNormal(x);
        var y = new double[Points];
        rng.FillStandardNormal(y);
        return (mu, sigma, x, y);
    }

    [Fact]
    public void Closed_form_moments_agree_with_monte_carlo_and_satisfy_stein()
    {
        var (mu, sigma, x, _) = Problem(1, 1);
        // Cholesky of Σ for sampling θ = μ + L z.
        var l = (double[])sigma.Clone();
        Assert.True(Wasserflow.LinearAlgebra.Dense.TryCholesky(l, N));
        var rng = new Xoshiro256StarStar(2);
        const int samples = 1_000_000;
        var z = new double[N];
        var theta = new double[N];
        for (int point = 0; point < Points; point++)
        {
            ReadOnlySpan<double> xi = x.AsSpan(point * D, D);
            var mo = GaussianRegressionMixture.ComponentMoments(mu, sigma, xi);
            // Stein: M = E[∇f (θ − μ)ᵀ] = (Σ E∇²f)ᵀ = H Σ exactly.
            for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++)
                {
                    double sh = 0;
                    for (int p = 0; p < N; p++) sh += mo.Hessian[i * N + p] * sigma[p * N + j];
                    Assert.True(Math.Abs(sh - mo.SteinMatrix[i * N + j]) < 1e-12, $"point {point}: (HΣ)[{i},{j}] {sh} vs M {mo.SteinMatrix[i * N + j]}");
                }
            // Monte Carlo of f, a = E∇f and M = E[∇f (θ − μ)ᵀ]: 1 + N + N² entries, each a mean with its standard error.
            int entries = 1 + N + N * N;
            double[] sum = new double[entries], sq = new double[entries], v = new double[entries];
            for (int s = 0; s < samples; s++)
            {
                rng.FillStandardNormal(z);
                for (int i = 0; i < N; i++)
                {
                    double t = mu[i];
                    for (int p = 0; p <= i; p++) t += l[i * N + p] * z[p];
                    theta[i] = t;
                }
                double yv = 0;
                for (int j = 0; j < D; j++) yv += theta[1 + j] * xi[j];
                double relu = Math.Max(yv, 0), on = yv > 0 ? 1 : 0;
                v[0] = theta[0] * relu;
                v[1] = relu;
                for (int j = 0; j < D; j++) v[2 + j] = theta[0] * on * xi[j];
                for (int i = 0; i < N; i++)
                    for (int j = 0; j < N; j++) v[1 + N + i * N + j] = v[1 + i] * (theta[j] - mu[j]);
                for (int e = 0; e < entries; e++) { sum[e] += v[e]; sq[e] += v[e] * v[e]; }
            }
            double[] exact = [mo.C, .. mo.GradientMean, .. mo.SteinMatrix];
            for (int e = 0; e < entries; e++)
            {
                double mean = sum[e] / samples, se = Math.Sqrt(Math.Max(sq[e] / samples - mean * mean, 0) / samples);
                if (se == 0) { Assert.Equal(exact[e], mean, 12); continue; }
                Assert.True(Math.Abs(mean - exact[e]) <= 4 * se, $"point {point}, entry {e}: closed form {exact[e]}, Monte Carlo {mean} ± {se}");
            }
        }
    }

    private static double[] FiniteDifferenceSigmaGradient(double[] mu, double[] sigma, int components, double[] x, double[] y, int k)
    {
        // Symmetric perturbations: Σ_ij and Σ_ji move together, so dL = 2𝔊_ij h off the diagonal and 𝔊_ii h on it.
        var g = new double[N * N];
        const double h = 1e-6;
        for (int i = 0; i < N; i++)
            for (int j = 0; j <= i; j++)
            {
                var up = (double[])sigma.Clone();
                var down = (double[])sigma.Clone();
                int a = k * N * N + i * N + j, b = k * N * N + j * N + i;
                up[a] += h; down[a] -= h;
                if (a != b) { up[b] += h; down[b] -= h; }
                double diff = GaussianRegressionMixture.Loss(mu, up, components, D, x, y) - GaussianRegressionMixture.Loss(mu, down, components, D, x, y);
                g[i * N + j] = g[j * N + i] = diff / (2 * h) / (i == j ? 1 : 2);
            }
        return g;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Flow_is_K_times_the_negative_euclidean_gradient_and_matches_the_bures_wasserstein_form(int components)
    {
        var (mu, sigma, x, y) = Problem(components, (ulong)(10 + components));
        var muDot = new double[components * N];
        var sigmaDot = new double[components * N * N];
        var g = new double[components * N * N];
        GaussianRegressionMixture.Velocity(mu, sigma, components, D, x, y, muDot, sigmaDot, g);
        for (int k = 0; k < components; k++)
        {
            for (int i = 0; i < N; i++)
            {
                var up = (double[])mu.Clone();
                var down = (double[])mu.Clone();
                up[k * N + i] += 1e-6; down[k * N + i] -= 1e-6;
                double fd = (GaussianRegressionMixture.Loss(up, sigma, components, D, x, y) - GaussianRegressionMixture.Loss(down, sigma, components, D, x, y)) / 2e-6;
                Assert.True(Math.Abs(-components * fd - muDot[k * N + i]) < 1e-6 * (1 + Math.Abs(fd)), $"μ̇[{k},{i}] {muDot[k * N + i]} vs −K ∇L {-components * fd}");
            }
            double[] gfd = FiniteDifferenceSigmaGradient(mu, sigma, components, x, y, k);
            for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++)
                {
                    double expectedG = components * gfd[i * N + j];
                    Assert.True(Math.Abs(g[k * N * N + i * N + j] - expectedG) < 1e-6 * (1 + Math.Abs(expectedG)), $"𝔊[{k}][{i},{j}] {g[k * N * N + i * N + j]} vs K ∇_Σ L {expectedG}");
                    // Σ̇ = −2(Σ𝔊 + 𝔊Σ) with 𝔊 from finite differences.
                    double bw = 0;
                    for (int p = 0; p < N; p++)
                        bw -= 2 * (sigma[k * N * N + i * N + p] * components * gfd[p * N + j] + components * gfd[i * N + p] * sigma[k * N * N + p * N + j]);
                    Assert.True(Math.Abs(sigmaDot[k * N * N + i * N + j] - bw) < 1e-5 * (1 + Math.Abs(bw)), $"Σ̇[{k}][{i},{j}] {sigmaDot[k * N * N + i * N + j]} vs −2(Σ𝔊 + 𝔊Σ) {bw}");
                }
        }
    }

    [Fact]
    public void Small_flow_steps_decrease_the_loss_and_keep_covariances_positive_semidefinite()
    {
        var rng = new Xoshiro256StarStar(21);
        const int n = 60, d = 4;
        var x = new double[n * d];
        rng.FillStandardNormal(x);
        // Teacher: two ReLU neurons.
        var y = new double[n];
        for (int i = 0; i < n; i++) y[i] = 1.5 * Math.Max(x[i * d] + x[i * d + 1], 0) - Math.Max(x[i * d + 2], 0);
        var model = GaussianRegressionMixture.Initialize(rng, 3, d);
        double start = model.Loss(x, y), previous = double.PositiveInfinity;
        for (int step = 0; step < 40; step++)
        {
            double loss = model.Step(x, y, 0.02);
            Assert.True(loss < previous, $"step {step}: loss {loss} after {previous}");
            previous = loss;
        }
        Assert.True(model.Loss(x, y) < previous && previous < start);
        double[] sigma = model.Covariances();
        for (int k = 0; k < 3; k++)
        {
            var block = sigma.AsSpan(k * 25, 25).ToArray();
            for (int i = 0; i < 5; i++) block[i * 5 + i] += 1e-12;
            Assert.True(Wasserflow.LinearAlgebra.Dense.TryCholesky(block, 5), $"Σ_{k} is not positive semi-definite");
        }
    }
}
