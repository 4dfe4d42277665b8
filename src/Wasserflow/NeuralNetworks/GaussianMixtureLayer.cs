using System.Numerics.Tensors;
using MathNet.Numerics;
using Wasserflow.Randomness;

namespace Wasserflow.NeuralNetworks;

/// <summary>
/// The reduced (diagonal) Gaussian-mixture layer of paper 004, §4.2 [Chewi2025] (../specs/gm-layer.md §2–§6):
/// h(x) = (1/K) Σ_k E_{β ~ N(μ_k, diag σ_k²)}[(U_k β + v_k) r(β·x)] = (1/K) Σ_k [c_k A_k(x) + F_k(x) W_k x], with
/// c_k = U_k μ_k + v_k, W_k = U_k diag(σ_k²), m = μ_k·x, q = Σ_j σ_kj² x_j², t = m/√q, F = Φ(t), A = mF + √q φ(t).
/// Exact forward and backward passes in closed form over a minibatch (rows of a B×d matrix), in double precision.
/// </summary>
/// <remarks>
/// Parameters (row-major): <see cref="Mu"/> K×d, <see cref="Sigma"/> K×d (a signed square root of the variances;
/// only σ² enters), <see cref="U"/> K×L×d, <see cref="V"/> K×L. Safe as √q → 0 (σ_k = 0 or x = 0): √q is floored at
/// 1e−12, which makes a σ = 0 component a plain ReLU neuron and h(0) = 0 with finite gradients (spec §6).
/// Cost per minibatch O(B·K·d·L). Not thread-safe: a layer caches its last forward pass for the backward pass.
/// </remarks>
public sealed class GaussianMixtureLayer
{
    private const double Floor = 1e-12;
    private static readonly double InvSqrt2Pi = 1.0 / Math.Sqrt(2 * Math.PI);

    // Cache of the last forward pass (B×K unless noted).
    private double[] _x = [], _m = [], _s = [], _f = [], _a = [], _p0 = [], _z = []; // _z: B×K×L
    private bool[] _active = [];
    private int _batch;

    // Per-call work buffers, sized by the parameters: c_k (K×L), W_k (K×L×d), σ² (K×d), x² (d), and the backward's
    // ∂ℓ/∂c (K×L) and ∂ℓ/∂W (K×L×d).
    private readonly double[] _c, _w, _sigmaSquared, _xSquared, _gC, _gW;

    /// <summary>A layer with K components from d inputs to L outputs, parameters zero.</summary>
    public GaussianMixtureLayer(int components, int inputs, int outputs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(components, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(inputs, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outputs, 1);
        Components = components;
        Inputs = inputs;
        Outputs = outputs;
        Mu = new double[components * inputs];
        Sigma = new double[components * inputs];
        U = new double[components * outputs * inputs];
        V = new double[components * outputs];
        _c = new double[components * outputs];
        _w = new double[components * outputs * inputs];
        _sigmaSquared = new double[components * inputs];
        _xSquared = new double[inputs];
        _gC = new double[components * outputs];
        _gW = new double[components * outputs * inputs];
    }

    /// <summary>The paper's initialisation (§5): μ, U, v entries i.i.d. N(0, γ²) and every σ entry equal to γ.</summary>
    public static GaussianMixtureLayer Initialize(Xoshiro256StarStar rng, int components, int inputs, int outputs, double gamma = 0.5)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var layer = new GaussianMixtureLayer(components, inputs, outputs);
        foreach (double[] p in new[] { layer.Mu, layer.U, layer.V })
        {
            rng.FillStandardNormal(p);
            TensorPrimitives.Multiply(p, gamma, p);
        }
        layer.Sigma.AsSpan().Fill(gamma);
        return layer;
    }

    /// <summary>K.</summary>
    public int Components { get; }

    /// <summary>d, the input dimension.</summary>
    public int Inputs { get; }

    /// <summary>L, the output dimension.</summary>
    public int Outputs { get; }

    /// <summary>Means μ_k of β, K×d.</summary>
    public double[] Mu { get; }

    /// <summary>Signed standard deviations σ_k of β, K×d.</summary>
    public double[] Sigma { get; }

    /// <summary>U_k, K×L×d.</summary>
    public double[] U { get; }

    /// <summary>v_k, K×L.</summary>
    public double[] V { get; }

    /// <summary>
    /// h for the <paramref name="batch"/> rows of <paramref name="inputs"/> (B×d) into <paramref name="outputs"/> (B×L),
    /// caching what <see cref="Backward"/> needs.
    /// </summary>
    public void Forward(ReadOnlySpan<double> inputs, int batch, Span<double> outputs)
    {
        int k = Components, d = Inputs, l = Outputs;
        if (inputs.Length < batch * d || outputs.Length < batch * l) throw new ArgumentException("buffers smaller than batch × dimension.");
        EnsureCache(batch);
        inputs[..(batch * d)].CopyTo(_x);
        // c_k = U_k μ_k + v_k (K×L) and W_k = U_k diag σ_k² (rows of U scaled column-wise).
        double[] c = _c, w = _w, sigmaSquared = _sigmaSquared;
        TensorPrimitives.Multiply(Sigma, Sigma, sigmaSquared);
        for (int j = 0; j < k; j++)
            for (int o = 0; o < l; o++)
            {
                ReadOnlySpan<double> urow = U.AsSpan((j * l + o) * d, d);
                c[j * l + o] = TensorPrimitives.Dot(urow, Mu.AsSpan(j * d, d)) + V[j * l + o];
                TensorPrimitives.Multiply(urow, sigmaSquared.AsSpan(j * d, d), w.AsSpan((j * l + o) * d, d));
            }
        double[] xSquared = _xSquared;
        outputs[..(batch * l)].Clear();
        double kappa = 1.0 / k;
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<double> x = _x.AsSpan(b * d, d);
            TensorPrimitives.Multiply(x, x, xSquared);
            Span<double> h = outputs.Slice(b * l, l);
            for (int j = 0; j < k; j++)
            {
                int bj = b * k + j;
                double m = TensorPrimitives.Dot(x, Mu.AsSpan(j * d, d));
                double q = TensorPrimitives.Dot(xSquared, sigmaSquared.AsSpan(j * d, d));
                bool active = q > Floor * Floor;
                double s = Math.Sqrt(active ? q : Floor * Floor);
                double t = m / s;
                double f = 0.5 * SpecialFunctions.Erfc(-t / Math.Sqrt(2));
                double phi = InvSqrt2Pi * Math.Exp(-0.5 * t * t);
                double a = Math.Max(m * f + s * phi, 0.0);
                _m[bj] = m; _s[bj] = s; _f[bj] = f; _a[bj] = a; _p0[bj] = phi / s; _active[bj] = active;
                for (int o = 0; o < l; o++)
                {
                    double zo = TensorPrimitives.Dot(w.AsSpan((j * l + o) * d, d), x);
                    _z[bj * l + o] = zo;
                    h[o] += kappa * (c[j * l + o] * a + f * zo);
                }
            }
        }
        _batch = batch;
    }

    /// <summary>
    /// Given ∂ℓ/∂h (B×L) for the last <see cref="Forward"/> batch, writes ∂ℓ/∂θ into <paramref name="gradients"/>
    /// (same shapes as the parameters) and, when <paramref name="inputGradients"/> is not empty, ∂ℓ/∂x (B×d).
    /// </summary>
    public void Backward(ReadOnlySpan<double> outputGradients, GaussianMixtureLayerGradients gradients, Span<double> inputGradients)
    {
        ArgumentNullException.ThrowIfNull(gradients);
        int k = Components, d = Inputs, l = Outputs, batch = _batch;
        if (batch == 0) throw new InvalidOperationException("Backward needs a Forward pass first.");
        if (outputGradients.Length < batch * l) throw new ArgumentException("the output gradient is smaller than batch × L.");
        gradients.Clear();
        double kappa = 1.0 / k;
        double[] c = _c, sigmaSquared = _sigmaSquared, gC = _gC, gWeights = _gW;
        Array.Clear(gC);
        Array.Clear(gWeights);
        TensorPrimitives.Multiply(Sigma, Sigma, sigmaSquared);
        for (int j = 0; j < k; j++)
            for (int o = 0; o < l; o++)
                c[j * l + o] = TensorPrimitives.Dot(U.AsSpan((j * l + o) * d, d), Mu.AsSpan(j * d, d)) + V[j * l + o];
        bool wantInput = !inputGradients.IsEmpty;
        if (wantInput) inputGradients[..(batch * d)].Clear();
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<double> x = _x.AsSpan(b * d, d);
            ReadOnlySpan<double> g = outputGradients.Slice(b * l, l);
            for (int j = 0; j < k; j++)
            {
                int bj = b * k + j;
                double gA = kappa * TensorPrimitives.Dot(g, c.AsSpan(j * l, l));
                double gF = kappa * TensorPrimitives.Dot(g, _z.AsSpan(bj * l, l));
                double m = _m[bj], s = _s[bj], p0 = _p0[bj], f = _f[bj], a = _a[bj];
                double gM = gA * f + gF * p0;
                double gQ = _active[bj] ? 0.5 * p0 * (gA - gF * m / (s * s)) : 0.0;
                // ∂ℓ/∂μ_k += gM x;  ∂ℓ/∂σ_k += 2σ_k ⊙ gQ (x ⊙ x)  (the W part is added below).
                Span<double> gMu = gradients.Mu.AsSpan(j * d, d), gSigma = gradients.Sigma.AsSpan(j * d, d);
                ReadOnlySpan<double> sigma = Sigma.AsSpan(j * d, d);
                for (int i = 0; i < d; i++)
                {
                    gMu[i] += gM * x[i];
                    gSigma[i] += 2.0 * sigma[i] * gQ * x[i] * x[i];
                }
                // gC_k += κ A g;  gW_k += κ F g xᵀ.
                for (int o = 0; o < l; o++)
                {
                    gC[j * l + o] += kappa * a * g[o];
                    TensorPrimitives.MultiplyAdd(x, kappa * f * g[o], gWeights.AsSpan((j * l + o) * d, d), gWeights.AsSpan((j * l + o) * d, d));
                }
                if (wantInput)
                {
                    // ∂ℓ/∂x += gM μ_k + 2 gQ (σ_k² ⊙ x) + κ F Σ_o g_o W_k[o, :].
                    Span<double> gx = inputGradients.Slice(b * d, d);
                    ReadOnlySpan<double> mu = Mu.AsSpan(j * d, d), s2 = sigmaSquared.AsSpan(j * d, d);
                    for (int i = 0; i < d; i++) gx[i] += gM * mu[i] + 2.0 * gQ * s2[i] * x[i];
                    for (int o = 0; o < l; o++)
                    {
                        double scale = kappa * f * g[o];
                        if (scale == 0.0) continue;
                        ReadOnlySpan<double> urow = U.AsSpan((j * l + o) * d, d);
                        for (int i = 0; i < d; i++) gx[i] += scale * urow[i] * s2[i];
                    }
                }
            }
        }
        // Through c_k = U_k μ_k + v_k and W_k = U_k diag σ_k².
        for (int j = 0; j < k; j++)
        {
            ReadOnlySpan<double> mu = Mu.AsSpan(j * d, d), sigma = Sigma.AsSpan(j * d, d), s2 = sigmaSquared.AsSpan(j * d, d);
            Span<double> gMu = gradients.Mu.AsSpan(j * d, d), gSigma = gradients.Sigma.AsSpan(j * d, d);
            for (int o = 0; o < l; o++)
            {
                int jo = j * l + o;
                double gc = gC[jo];
                gradients.V[jo] = gc;
                ReadOnlySpan<double> urow = U.AsSpan(jo * d, d), gw = gWeights.AsSpan(jo * d, d);
                Span<double> gU = gradients.U.AsSpan(jo * d, d);
                for (int i = 0; i < d; i++)
                {
                    gU[i] = gc * mu[i] + gw[i] * s2[i];
                    gMu[i] += urow[i] * gc;
                    gSigma[i] += 2.0 * sigma[i] * urow[i] * gw[i];
                }
            }
        }
    }

    private void EnsureCache(int batch)
    {
        int k = Components;
        if (_m.Length >= batch * k && _x.Length == batch * Inputs) return;
        _x = new double[batch * Inputs];
        _m = new double[batch * k];
        _s = new double[batch * k];
        _f = new double[batch * k];
        _a = new double[batch * k];
        _p0 = new double[batch * k];
        _active = new bool[batch * k];
        _z = new double[batch * k * Outputs];
    }
}

/// <summary>Gradients of a <see cref="GaussianMixtureLayer"/>'s parameters, in the same shapes.</summary>
public sealed class GaussianMixtureLayerGradients(GaussianMixtureLayer layer)
{
    /// <summary>∂ℓ/∂μ, K×d.</summary>
    public double[] Mu { get; } = new double[(layer ?? throw new ArgumentNullException(nameof(layer))).Mu.Length];

    /// <summary>∂ℓ/∂σ, K×d.</summary>
    public double[] Sigma { get; } = new double[layer.Sigma.Length];

    /// <summary>∂ℓ/∂U, K×L×d.</summary>
    public double[] U { get; } = new double[layer.U.Length];

    /// <summary>∂ℓ/∂v, K×L.</summary>
    public double[] V { get; } = new double[layer.V.Length];

    /// <summary>Sets every entry to 0.</summary>
    public void Clear()
    {
        Array.Clear(Mu);
        Array.Clear(Sigma);
        Array.Clear(U);
        Array.Clear(V);
    }
}
