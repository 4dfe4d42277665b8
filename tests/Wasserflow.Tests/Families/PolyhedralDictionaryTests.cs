using Wasserflow.Families;
using Wasserflow.Randomness;

namespace Wasserflow.Tests.Families;

public class PolyhedralDictionaryTests
{
    // Composite Simpson nodes for ∫ f(t) φ(t) dt on [−12, 12], one rule per piece between the breakpoints (knots and
    // steps) where every atom is smooth: an independent check of the closed forms, accurate to ≈1e−12.
    private static (double[] Nodes, double[] Weights) Quadrature(PolyhedralDictionary dictionary)
    {
        var breaks = new List<double> { -12, 12 };
        breaks.AddRange(dictionary.Knots.ToArray());
        breaks.AddRange(dictionary.StepPositions.ToArray());
        breaks = breaks.Where(b => b >= -12 && b <= 12).Distinct().Order().ToList();
        var nodes = new List<double>();
        var weights = new List<double>();
        for (int piece = 0; piece + 1 < breaks.Count; piece++)
        {
            double a = breaks[piece], b = breaks[piece + 1];
            int intervals = 2 * (int)Math.Ceiling(200 * Math.Max(b - a, 0.25)); // h ≤ 1/400: Simpson error ≈ 1e−13
            double h = (b - a) / intervals;
            for (int k = 0; k <= intervals; k++)
            {
                // End points nudged inside the piece, so that a jump at a breakpoint takes the piece's own side.
                double t = k == 0 ? a + 1e-13 : k == intervals ? b - 1e-13 : a + k * h;
                double simpson = k == 0 || k == intervals ? 1 : k % 2 == 1 ? 4 : 2;
                nodes.Add(t);
                weights.Add(simpson * h / 3 * Math.Exp(-0.5 * t * t) / Math.Sqrt(2 * Math.PI));
            }
        }
        return (nodes.ToArray(), weights.ToArray());
    }

    private static double GaussianIntegral(PolyhedralDictionary dictionary, Func<double, double> f)
    {
        var (nodes, weights) = Quadrature(dictionary);
        double total = 0;
        for (int i = 0; i < nodes.Length; i++) total += weights[i] * f(nodes[i]);
        return total;
    }

    public static TheoryData<string> Dictionaries => ["Q40s", "U29", "Q12s"];

    private static PolyhedralDictionary Make(string name) => name switch
    {
        "Q40s" => PolyhedralDictionary.GaussianQuantile(),
        "U29" => PolyhedralDictionary.Uniform(),
        "Q12s" => PolyhedralDictionary.GaussianQuantile(12, 0.01),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Dictionaries))]
    public void Atoms_are_centred_and_the_gram_matrix_matches_quadrature(string name)
    {
        var dictionary = Make(name);
        int n = dictionary.Size;
        var (nodes, weights) = Quadrature(dictionary);
        var features = new double[nodes.Length * n];
        for (int i = 0; i < nodes.Length; i++) dictionary.Features(nodes[i], features.AsSpan(i * n, n));
        for (int a = 1; a < n; a++)
        {
            double mean = 0;
            for (int i = 0; i < nodes.Length; i++) mean += weights[i] * features[i * n + a];
            Assert.True(Math.Abs(mean) < 1e-9, $"{name}: atom {a} has mean {mean}");
        }
        // Every pair against quadrature; the closed forms use the Gaussian partial moments.
        double worst = 0;
        for (int a = 0; a < n; a++)
            for (int b = a; b < n; b++)
            {
                double numeric = 0;
                for (int i = 0; i < nodes.Length; i++) numeric += weights[i] * features[i * n + a] * features[i * n + b];
                worst = Math.Max(worst, Math.Abs(numeric - dictionary.Gram[a * n + b]));
                Assert.Equal(dictionary.Gram[a * n + b], dictionary.Gram[b * n + a]);
            }
        Assert.True(worst < 1e-9, $"{name}: Gram matrix off quadrature by {worst}");
        Assert.Equal(1.0, dictionary.BinMasses.ToArray().Sum() + dictionary.OutsideMass, 12);
        Assert.False(dictionary.GramRegularized);
    }

    [Fact]
    public void Default_dictionary_is_as_specified()
    {
        var q = PolyhedralDictionary.GaussianQuantile();
        Assert.Equal(40, q.Ramps);
        Assert.Equal(40, q.Steps);
        Assert.Equal(81, q.Size);
        foreach (double p in q.BinMasses) Assert.Equal(0.99 / 40, p, 12);
        Assert.Equal(0.01, q.OutsideMass, 12);
        var u = PolyhedralDictionary.Uniform();
        Assert.Equal(29, u.Ramps);              // round(2·2.9/0.2), not the 28 of int() in [18]'s code
        Assert.Equal(2.9, u.Knots[^1], 12);
        Assert.Equal(0, u.Steps);
    }

    private static double[] RandomWeights(PolyhedralDictionary dictionary, ulong seed)
    {
        var rng = new Xoshiro256StarStar(seed);
        var lambda = new double[dictionary.Size];
        for (int a = 0; a < lambda.Length; a++) lambda[a] = rng.NextDouble() < 0.3 ? 0 : 0.5 * rng.NextDouble();
        lambda[0] = 0.4;
        return lambda;
    }

    [Theory]
    [MemberData(nameof(Dictionaries))]
    public void Entropy_term_matches_quadrature_and_its_derivatives_match_finite_differences(string name)
    {
        var dictionary = Make(name);
        int n = dictionary.Size;
        double[] lambda = RandomWeights(dictionary, 5);
        var gradient = new double[n];
        var hessian = new double[n * n];
        double value = dictionary.NegativeLogDerivative(lambda, gradient, hessian);
        double numeric = -GaussianIntegral(dictionary, t => Math.Log(dictionary.Derivative(lambda, t)))
            - (1 - GaussianIntegral(dictionary, _ => 1.0)) * Math.Log(dictionary.Alpha + lambda[0]); // tails beyond ±12
        Assert.Equal(numeric, value, 9);
        var scratch = new double[n];
        double[] fd = TestSupport.FiniteDifferenceGradient(l => dictionary.NegativeLogDerivative(l, scratch), lambda);
        for (int a = 0; a < n; a++)
            Assert.True(Math.Abs(fd[a] - gradient[a]) < 1e-7 * (1 + Math.Abs(fd[a])), $"{name}: ∂N/∂λ[{a}] = {gradient[a]}, finite differences {fd[a]}");
        for (int a = 0; a < n; a++)
        {
            var row = TestSupport.FiniteDifferenceGradient(l => { dictionary.NegativeLogDerivative(l, scratch); return scratch[a]; }, lambda);
            for (int b = 0; b < n; b++)
                Assert.True(Math.Abs(row[b] - hessian[a * n + b]) < 1e-6 * (1 + Math.Abs(row[b])), $"{name}: H[{a},{b}] = {hessian[a * n + b]}, finite differences {row[b]}");
        }
    }

    [Fact]
    public void Map_is_increasing_its_derivative_matches_and_the_marginal_density_integrates_to_one()
    {
        var dictionary = PolyhedralDictionary.GaussianQuantile(12, 0.01);
        double[] lambda = RandomWeights(dictionary, 9);
        lambda[1 + dictionary.Ramps + 6] = 3.0; // a wide step in the middle: a gap in the marginal
        double previous = double.NegativeInfinity;
        for (double t = -6; t <= 6; t += 0.01)
        {
            double s = dictionary.Map(lambda, t);
            Assert.True(s > previous);
            previous = s;
        }
        // S' away from knots and steps against central differences.
        foreach (double t in new[] { -2.7, -1.03, -0.31, 0.17, 0.9, 1.77, 3.5 })
        {
            double fd = (dictionary.Map(lambda, t + 1e-6) - dictionary.Map(lambda, t - 1e-6)) / 2e-6;
            Assert.Equal(fd, dictionary.Derivative(lambda, t), 6);
        }
        // The marginal of T#ρ (offset 1.5) integrates to one, with zero density inside the step's gap.
        var fit = new RotatedProduct(dictionary, [1.0], [1.5], lambda);
        double step = dictionary.StepPositions[6];
        double below = 1.5 + dictionary.Map(lambda, step - 1e-9), above = 1.5 + dictionary.Map(lambda, step + 1e-9);
        Assert.True(above - below > 2.9);
        Assert.Equal(0.0, fit.MarginalDensity(0, 0.5 * (below + above)));
        double mass = 0;
        const double H = 0.001;
        for (double y = -40; y < 40; y += H) mass += fit.MarginalDensity(0, y + 0.5 * H) * H;
        Assert.Equal(1.0, mass, 3);
    }
}
