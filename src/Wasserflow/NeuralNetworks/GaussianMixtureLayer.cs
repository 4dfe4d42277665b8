using System.Numerics.Tensors;
using MathNet.Numerics;
using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;

namespace Wasserflow.NeuralNetworks;

/// <summary>
/// The reduced (diagonal) Gaussian-mixture layer of paper 004, §4.2 [Chewi2025] (docs/specs/gm-layer.md §2–§6):
/// h(x) = (1/K) Σ_k E_{β ~ N(μ_k, diag σ_k²)}[(U_k β + v_k) r(β·x)] = (1/K) Σ_k [c_k A_k(x) + F_k(x) W_k x], with
/// c_k = U_k μ_k + v_k, W_k = U_k diag(σ_k²), m = μ_k·x, q = Σ_j σ_kj² x_j², t = m/√q, F = Φ(t), A = mF + √q φ(t).
/// Exact forward and backward passes in closed form over a minibatch (rows of a B×d matrix), in double precision.
/// </summary>
/// <remarks>
/// Parameters (row-major): <see cref="Mu"/> K×d, <see cref="Sigma"/> K×d (a signed square root of the variances;
/// only σ² enters), <see cref="U"/> K×L×d, <see cref="V"/> K×L. Safe as √q → 0 (σ_k = 0 or x = 0): √q is floored at
/// 1e−12, which makes a σ = 0 component a plain ReLU neuron and h(0) = 0 with finite gradients (spec §6).
/// Batched as in spec §4–§5: the K means and the K·L rows of W_k = U_k diag σ_k² are packed into one (K + KL)×d matrix P,
/// so the forward pass is two products X·Pᵀ and (X⊙X)·(σ²)ᵀ and the backward pass three more (Gᵀ·X, gQᵀ·(X⊙X) and, for
/// the input gradient, G·P), all through <see cref="Gemm"/>: O(B·K·d·L) per minibatch, no allocation after the first
/// minibatch of a given size. Not thread-safe: a layer caches its last forward pass for the backward pass.
/// </remarks>
public sealed class GaussianMixtureLayer : ILayer
{
    private const double Floor = 1e-12;
    private static readonly double InvSqrt2Pi = 1.0 / Math.Sqrt(2 * Math.PI);

    private readonly Parameter _mu, _sigma, _u, _v;

    // Sized by the parameters: P = [μ; W] ((K + KL)×d), σ² (K×d), c (K×L), ∂ℓ/∂P, ∂ℓ/∂σ² part, ∂ℓ/∂c.
    private readonly double[] _p, _sigmaSquared, _c, _gP, _gS, _gC;

    // Sized by the batch: x, x⊙x (B×d); [M | Z] = X·Pᵀ (B×(K + KL)); Q, s, F, A, p0 (B×K); [gM | GF] (B×(K + KL)); gQ (B×K);
    // and the input-gradient work row block (B×d).
    private double[] _x = [], _x2 = [], _mz = [], _q = [], _s = [], _f = [], _a = [], _p0 = [], _g = [], _gq = [], _work = [];
    private int _batch;

    /// <summary>A layer with K components from d inputs to L outputs, parameters zero.</summary>
    public GaussianMixtureLayer(int components, int inputs, int outputs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(components, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(inputs, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outputs, 1);
        Components = components;
        Inputs = inputs;
        Outputs = outputs;
        _mu = new Parameter("mu", new double[components * inputs]);
        _sigma = new Parameter("sigma", new double[components * inputs]);
        _u = new Parameter("U", new double[components * outputs * inputs]);
        _v = new Parameter("v", new double[components * outputs]);
        Parameters = [_mu, _sigma, _u, _v];
        int rows = components * (1 + outputs);
        _p = new double[rows * inputs];
        _gP = new double[rows * inputs];
        _sigmaSquared = new double[components * inputs];
        _gS = new double[components * inputs];
        _c = new double[components * outputs];
        _gC = new double[components * outputs];
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

    /// <inheritdoc/>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>Means μ_k of β, K×d.</summary>
    public double[] Mu => _mu.Values;

    /// <summary>Signed standard deviations σ_k of β, K×d.</summary>
    public double[] Sigma => _sigma.Values;

    /// <summary>U_k, K×L×d.</summary>
    public double[] U => _u.Values;

    /// <summary>v_k, K×L.</summary>
    public double[] V => _v.Values;

    /// <inheritdoc/>
    public void Forward(ReadOnlySpan<double> inputs, int batch, Span<double> outputs)
    {
        int k = Components, d = Inputs, l = Outputs, rows = k * (1 + l);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        if (inputs.Length < batch * d || outputs.Length < batch * l) throw new ArgumentException("buffers smaller than batch × dimension.");
        EnsureBatch(batch);
        double[] c = _c, p = _p, sigmaSquared = _sigmaSquared;
        // P = [μ; W] with W_k = U_k diag σ_k² (rows of U scaled column-wise), and c_k = U_k μ_k + v_k.
        TensorPrimitives.Multiply(Sigma, Sigma, sigmaSquared);
        Mu.AsSpan().CopyTo(p);
        for (int j = 0; j < k; j++)
            for (int o = 0; o < l; o++)
            {
                int jo = j * l + o;
                ReadOnlySpan<double> urow = U.AsSpan(jo * d, d);
                c[jo] = LinearAlgebra.Reductions.Dot(urow, Mu.AsSpan(j * d, d)) + V[jo];
                TensorPrimitives.Multiply(urow, sigmaSquared.AsSpan(j * d, d), p.AsSpan((k + jo) * d, d));
            }
        Span<double> x = _x.AsSpan(0, batch * d), x2 = _x2.AsSpan(0, batch * d);
        inputs[..(batch * d)].CopyTo(x);
        TensorPrimitives.Multiply(x, x, x2);
        Gemm.MultiplyTransposed(x, batch, p, rows, d, _mz);
        Gemm.MultiplyTransposed(x2, batch, sigmaSquared, k, d, _q);
        double kappa = 1.0 / k;
        outputs[..(batch * l)].Clear();
        for (int b = 0; b < batch; b++)
        {
            Span<double> h = outputs.Slice(b * l, l);
            ReadOnlySpan<double> mz = _mz.AsSpan(b * rows, rows);
            for (int j = 0; j < k; j++)
            {
                int bj = b * k + j;
                double m = mz[j], q = _q[bj];
                // The floor is applied to q before any division, so an inactive lane (σ_k ⊙ x = 0) never sees inf·0.
                double s = Math.Sqrt(q > Floor * Floor ? q : Floor * Floor);
                double t = m / s;
                double f = 0.5 * SpecialFunctions.Erfc(-t / Math.Sqrt(2));
                double phi = InvSqrt2Pi * Math.Exp(-0.5 * t * t);
                double a = Math.Max(m * f + s * phi, 0.0);
                _s[bj] = s; _f[bj] = f; _a[bj] = a; _p0[bj] = phi / s;
                ReadOnlySpan<double> z = mz.Slice(k + j * l, l);
                ReadOnlySpan<double> cj = c.AsSpan(j * l, l);
                for (int o = 0; o < l; o++) h[o] += kappa * (cj[o] * a + f * z[o]);
            }
        }
        _batch = batch;
    }

    /// <inheritdoc/>
    public void Backward(ReadOnlySpan<double> outputGradients, Span<double> inputGradients)
    {
        int k = Components, d = Inputs, l = Outputs, rows = k * (1 + l), batch = _batch;
        if (batch == 0) throw new InvalidOperationException("Backward needs a Forward pass first.");
        if (outputGradients.Length < batch * l) throw new ArgumentException("the output gradient is smaller than batch × L.");
        if (!inputGradients.IsEmpty && inputGradients.Length < batch * d) throw new ArgumentException("the input gradient is smaller than batch × d.");
        double kappa = 1.0 / k;
        double[] c = _c, gC = _gC, g = _g, gq = _gq;
        Array.Clear(gC);
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<double> gh = outputGradients.Slice(b * l, l);
            ReadOnlySpan<double> mz = _mz.AsSpan(b * rows, rows);
            Span<double> gb = g.AsSpan(b * rows, rows);
            for (int j = 0; j < k; j++)
            {
                int bj = b * k + j;
                double gA = kappa * LinearAlgebra.Reductions.Dot(gh, c.AsSpan(j * l, l));
                double gF = kappa * LinearAlgebra.Reductions.Dot(gh, mz.Slice(k + j * l, l));
                double m = mz[j], s = _s[bj], p0 = _p0[bj], f = _f[bj], a = _a[bj];
                gb[j] = gA * f + gF * p0;                                                           // ∂ℓ/∂m
                gq[bj] = _q[bj] > Floor * Floor ? 0.5 * p0 * (gA - gF * m / (s * s)) : 0.0;       // ∂ℓ/∂q
                Span<double> gf = gb.Slice(k + j * l, l);
                TensorPrimitives.Multiply(gh, kappa * f, gf);                                      // GF = κ F ĝ
                TensorPrimitives.MultiplyAdd(gh, kappa * a, gC.AsSpan(j * l, l), gC.AsSpan(j * l, l)); // gC += κ A ĝ
            }
        }
        // [Σ_b gM x_b ; gW] = Gᵀ·X  and  Σ_b gQ (x_b ⊙ x_b) = gQᵀ·(X⊙X).
        Array.Clear(_gP);
        Array.Clear(_gS);
        Gemm.AddProduct(g, 1, rows, rows, batch, _x, d, _gP);
        Gemm.AddProduct(gq, 1, k, k, batch, _x2, d, _gS);
        // Through c_k = U_k μ_k + v_k and W_k = U_k diag σ_k².
        double[] gMu = _mu.Gradient, gSigma = _sigma.Gradient, gU = _u.Gradient, gV = _v.Gradient;
        _gP.AsSpan(0, k * d).CopyTo(gMu);
        _gS.AsSpan().CopyTo(gSigma);
        gC.AsSpan().CopyTo(gV);
        for (int j = 0; j < k; j++)
        {
            ReadOnlySpan<double> mu = Mu.AsSpan(j * d, d), s2 = _sigmaSquared.AsSpan(j * d, d);
            Span<double> gm = gMu.AsSpan(j * d, d), gs = gSigma.AsSpan(j * d, d);
            for (int o = 0; o < l; o++)
            {
                int jo = j * l + o;
                ReadOnlySpan<double> urow = U.AsSpan(jo * d, d), gw = _gP.AsSpan((k + jo) * d, d);
                Span<double> gu = gU.AsSpan(jo * d, d);
                TensorPrimitives.Multiply(gw, s2, gu);
                TensorPrimitives.MultiplyAdd(mu, gC[jo], gu, gu);      // ∂ℓ/∂U = gC μᵀ + gW diag σ²
                TensorPrimitives.MultiplyAdd(urow, gC[jo], gm, gm);    // ∂ℓ/∂μ += Uᵀ gC
                TensorPrimitives.MultiplyAdd(urow, gw, gs, gs);        // Σ_l U ⊙ gW
            }
            ReadOnlySpan<double> sigma = Sigma.AsSpan(j * d, d);
            TensorPrimitives.Multiply(gs, sigma, gs);
            TensorPrimitives.Multiply(gs, 2.0, gs);                    // ∂ℓ/∂σ = 2σ ⊙ (...)
        }
        if (inputGradients.IsEmpty) return;
        // ∂ℓ/∂X = [gM | GF]·P + 2 X ⊙ (gQ·σ²).
        Span<double> gx = inputGradients[..(batch * d)], work = _work.AsSpan(0, batch * d);
        gx.Clear();
        work.Clear();
        Gemm.AddProduct(g, rows, 1, batch, rows, _p, d, gx);
        Gemm.AddProduct(gq, k, 1, batch, k, _sigmaSquared, d, work);
        TensorPrimitives.Multiply(work, _x.AsSpan(0, batch * d), work);
        TensorPrimitives.MultiplyAdd(work, 2.0, gx, gx);
    }

    private void EnsureBatch(int batch)
    {
        if (_q.Length >= batch * Components) return;
        int k = Components, rows = k * (1 + Outputs);
        _x = new double[batch * Inputs];
        _x2 = new double[batch * Inputs];
        _work = new double[batch * Inputs];
        _mz = new double[batch * rows];
        _g = new double[batch * rows];
        _q = new double[batch * k];
        _s = new double[batch * k];
        _f = new double[batch * k];
        _a = new double[batch * k];
        _p0 = new double[batch * k];
        _gq = new double[batch * k];
    }
}
