using System.Numerics.Tensors;
using MathNet.Numerics;
using Wasserflow.Randomness;

namespace Wasserflow.NeuralNetworks;

/// <summary>
/// The full-covariance GM layer for scalar regression (paper 004, Appendix A; docs/specs/gm-layer.md §10): neurons
/// θ = (ω, β) ∈ R^{1+d} with f(x, θ) = ω r(β·x), distributed as the mixture ρ = (1/K) Σ_k N(μ_k, Σ_k) with Σ_k = C_k C_kᵀ,
/// prediction E_ρ f(x) in closed form, squared loss L = (1/n) Σ_i (y_i − E_ρ f(x_i))², and its exact
/// Bures–Wasserstein gradient flow (Theorem 2 for K = 1, the mixture case for K &gt; 1):
/// μ̇_k = (2/n) Σ_i r_i a_i⁽ᵏ⁾ and Σ̇_k = (2/n) Σ_i r_i (M_i⁽ᵏ⁾ + M_i⁽ᵏ⁾ᵀ) = −2(Σ_k 𝔊_k + 𝔊_k Σ_k),
/// with r_i the mixture's residual, a = E_k ∇_θ f, M = E_k[∇_θ f (θ − μ_k)ᵀ] and 𝔊_k = −(1/n) Σ_i r_i E_k ∇²_θ f, all in
/// closed form by Stein's lemma (spec §10.2). A step moves μ_k ← μ_k + η μ̇_k and C_k ← (I − 2η 𝔊_k) C_k, the
/// square-root form that keeps every Σ_k positive semi-definite.
/// </summary>
public sealed class GaussianRegressionMixture
{
    private const double Floor = 1e-24;
    private static readonly double InvSqrt2Pi = 1.0 / Math.Sqrt(2 * Math.PI);

    /// <summary>K components over θ = (ω, β) ∈ R^{1+d}, means 0 and factors 0.</summary>
    public GaussianRegressionMixture(int components, int inputs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(components, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(inputs, 1);
        Components = components;
        Inputs = inputs;
        Means = new double[components * Dimension];
        Factors = new double[components * Dimension * Dimension];
    }

    /// <summary>Means i.i.d. N(0, γ²) and factors γ I (as the classification layer's initialisation).</summary>
    public static GaussianRegressionMixture Initialize(Xoshiro256StarStar rng, int components, int inputs, double gamma = 0.5)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var model = new GaussianRegressionMixture(components, inputs);
        rng.FillStandardNormal(model.Means);
        TensorPrimitives.Multiply(model.Means, gamma, model.Means);
        int n = model.Dimension;
        for (int k = 0; k < components; k++)
            for (int i = 0; i < n; i++) model.Factors[k * n * n + i * n + i] = gamma;
        return model;
    }

    /// <summary>K.</summary>
    public int Components { get; }

    /// <summary>d, the input dimension.</summary>
    public int Inputs { get; }

    /// <summary>D = 1 + d, the dimension of θ = (ω, β).</summary>
    public int Dimension => Inputs + 1;

    /// <summary>μ_k, K×D, θ ordered (ω, β).</summary>
    public double[] Means { get; }

    /// <summary>Square roots C_k (any D×D matrix with Σ_k = C_k C_kᵀ), K×D×D row-major.</summary>
    public double[] Factors { get; }

    /// <summary>Σ_k = C_k C_kᵀ, K×D×D.</summary>
    public double[] Covariances()
    {
        int n = Dimension;
        var sigma = new double[Components * n * n];
        for (int k = 0; k < Components; k++)
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    sigma[k * n * n + i * n + j] = LinearAlgebra.Reductions.Dot(Factors.AsSpan(k * n * n + i * n, n), Factors.AsSpan(k * n * n + j * n, n));
        return sigma;
    }

    /// <summary>E_ρ f(x) for each of the <paramref name="count"/> rows of <paramref name="x"/>.</summary>
    public double[] Predict(ReadOnlySpan<double> x, int count) => Predict(Means, Covariances(), Components, Inputs, x, count);

    /// <summary>The squared loss (1/n) Σ (y_i − E_ρ f(x_i))².</summary>
    public double Loss(ReadOnlySpan<double> x, ReadOnlySpan<double> y) => Loss(Means, Covariances(), Components, Inputs, x, y);

    /// <summary>
    /// The flow's velocity at the current state: μ̇ (K×D), Σ̇ (K×D×D) and 𝔊 (K×D×D, so that Σ̇_k = −2(Σ_k𝔊_k + 𝔊_kΣ_k)).
    /// </summary>
    public void Velocity(ReadOnlySpan<double> x, ReadOnlySpan<double> y, Span<double> meanVelocity, Span<double> covarianceVelocity, Span<double> gradient) =>
        _ = Velocity(Means, Covariances(), Components, Inputs, x, y, meanVelocity, covarianceVelocity, gradient);

    /// <summary>One explicit step of size η: μ_k += η μ̇_k, C_k ← (I − 2η 𝔊_k) C_k. Returns the loss before the step.</summary>
    /// <exception cref="ArithmeticException">The step produced a non-finite value (step size too large); the state is unchanged.</exception>
    public double Step(ReadOnlySpan<double> x, ReadOnlySpan<double> y, double stepSize)
    {
        if (!(stepSize > 0) || !double.IsFinite(stepSize)) throw new ArgumentOutOfRangeException(nameof(stepSize), stepSize, "must be finite and positive.");
        int n = Dimension, k = Components;
        double[] sigma = Covariances();
        var mu = new double[k * n];
        var sigmaDot = new double[k * n * n];
        var g = new double[k * n * n];
        double loss = Velocity(Means, sigma, k, Inputs, x, y, mu, sigmaDot, g);
        var newMeans = (double[])Means.Clone();
        TensorPrimitives.MultiplyAdd(mu, stepSize, newMeans, newMeans);
        var newFactors = new double[Factors.Length];
        for (int c = 0; c < k; c++)
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                {
                    double v = Factors[c * n * n + i * n + j];
                    for (int p = 0; p < n; p++) v -= 2 * stepSize * g[c * n * n + i * n + p] * Factors[c * n * n + p * n + j];
                    newFactors[c * n * n + i * n + j] = v;
                }
        if (newMeans.All(double.IsFinite) && newFactors.All(double.IsFinite))
        {
            newMeans.CopyTo(Means, 0);
            newFactors.CopyTo(Factors, 0);
            return loss;
        }
        throw new ArithmeticException($"a flow step of size {stepSize} produced non-finite parameters; reduce the step size.");
    }

    // ---- Closed-form moments (static, over explicit μ and Σ, so tests can differentiate them) ----

    /// <summary>The Gaussian moments of one component at one input (spec §10.2).</summary>
    internal readonly record struct Moments(double A, double C, double[] GradientMean, double[] SteinMatrix, double[] Hessian);

    /// <summary>
    /// For θ ~ N(μ, Σ) (D = d + 1) and input x: A = E r(Y), C = E f, a = E∇_θ f (D), M = E[∇_θ f (θ − μ)ᵀ] (D×D) and
    /// H = E∇²_θ f (D×D, symmetric), Y = β·x.
    /// </summary>
    internal static Moments ComponentMoments(ReadOnlySpan<double> mu, ReadOnlySpan<double> sigma, ReadOnlySpan<double> x)
    {
        int d = x.Length, n = d + 1;
        // c = Σ (0, x) = Cov(θ, Y).
        var c = new double[n];
        for (int i = 0; i < n; i++) c[i] = LinearAlgebra.Reductions.Dot(sigma.Slice(i * n + 1, d), x);
        double m = LinearAlgebra.Reductions.Dot(mu[1..], x);
        double q = Math.Max(LinearAlgebra.Reductions.Dot(c.AsSpan(1), x), Floor);
        double s = Math.Sqrt(q), t = m / s;
        double f = 0.5 * SpecialFunctions.Erfc(-t / Math.Sqrt(2)), phi = InvSqrt2Pi * Math.Exp(-0.5 * t * t), p0 = phi / s;
        double a = Math.Max(m * f + s * phi, 0.0), kappa = m * p0 / q;
        double muW = mu[0], cW = c[0], sWW = sigma[0];
        double b = muW * f + cW * p0;
        double cc = muW * a + cW * f;
        double dd = (muW * muW + sWW) * f + 2 * muW * cW * p0 - cW * cW * kappa;
        var grad = new double[n];
        grad[0] = a;
        for (int j = 0; j < d; j++) grad[1 + j] = b * x[j];
        // E[∇f θᵀ] = [[C, Pᵀ], [D x, x Qᵀ]], then M = E[∇f θᵀ] − a μᵀ.
        var stein = new double[n * n];
        stein[0] = cc;
        for (int j = 0; j < d; j++)
        {
            double pj = mu[1 + j] * a + c[1 + j] * f;
            stein[1 + j] = pj;
        }
        for (int i = 0; i < d; i++)
        {
            stein[(1 + i) * n] = dd * x[i];
            for (int j = 0; j < d; j++)
            {
                double qj = muW * mu[1 + j] * f + (muW * c[1 + j] + cW * mu[1 + j]) * p0 + sigma[(1 + j) * n] * f - cW * c[1 + j] * kappa;
                stein[(1 + i) * n + 1 + j] = x[i] * qj;
            }
        }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) stein[i * n + j] -= grad[i] * mu[j];
        // E∇²f = [[0, F xᵀ], [F x, E[ω δ(Y)] x xᵀ]], E[ω δ(Y)] = p0 (μ^ω − c^ω m/q).
        var hessian = new double[n * n];
        double e = p0 * (muW - cW * m / q);
        for (int i = 0; i < d; i++)
        {
            hessian[1 + i] = hessian[(1 + i) * n] = f * x[i];
            for (int j = 0; j < d; j++) hessian[(1 + i) * n + 1 + j] = e * x[i] * x[j];
        }
        return new Moments(a, cc, grad, stein, hessian);
    }

    internal static double[] Predict(ReadOnlySpan<double> means, ReadOnlySpan<double> sigmas, int components, int d, ReadOnlySpan<double> x, int count)
    {
        int n = d + 1;
        if (x.Length < count * d) throw new ArgumentException($"x holds {x.Length} values, fewer than {count} rows × {d}.");
        var result = new double[count];
        for (int i = 0; i < count; i++)
        {
            double sum = 0;
            for (int k = 0; k < components; k++) sum += ComponentMoments(means.Slice(k * n, n), sigmas.Slice(k * n * n, n * n), x.Slice(i * d, d)).C;
            result[i] = sum / components;
        }
        return result;
    }

    internal static double Loss(ReadOnlySpan<double> means, ReadOnlySpan<double> sigmas, int components, int d, ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        double[] prediction = Predict(means, sigmas, components, d, x, y.Length);
        double loss = 0;
        for (int i = 0; i < y.Length; i++) loss += (y[i] - prediction[i]) * (y[i] - prediction[i]);
        return loss / y.Length;
    }

    /// <summary>Writes μ̇, Σ̇ and 𝔊 (see <see cref="Velocity(ReadOnlySpan{double}, ReadOnlySpan{double}, Span{double}, Span{double}, Span{double})"/>) and returns the loss, with each component's moments formed once per point.</summary>
    internal static double Velocity(ReadOnlySpan<double> means, ReadOnlySpan<double> sigmas, int components, int d, ReadOnlySpan<double> x, ReadOnlySpan<double> y,
        Span<double> meanVelocity, Span<double> covarianceVelocity, Span<double> gradient)
    {
        int n = d + 1, count = y.Length;
        if (x.Length < count * d) throw new ArgumentException($"x holds {x.Length} values, fewer than {count} rows × {d}.");
        meanVelocity[..(components * n)].Clear();
        covarianceVelocity[..(components * n * n)].Clear();
        gradient[..(components * n * n)].Clear();
        var moments = new Moments[components];
        double loss = 0;
        for (int i = 0; i < count; i++)
        {
            double sum = 0;
            for (int k = 0; k < components; k++)
            {
                moments[k] = ComponentMoments(means.Slice(k * n, n), sigmas.Slice(k * n * n, n * n), x.Slice(i * d, d));
                sum += moments[k].C;
            }
            double r = y[i] - sum / components, w = 2.0 * r / count;
            loss += r * r;
            for (int k = 0; k < components; k++)
            {
                Moments mo = moments[k];
                TensorPrimitives.MultiplyAdd(mo.GradientMean, w, meanVelocity.Slice(k * n, n), meanVelocity.Slice(k * n, n));
                Span<double> sd = covarianceVelocity.Slice(k * n * n, n * n), g = gradient.Slice(k * n * n, n * n);
                for (int p = 0; p < n; p++)
                    for (int q = 0; q < n; q++)
                        sd[p * n + q] += w * (mo.SteinMatrix[p * n + q] + mo.SteinMatrix[q * n + p]);
                TensorPrimitives.MultiplyAdd(mo.Hessian, -0.5 * w, g, g);
            }
        }
        return loss / count;
    }
}
