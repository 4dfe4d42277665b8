using System.Numerics.Tensors;
using Wasserflow.LinearAlgebra;
using Wasserflow.NeuralNetworks;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Baselines;

/// <summary>
/// The normalizing-flow baseline of paper 000, Appendix E.2: a RealNVP [Dinh et al. 2017] of b blocks, each two affine
/// coupling layers with alternating masks, x ↦ x ⊙ e^{s(b⊙x)} + t(b⊙x) on the unmasked coordinates, where s = tanh(S(b⊙x))
/// and t = T(b⊙x) come from one-hidden-layer ReLU networks d → h → d (the library's <see cref="FullyConnectedLayer"/>s).
/// With b = 2, h = 124 and d = 2 it has 8 × 622 = 4,976 parameters, the paper's count. Trained by the reverse KL
/// E_z[log N(z) − log|det ∂T/∂z| − log pi(T(z))], z ~ N(0, I), with <see cref="Adam"/>.
/// </summary>
/// <remarks>
/// Backward pass of one coupling with upstream ȳ = ∂L/∂y, y = x ⊙ e^s + t (s, t zero on the masked coordinates) and
/// L ∋ −Σ s: ∂L/∂s = ȳ ⊙ x ⊙ e^s − 1, ∂L/∂(S's output) = ∂L/∂s ⊙ (1 − s²), ∂L/∂t = ȳ (both on the unmasked
/// coordinates), ∂L/∂x = ȳ ⊙ e^s + b ⊙ (∂L/∂(b⊙x) through S and T). Buffers are kept between calls: a training step
/// at a fixed batch size allocates nothing.
/// </remarks>
public sealed class RealNvp
{
    private readonly Coupling[] _couplings;
    private double[] _work = [], _upstream = [], _logDet = [], _logTarget = [];
    private int _capacity;

    private sealed class Coupling(int d, int hidden, bool[] mask)
    {
        public readonly bool[] Mask = mask;
        public readonly FullyConnectedLayer SHidden = new(d, hidden, bias: true, relu: true), SOut = new(hidden, d, bias: true);
        public readonly FullyConnectedLayer THidden = new(d, hidden, bias: true, relu: true), TOut = new(hidden, d, bias: true);
        public double[] Input = [], Masked = [], S = [], T = [], H = [], Gs = [], Gt = [], Gh = [], Gx = [];
    }

    /// <summary>A flow on R^d of <paramref name="blocks"/> × 2 couplings with <paramref name="hidden"/> units per network, PyTorch's default initialisation.</summary>
    public RealNvp(int dimension, int blocks, int hidden, Xoshiro256StarStar rng)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(blocks, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(hidden, 1);
        ArgumentNullException.ThrowIfNull(rng);
        Dimension = dimension;
        _couplings = new Coupling[2 * blocks];
        for (int k = 0; k < _couplings.Length; k++)
        {
            var mask = Enumerable.Range(0, dimension).Select(i => (i + k) % 2 == 0).ToArray();
            var c = new Coupling(dimension, hidden, mask);
            foreach (FullyConnectedLayer layer in new[] { c.SHidden, c.SOut, c.THidden, c.TOut })
            {
                double bound = 1 / Math.Sqrt(layer.Inputs);
                foreach (Parameter p in layer.Parameters)
                    for (int i = 0; i < p.Values.Length; i++) p.Values[i] = rng.NextDouble(-bound, bound);
            }
            _couplings[k] = c;
        }
        Parameters = [.. _couplings.SelectMany(c => new[] { c.SHidden, c.SOut, c.THidden, c.TOut }).SelectMany(l => l.Parameters)];
    }

    /// <summary>d.</summary>
    public int Dimension { get; }

    /// <summary>Every trainable block with its gradient from the last <see cref="LossAndGradient"/>.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>The number of trainable values.</summary>
    public int ParameterCount => Parameters.Sum(p => p.Values.Length);

    /// <summary>x = T(z) for <paramref name="batch"/> rows of z, and log|det ∂T/∂z| per row.</summary>
    public void Transform(ReadOnlySpan<double> z, int batch, Span<double> x, Span<double> logDet)
    {
        int d = Dimension;
        if (z.Length < batch * d || x.Length < batch * d || logDet.Length < batch) throw new ArgumentException("buffers smaller than the batch.");
        Forward(z, batch);
        _work.AsSpan(0, batch * d).CopyTo(x);
        _logDet.AsSpan(0, batch).CopyTo(logDet);
    }

    /// <summary>z = T⁻¹(x) for one point, and log|det ∂T/∂z| at it (so log q(x) = log N(z) − logDet).</summary>
    public double Inverse(ReadOnlySpan<double> x, Span<double> z)
    {
        int d = Dimension;
        if (x.Length != d || z.Length != d) throw new ArgumentException($"x and z must have length {d}.");
        Span<double> masked = stackalloc double[d], s = stackalloc double[d], t = stackalloc double[d];
        x.CopyTo(z);
        double logDet = 0;
        for (int k = _couplings.Length - 1; k >= 0; k--)
        {
            Coupling c = _couplings[k];
            Conditioner(c, z, masked, s, t);
            for (int i = 0; i < d; i++)
                if (!c.Mask[i])
                {
                    z[i] = (z[i] - t[i]) * Math.Exp(-s[i]);
                    logDet += s[i];
                }
        }
        return logDet;
    }

    /// <summary>log q(x) of the flow's density at one point.</summary>
    public double LogDensity(ReadOnlySpan<double> x)
    {
        Span<double> z = stackalloc double[Dimension];
        double logDet = Inverse(x, z);
        return -0.5 * VectorKernels.Dot(z, z) - 0.5 * Dimension * Math.Log(2 * Math.PI) - logDet;
    }

    /// <summary>
    /// KL(q‖pi) − log Z (+ log Z when the target knows it: then the true KL) from <paramref name="draws"/> fresh draws,
    /// with its standard error.
    /// </summary>
    public Diagnostics.KlEstimate EstimateKl(ITarget target, Xoshiro256StarStar rng, int draws)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfLessThan(draws, 2);
        int d = Dimension;
        var z = new double[draws * d];
        var x = new double[draws * d];
        var logDet = new double[draws];
        rng.FillStandardNormal(z);
        Transform(z, draws, x, logDet);
        double mean = 0, m2 = 0;
        for (int i = 0; i < draws; i++)
        {
            ReadOnlySpan<double> zi = z.AsSpan(i * d, d);
            double term = -0.5 * VectorKernels.Dot(zi, zi) - 0.5 * d * Math.Log(2 * Math.PI) - logDet[i] - target.LogDensity(x.AsSpan(i * d, d));
            double delta = term - mean;
            mean += delta / (i + 1);
            m2 += delta * (term - mean);
        }
        return new Diagnostics.KlEstimate(mean + (target.LogNormalizer ?? 0.0), Math.Sqrt(m2 / (draws - 1) / draws), draws, target.LogNormalizer is not null);
    }

    /// <summary>
    /// The reverse-KL loss at <paramref name="batch"/> standard-normal rows <paramref name="z"/>: returns the mean of
    /// log N(z) − log|det| − log pi(T(z)) (KL(q‖pi) − log Z) and fills every <see cref="Parameter.Gradient"/> with the
    /// gradient of that mean.
    /// </summary>
    /// <exception cref="TargetEvaluationException">The target is not finite at a transformed point.</exception>
    public double LossAndGradient(ITarget target, ReadOnlySpan<double> z, int batch)
    {
        ArgumentNullException.ThrowIfNull(target);
        int d = Dimension;
        if (target.Dimension != d) throw new ArgumentException($"the target has dimension {target.Dimension}, the flow {d}.", nameof(target));
        if (z.Length < batch * d) throw new ArgumentException("z is smaller than the batch.", nameof(z));
        Forward(z, batch);
        TargetEvaluator.LogDensityAndGradient(target, _work.AsSpan(0, batch * d), batch, _logTarget.AsSpan(0, batch), _upstream.AsSpan(0, batch * d));
        double loss = 0;
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<double> row = z.Slice(b * d, d);
            loss += -0.5 * VectorKernels.Dot(row, row) - 0.5 * d * Math.Log(2 * Math.PI) - _logDet[b] - _logTarget[b];
        }
        // ȳ at the output: −∇log pi / B.
        Span<double> upstream = _upstream.AsSpan(0, batch * d);
        TensorPrimitives.Multiply(upstream, -1.0 / batch, upstream);
        for (int k = _couplings.Length - 1; k >= 0; k--) Backward(_couplings[k], batch, upstream);
        return loss / batch;
    }

    private void Forward(ReadOnlySpan<double> z, int batch)
    {
        int d = Dimension;
        Ensure(batch);
        Span<double> x = _work.AsSpan(0, batch * d);
        z[..(batch * d)].CopyTo(x);
        _logDet.AsSpan(0, batch).Clear();
        foreach (Coupling c in _couplings)
        {
            x.CopyTo(c.Input);
            Span<double> masked = c.Masked.AsSpan(0, batch * d), s = c.S.AsSpan(0, batch * d), t = c.T.AsSpan(0, batch * d);
            for (int k = 0; k < batch * d; k++) masked[k] = c.Mask[k % d] ? x[k] : 0;
            c.SHidden.Forward(masked, batch, c.H);
            c.SOut.Forward(c.H, batch, s);
            c.THidden.Forward(masked, batch, c.H);
            c.TOut.Forward(c.H, batch, t);
            for (int k = 0; k < batch * d; k++)
            {
                if (c.Mask[k % d])
                {
                    s[k] = 0;
                    t[k] = 0;
                    continue;
                }
                s[k] = Math.Tanh(s[k]);
                x[k] = x[k] * Math.Exp(s[k]) + t[k];
                _logDet[k / d] += s[k];
            }
        }
    }

    // ȳ (in place) becomes ∂L/∂x of the coupling's input; the four layers' gradients are set.
    private static void Backward(Coupling c, int batch, Span<double> upstream)
    {
        int d = c.Mask.Length, n = batch * d;
        Span<double> gs = c.Gs.AsSpan(0, n), gt = c.Gt.AsSpan(0, n), gx = c.Gx.AsSpan(0, n);
        for (int k = 0; k < n; k++)
        {
            if (c.Mask[k % d])
            {
                gs[k] = 0;
                gt[k] = 0;
                continue;
            }
            double s = c.S[k], es = Math.Exp(s);
            gs[k] = (upstream[k] * c.Input[k] * es - 1.0 / batch) * (1 - s * s);
            gt[k] = upstream[k];
            upstream[k] *= es;
        }
        // Every layer kept its own forward input and output, so the two networks back-propagate in turn through c.Gh.
        c.SOut.Backward(gs, c.Gh);
        c.SHidden.Backward(c.Gh, gx);
        for (int k = 0; k < n; k++) if (c.Mask[k % d]) upstream[k] += gx[k];
        c.TOut.Backward(gt, c.Gh);
        c.THidden.Backward(c.Gh, gx);
        for (int k = 0; k < n; k++) if (c.Mask[k % d]) upstream[k] += gx[k];
    }

    // s and t of one coupling at one point (masked input), for the inverse.
    private static void Conditioner(Coupling c, ReadOnlySpan<double> x, Span<double> masked, Span<double> s, Span<double> t)
    {
        int d = x.Length, h = c.SHidden.Outputs;
        for (int i = 0; i < d; i++) masked[i] = c.Mask[i] ? x[i] : 0;
        Span<double> hidden = stackalloc double[h];
        foreach (var (inner, outer, target, tanh) in new[] { (c.SHidden, c.SOut, 0, true), (c.THidden, c.TOut, 1, false) })
        {
            for (int j = 0; j < h; j++) hidden[j] = Math.Max(0, VectorKernels.Dot(inner.Weight.AsSpan(j * d, d), masked) + inner.Bias[j]);
            Span<double> output = target == 0 ? s : t;
            for (int i = 0; i < d; i++)
            {
                double v = VectorKernels.Dot(outer.Weight.AsSpan(i * h, h), hidden) + outer.Bias[i];
                output[i] = c.Mask[i] ? 0 : tanh ? Math.Tanh(v) : v;
            }
        }
    }

    private void Ensure(int batch)
    {
        if (batch <= _capacity) return;
        int d = Dimension;
        _work = new double[batch * d];
        _upstream = new double[batch * d];
        _logDet = new double[batch];
        _logTarget = new double[batch];
        foreach (Coupling c in _couplings)
        {
            int h = c.SHidden.Outputs;
            c.Input = new double[batch * d];
            c.Masked = new double[batch * d];
            c.S = new double[batch * d];
            c.T = new double[batch * d];
            c.Gs = new double[batch * d];
            c.Gt = new double[batch * d];
            c.Gx = new double[batch * d];
            c.H = new double[batch * h];
            c.Gh = new double[batch * h];
        }
        _capacity = batch;
    }
}

/// <summary>Adam [Kingma &amp; Ba 2015] over parameter blocks: m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², θ ← θ − η m̂/(√v̂ + ε) with bias-corrected m̂, v̂.</summary>
public sealed class Adam
{
    private readonly IReadOnlyList<Parameter> _parameters;
    private readonly double[][] _m, _v;
    private long _t;

    /// <summary>Adam on <paramref name="parameters"/> with rate η and PyTorch's defaults β₁ = 0.9, β₂ = 0.999, ε = 1e−8.</summary>
    public Adam(IReadOnlyList<Parameter> parameters, double learningRate, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(learningRate > 0) || !double.IsFinite(learningRate)) throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "the rate must be finite and positive.");
        _parameters = parameters;
        (LearningRate, Beta1, Beta2, Epsilon) = (learningRate, beta1, beta2, epsilon);
        _m = [.. parameters.Select(p => new double[p.Values.Length])];
        _v = [.. parameters.Select(p => new double[p.Values.Length])];
    }

    /// <summary>η.</summary>
    public double LearningRate { get; }

    /// <summary>β₁.</summary>
    public double Beta1 { get; }

    /// <summary>β₂.</summary>
    public double Beta2 { get; }

    /// <summary>ε.</summary>
    public double Epsilon { get; }

    /// <summary>One update from every block's current gradient.</summary>
    public void Step()
    {
        _t++;
        double c1 = 1 - Math.Pow(Beta1, _t), c2 = 1 - Math.Pow(Beta2, _t);
        for (int b = 0; b < _parameters.Count; b++)
        {
            double[] theta = _parameters[b].Values, g = _parameters[b].Gradient, m = _m[b], v = _v[b];
            for (int i = 0; i < theta.Length; i++)
            {
                m[i] = Beta1 * m[i] + (1 - Beta1) * g[i];
                v[i] = Beta2 * v[i] + (1 - Beta2) * g[i] * g[i];
                theta[i] -= LearningRate * (m[i] / c1) / (Math.Sqrt(v[i] / c2) + Epsilon);
            }
        }
    }
}
