using System.Numerics.Tensors;
using Wasserflow.Diagnostics;
using Wasserflow.Expectations;
using Wasserflow.Families;
using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Flows;

/// <summary>
/// One RoVI restart's state: the rotation O, offsets v, map weights λ, the fixed centre c, its random stream, the
/// iteration count and the warnings raised so far.
/// </summary>
public sealed class RotationalViState : IFlowState<RotationalViState>
{
    private readonly List<string> _warnings;

    private RotationalViState(double[] rotation, double[] offset, double[] lambda, double[] center, long iteration, Xoshiro256StarStar rng, List<string> warnings)
    {
        Rotation = rotation;
        Offset = offset;
        Lambda = lambda;
        Center = center;
        Iteration = iteration;
        Rng = rng;
        _warnings = warnings;
    }

    /// <summary>O, d×d row-major.</summary>
    public double[] Rotation { get; }

    /// <summary>v, length d.</summary>
    public double[] Offset { get; }

    /// <summary>λ, d×n (coordinate-major).</summary>
    public double[] Lambda { get; }

    /// <summary>c, length d.</summary>
    public double[] Center { get; }

    /// <inheritdoc/>
    public long Iteration { get; internal set; }

    /// <summary>The restart's stream (batches and evaluations).</summary>
    public Xoshiro256StarStar Rng { get; }

    /// <summary>Warnings raised so far (each at most once).</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    internal void Warn(string warning)
    {
        if (!_warnings.Contains(warning)) _warnings.Add(warning);
    }

    internal bool WarnedCurvature { get; set; }

    /// <summary>
    /// The start of restart <paramref name="index"/> (spec §6): stream Mix(seed, index); O₀ = I for restart 0 (or the
    /// warm start), Haar for the others (I throughout without rotation); v₀ ~ N(0, s_v² I); S(t) = s₀t.
    /// </summary>
    public static RotationalViState Start(int dimension, PolyhedralDictionary dictionary, RotationalViOptions o, int index)
    {
        ArgumentNullException.ThrowIfNull(dictionary);
        ArgumentNullException.ThrowIfNull(o);
        int d = dimension, n = dictionary.Size;
        var rng = new Xoshiro256StarStar(Xoshiro256StarStar.Mix(o.Seed, (ulong)index));
        double[] rotation = !o.Rotate ? Identity(d) : index > 0 ? RotationalVi.HaarRotation(rng, d) : o.InitialRotation is { } start ? (double[])start.Clone() : Identity(d);
        var offset = new double[d];
        rng.FillStandardNormal(offset);
        TensorPrimitives.Multiply(offset, o.InitialSpread, offset);
        double[] center = o.InitialCenter is { } c ? (double[])c.Clone() : new double[d];
        var lambda = new double[d * n];
        for (int i = 0; i < d; i++) lambda[i * n] = Math.Max(0, o.InitialScale - dictionary.Alpha); // S(t) = s₀t: μ₀ = N(O v₀, s₀²I)
        var warnings = new List<string>();
        if (dictionary.GramRegularized) warnings.Add($"the Gram matrix of {dictionary.Name} needed a 1e−12·tr(Q)/n ridge to factor.");
        return new RotationalViState(rotation, offset, lambda, center, 0, rng, warnings);
    }

    private static double[] Identity(int d)
    {
        var o = new double[d * d];
        for (int i = 0; i < d; i++) o[i * d + i] = 1;
        return o;
    }

    /// <inheritdoc/>
    public double Spread => double.NaN;

    /// <inheritdoc/>
    public void Write(BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        Running.CheckpointStore.WriteDoubles(writer, Rotation);
        Running.CheckpointStore.WriteDoubles(writer, Offset);
        Running.CheckpointStore.WriteDoubles(writer, Lambda);
        Running.CheckpointStore.WriteDoubles(writer, Center);
        writer.Write(Iteration);
        Running.CheckpointStore.WriteRng(writer, Rng);
        writer.Write(_warnings.Count);
        foreach (string w in _warnings) writer.Write(w);
        writer.Write(WarnedCurvature);
    }

    /// <inheritdoc/>
    public static RotationalViState Read(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        double[] rotation = Running.CheckpointStore.ReadDoubles(reader), offset = Running.CheckpointStore.ReadDoubles(reader);
        double[] lambda = Running.CheckpointStore.ReadDoubles(reader), center = Running.CheckpointStore.ReadDoubles(reader);
        if (rotation.Length != offset.Length * offset.Length || center.Length != offset.Length || offset.Length == 0 || lambda.Length % offset.Length != 0)
            throw new Data.DataFormatException("the rotation, offset, map weights and centre do not have matching dimensions.");
        long iteration = reader.ReadInt64();
        var rng = Running.CheckpointStore.ReadRng(reader);
        int count = reader.ReadInt32();
        if (count is < 0 or > 1000) throw new Data.DataFormatException($"corrupt warning count {count}.");
        var warnings = new List<string>(count);
        for (int i = 0; i < count; i++) warnings.Add(reader.ReadString());
        return new RotationalViState(rotation, offset, lambda, center, iteration, rng, warnings) { WarnedCurvature = reader.ReadBoolean() };
    }

    /// <inheritdoc/>
    public RotationalViState Clone() =>
        new((double[])Rotation.Clone(), (double[])Offset.Clone(), (double[])Lambda.Clone(), (double[])Center.Clone(), Iteration, Rng.Clone(), [.. _warnings])
        { WarnedCurvature = WarnedCurvature };

    /// <summary>The fitted distribution (O∘T_θ about c)#N(0, I).</summary>
    public RotatedProduct Fit(PolyhedralDictionary dictionary) => new(dictionary, Rotation, Offset, Lambda, Center);
}

/// <summary>
/// Polyhedral MFVI and RoVI as a flow on <see cref="Running.VariationalRunner"/> (paper 003, Algorithm 1): each step is
/// an MFVI step on (λ, v) against π rotated by O, then (when rotating) a Riemannian gradient step on O retracted by QR;
/// every m steps it estimates F̂ on fresh draws of its own stream and reports it as <see cref="StepInfo.Evaluation"/>,
/// which the window rule (<see cref="Running.EvaluationWindow"/>) reads. One flow per restart: it owns its batch buffers.
/// </summary>
public sealed class RotationalViFlow : IVariationalFlow<RotationalViState>
{
    private readonly ITarget _target;
    private readonly PolyhedralDictionary _dictionary;
    private readonly RotationalViOptions _o;
    private readonly int _d, _n;
    private readonly double[] _projected, _work;
    private readonly RotatedProductBatch _batch;
    private readonly PolyhedralStep _step;

    /// <summary>A flow on <paramref name="target"/> with the dictionary and settings of <paramref name="options"/>.</summary>
    public RotationalViFlow(ITarget target, PolyhedralDictionary dictionary, RotationalViOptions options)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(dictionary);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _target = target;
        _dictionary = dictionary;
        _o = options;
        _d = target.Dimension;
        _n = dictionary.Size;
        _projected = new double[_d * _d];
        _work = new double[_d * _d];
        _batch = new RotatedProductBatch(target, dictionary, options.BatchSize);
        _step = new PolyhedralStep(dictionary);
    }

    /// <inheritdoc/>
    public string Name => _o.Rotate ? "rovi" : "mfvi";

    /// <inheritdoc/>
    public StepInfo Step(RotationalViState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        double objective = Iterate(state);
        state.Iteration++;
        double evaluation = double.NaN;
        if (state.Iteration % _o.EvaluateEvery == 0)
            evaluation = RotationalVi.EstimateFreeEnergy(_target, state.Fit(_dictionary), _o.EvaluationSamples, state.Rng).FreeEnergy;
        return new StepInfo(state.Iteration, objective, double.NaN, evaluation);
    }

    /// <summary>F̂ ± SE on <paramref name="draws"/> fresh draws of <paramref name="rng"/> (KL − log Z; the true KL when log Z = 0).</summary>
    public KlEstimate EstimateKl(RotationalViState state, Xoshiro256StarStar rng, int draws)
    {
        ArgumentNullException.ThrowIfNull(state);
        var (free, se) = RotationalVi.EstimateFreeEnergy(_target, state.Fit(_dictionary), Math.Max(2, draws), rng);
        return new KlEstimate(free + (_target.LogNormalizer ?? 0), se, Math.Max(2, draws), _target.LogNormalizer.HasValue);
    }

    // One iteration (MFVI step, then the rotation step when rotating); returns the batch's mean V before the update.
    private double Iterate(RotationalViState s)
    {
        int d = _d, n = _n;
        _batch.Draw(s.Rng);
        double potential = _batch.Evaluate(s.Rotation, s.Offset, s.Lambda, s.Center, meanField: true, rotation: false);
        double vStep;
        if (_o.Step == MeanFieldStepKind.ForwardBackward)
        {
            for (int i = 0; i < d; i++) _step.ForwardBackward(s.Lambda.AsSpan(i * n, n), _batch.PotentialGradient.AsSpan(i * n, n), _o.StepSize);
            vStep = _o.StepSize;
        }
        else
        {
            for (int i = 0; i < d; i++)
            {
                double kappa = _step.ProjectedGradient(s.Lambda.AsSpan(i * n, n), _batch.PotentialGradient.AsSpan(i * n, n), _o.MeanFieldRate, _o.Smoothness);
                double product = kappa * _o.MeanFieldRate / Math.Max(_o.Smoothness, kappa); // κτ ≤ η_MF with the cap
                if (!s.WarnedCurvature && product > 1)
                {
                    s.WarnedCurvature = true;
                    s.Warn($"κτ = {product:G3} > 1 (entropy curvature κ = {kappa:G3}, τ = η_MF/max(L, κ)): the explicit step is past half its stability limit; use η_MF ≤ 1 (spec §4 A).");
                }
            }
            vStep = _o.MeanFieldRate / _o.Smoothness;
        }
        TensorPrimitives.MultiplyAdd(_batch.OffsetGradient, -vStep, s.Offset, s.Offset);
        if (!_o.Rotate) return potential;
        // Rotation step at θ_{t+1} on the same draws: G = mean g yᵀ, G̃ = ½(G − O Gᵀ O), O ← qf(O − η_O G̃).
        _batch.Evaluate(s.Rotation, s.Offset, s.Lambda, s.Center, meanField: false, rotation: true);
        double[] g = _batch.RotationGradient;
        double[] o = s.Rotation;
        for (int r = 0; r < d; r++)
            for (int e = 0; e < d; e++)
                _work[r * d + e] = LinearAlgebra.Reductions.Dot(o.AsSpan(r * d, d), g.AsSpan(e * d, d)); // (O Gᵀ)_re
        Dense.Multiply(_work, o, d, _projected);                                                 // O Gᵀ O
        for (int k = 0; k < d * d; k++) o[k] -= _o.RotationStepSize * 0.5 * (g[k] - _projected[k]);
        Dense.OrthogonalFactor(o, d);
        return potential;
    }
}
