using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;
using Wasserflow.NeuralNetworks;
using Wasserflow.Randomness;

namespace Wasserflow.Tests.NeuralNetworks;

/// <summary>
/// The invariances of spec §11 as FsCheck properties: each case draws a seed (FsCheck, replayed from a fixed seed so runs
/// are reproducible), which fixes a random layer shape, parameters and inputs.
/// </summary>
public class GaussianMixtureLayerProperties
{
    private static readonly Config Fixed = Config.QuickThrowOnFailure.WithMaxTest(60).WithReplay(FSharpOption<Replay>.Some(new Replay(new Rnd(20261122UL, 7UL), FSharpOption<int>.None)));

    private static void Check(Func<ulong, bool> property) =>
        FsCheck.Check.One(Fixed, Prop.ForAll(Gen.Choose(1, int.MaxValue).Select(i => (ulong)i).ToArbitrary(), property));

    private sealed record Case(GaussianMixtureLayer Layer, double[] X, int Batch, Xoshiro256StarStar Rng);

    private static Case Draw(ulong seed)
    {
        var rng = new Xoshiro256StarStar(seed);
        int k = 1 + rng.NextInt(5), d = 1 + rng.NextInt(12), l = 1 + rng.NextInt(4), b = 1 + rng.NextInt(6);
        var layer = GaussianMixtureLayer.Initialize(rng, k, d, l);
        for (int i = 0; i < layer.Sigma.Length; i++) layer.Sigma[i] = rng.NextDouble(-1, 1);
        var x = new double[b * d];
        rng.FillStandardNormal(x);
        return new Case(layer, x, b, rng);
    }

    private static double[] Forward(GaussianMixtureLayer layer, double[] x, int b)
    {
        var h = new double[b * layer.Outputs];
        layer.Forward(x, b, h);
        return h;
    }

    private static bool Close(double[] a, double[] b, double tolerance = 1e-11) =>
        a.Zip(b).All(p => Math.Abs(p.First - p.Second) <= tolerance * (1 + Math.Abs(p.First)));

    [Fact]
    public void Positively_homogeneous_in_the_input() => Check(seed =>
    {
        var c = Draw(seed);
        double scale = Math.Exp(c.Rng.NextDouble(-3, 3));
        return Close(Forward(c.Layer, c.X.Select(v => scale * v).ToArray(), c.Batch).Select(v => v / scale).ToArray(), Forward(c.Layer, c.X, c.Batch));
    });

    [Fact]
    public void Unchanged_when_signs_of_sigma_flip() => Check(seed =>
    {
        var c = Draw(seed);
        double[] before = Forward(c.Layer, c.X, c.Batch);
        for (int i = 0; i < c.Layer.Sigma.Length; i++)
            if (c.Rng.NextDouble() < 0.5) c.Layer.Sigma[i] = -c.Layer.Sigma[i];
        return Close(before, Forward(c.Layer, c.X, c.Batch));
    });

    [Fact]
    public void Unchanged_when_components_are_permuted() => Check(seed =>
    {
        var c = Draw(seed);
        var layer = c.Layer;
        int k = layer.Components, d = layer.Inputs, l = layer.Outputs;
        int[] order = Enumerable.Range(0, k).ToArray();
        for (int i = k - 1; i > 0; i--)
        {
            int j = c.Rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        var permuted = new GaussianMixtureLayer(k, d, l);
        for (int j = 0; j < k; j++)
        {
            Array.Copy(layer.Mu, order[j] * d, permuted.Mu, j * d, d);
            Array.Copy(layer.Sigma, order[j] * d, permuted.Sigma, j * d, d);
            Array.Copy(layer.U, order[j] * l * d, permuted.U, j * l * d, l * d);
            Array.Copy(layer.V, order[j] * l, permuted.V, j * l, l);
        }
        return Close(Forward(layer, c.X, c.Batch), Forward(permuted, c.X, c.Batch));
    });

    [Fact]
    public void Identical_components_equal_one_component() => Check(seed =>
    {
        var c = Draw(seed);
        var layer = c.Layer;
        int d = layer.Inputs, l = layer.Outputs, copies = 1 + c.Rng.NextInt(4);
        var one = new GaussianMixtureLayer(1, d, l);
        Array.Copy(layer.Mu, one.Mu, d);
        Array.Copy(layer.Sigma, one.Sigma, d);
        Array.Copy(layer.U, one.U, l * d);
        Array.Copy(layer.V, one.V, l);
        var many = new GaussianMixtureLayer(copies, d, l);
        for (int j = 0; j < copies; j++)
        {
            Array.Copy(one.Mu, 0, many.Mu, j * d, d);
            Array.Copy(one.Sigma, 0, many.Sigma, j * d, d);
            Array.Copy(one.U, 0, many.U, j * l * d, l * d);
            Array.Copy(one.V, 0, many.V, j * l, l);
        }
        return Close(Forward(one, c.X, c.Batch), Forward(many, c.X, c.Batch));
    });
}
