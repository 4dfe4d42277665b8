using Wasserflow.Families;
using Wasserflow.Flows;
using Wasserflow.Models;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Tests.Flows;

/// <summary>
/// The Gaussian flow's linear-predictor path (cubature points' predictors from X m and X R e_i, gradient differences
/// from one product Xᵀ W) against the point-by-point path on the same logistic target, and the target's
/// <see cref="ILinearPredictorTarget"/> pieces against its own log density and gradient.
/// </summary>
public sealed class LinearPredictorFieldTests
{
    // The same target without the linear-predictor interface: the flow takes its general path.
    private sealed class Hidden(ITarget inner) : ITarget
    {
        public int Dimension => inner.Dimension;

        public string Name => inner.Name;

        public double? LogNormalizer => inner.LogNormalizer;

        public double LogDensity(ReadOnlySpan<double> x) => inner.LogDensity(x);

        public double LogDensityAndGradient(ReadOnlySpan<double> x, Span<double> gradient) => inner.LogDensityAndGradient(x, gradient);
    }

    [Theory]
    [InlineData(20, 0.0)]
    [InlineData(24, 0.5)]
    public void Rk4_steps_match_the_point_by_point_path(int d, double priorPrecision)
    {
        var target = LogisticRegressionTarget.Synthetic(new Xoshiro256StarStar(3), d, 5 * d, 0.6, priorPrecision: priorPrecision);
        var options = new BuresWassersteinFlowOptions(StepSize: 0.05, StabilityControl: false);
        var fast = new BuresWassersteinFlow(target, 1, options);
        var general = new BuresWassersteinFlow(new Hidden(target), 1, options);
        var start = GaussianParticleState.Start(Gaussian.Isotropic(new double[d], 0.5), 1);
        GaussianParticleState a = start.Clone(), b = start.Clone();
        for (int i = 0; i < 20; i++)
        {
            double fa = fast.Step(a).ObjectiveEstimate, fb = general.Step(b).ObjectiveEstimate;
            Assert.True(Math.Abs(fa - fb) <= 1e-10 * (1 + Math.Abs(fb)), $"step {i}: objective {fa} vs {fb}");
        }
        // Twenty steps moved the state well away from the start; the two paths differ by round-off only.
        Assert.True(Math.Abs(a.Means[0] - start.Means[0]) > 1e-3);
        for (int i = 0; i < a.Means.Length; i++) Assert.True(Math.Abs(a.Means[i] - b.Means[i]) <= 1e-11 * (1 + Math.Abs(b.Means[i])), $"mean {i}");
        for (int i = 0; i < a.Factors.Length; i++) Assert.True(Math.Abs(a.Factors[i] - b.Factors[i]) <= 1e-11 * (1 + Math.Abs(b.Factors[i])), $"factor entry {i}");
    }

    // A regression on synthetic data: p predictors ~ N(0, 1/p), coefficients ~ N(0, 1), responses drawn from the family.
    private static RegressionModel Regression(RegressionFamily family, int n, int p, bool intercept, ulong seed, double? knownSigma = null)
    {
        var rng = new Xoshiro256StarStar(seed);
        double[] x = new double[n * p], beta = new double[p], y = new double[n];
        rng.FillStandardNormal(x);
        for (int i = 0; i < x.Length; i++) x[i] /= Math.Sqrt(p);
        rng.FillStandardNormal(beta);
        for (int i = 0; i < n; i++)
        {
            double t = (intercept ? 0.3 : 0) + x.AsSpan(i * p, p).ToArray().Zip(beta, (a, b) => a * b).Sum();
            y[i] = family switch
            {
                RegressionFamily.Logistic => rng.NextDouble() < 1 / (1 + Math.Exp(-t)) ? 1 : 0,
                RegressionFamily.Poisson => Math.Min(30, Math.Round(Math.Exp(0.5 * t) * (1 + 0.5 * rng.NextStandardNormal())) is var k && k > 0 ? k : 0),
                _ => t + (knownSigma ?? 1) * rng.NextStandardNormal(),
            };
        }
        return RegressionModel.Create(family, x, y, intercept, priorScale: 2.5, knownSigma: knownSigma);
    }

    [Theory]
    [InlineData(RegressionFamily.Logistic, true)]
    [InlineData(RegressionFamily.Poisson, true)]
    [InlineData(RegressionFamily.Linear, false)]
    public void A_regression_models_pieces_add_up_to_its_log_density_and_gradient(RegressionFamily family, bool intercept)
    {
        const int p = 5, n = 37;
        RegressionModel model = Regression(family, n, p, intercept, 7, family == RegressionFamily.Linear ? 0.7 : null);
        ILinearPredictorTarget linear = model;
        int d = model.Dimension;
        Assert.True(linear.HasLinearPredictors);
        Assert.Equal(n, linear.PredictorCount);
        Assert.Equal(1 / (2.5 * 2.5), linear.PriorPrecision);
        var z = new double[2 * d];
        new Xoshiro256StarStar(8).FillStandardNormal(z);
        for (int i = 0; i < z.Length; i++) z[i] *= 0.4;
        (int First, int Rows)[] blocks = [(0, 13), (13, 24)];
        var values = new double[2];
        var pulled = new double[2 * d];
        foreach ((int first, int rows) in blocks)
        {
            double[] predictors = new double[2 * rows], weights = new double[2 * rows], derivatives = new double[rows];
            linear.Predictors(z, 2, first, rows, predictors);
            for (int k = 0; k < 2; k++)
            {
                ReadOnlySpan<double> t = predictors.AsSpan(k * rows, rows);
                values[k] += linear.Likelihood(first, t, weights.AsSpan(k * rows, rows));
                linear.LikelihoodDerivatives(first, t, derivatives);
                for (int r = 0; r < rows; r++) Assert.Equal(weights[k * rows + r], derivatives[r]); // bit for bit
            }
            linear.AddPullBack(weights, 2, first, rows, pulled);
        }
        var gradient = new double[d];
        for (int k = 0; k < 2; k++)
        {
            ReadOnlySpan<double> zk = z.AsSpan(k * d, d);
            double expected = model.LogDensityAndGradient(zk, gradient);
            double assembled = values[k] - 0.5 * linear.PriorPrecision * zk.ToArray().Sum(v => v * v) + linear.LogConstant;
            Assert.True(Math.Abs(expected - assembled) <= 1e-11 * (1 + Math.Abs(expected)), $"{family}, point {k}: {assembled} vs {expected}");
            for (int j = 0; j < d; j++)
                Assert.True(Math.Abs(gradient[j] - (pulled[k * d + j] - linear.PriorPrecision * zk[j])) <= 1e-11 * (1 + Math.Abs(gradient[j])), $"{family}, point {k}, coordinate {j}");
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => linear.Likelihood(30, new double[8], new double[8]));
    }

    [Fact]
    public void A_linear_regression_with_unknown_sigma_is_not_a_sum_of_predictor_terms()
    {
        ILinearPredictorTarget linear = Regression(RegressionFamily.Linear, 20, 3, true, 9);
        Assert.False(linear.HasLinearPredictors);
        Assert.Throws<InvalidOperationException>(() => linear.Predictors(new double[5], 1, 0, 4, new double[4]));
    }

    [Theory]
    [InlineData(RegressionFamily.Logistic)]
    [InlineData(RegressionFamily.Poisson)]
    public void Rk4_steps_on_a_regression_model_match_the_point_by_point_path(RegressionFamily family)
    {
        // d = 18 with the intercept: the flow takes the data-streaming path for the model itself and the general one
        // for the same model behind a plain ITarget.
        RegressionModel model = Regression(family, 90, 17, true, 11);
        int d = model.Dimension;
        var options = new BuresWassersteinFlowOptions(StepSize: 0.005, StabilityControl: false); // the Poisson intercept's curvature is Σ rate ≈ 150
        var fast = new BuresWassersteinFlow(model, 1, options);
        var general = new BuresWassersteinFlow(new Hidden(model), 1, options);
        var start = GaussianParticleState.Start(Gaussian.Isotropic(new double[d], 0.05), 1);
        GaussianParticleState a = start.Clone(), b = start.Clone();
        for (int i = 0; i < 20; i++)
        {
            double fa = fast.Step(a).ObjectiveEstimate, fb = general.Step(b).ObjectiveEstimate;
            Assert.True(Math.Abs(fa - fb) <= 1e-10 * (1 + Math.Abs(fb)), $"step {i}: objective {fa} vs {fb}");
        }
        Assert.True(Math.Abs(a.Means[0] - start.Means[0]) > 1e-3);
        for (int i = 0; i < a.Means.Length; i++) Assert.True(Math.Abs(a.Means[i] - b.Means[i]) <= 1e-10 * (1 + Math.Abs(b.Means[i])), $"mean {i}");
        for (int i = 0; i < a.Factors.Length; i++) Assert.True(Math.Abs(a.Factors[i] - b.Factors[i]) <= 1e-10 * (1 + Math.Abs(b.Factors[i])), $"factor entry {i}");
    }

    [Fact]
    public void The_logistic_targets_pieces_add_up_to_its_log_density_and_gradient()
    {
        const int d = 6, n = 40;
        var target = LogisticRegressionTarget.Synthetic(new Xoshiro256StarStar(5), d, n, 1.0, priorPrecision: 0.3);
        ILinearPredictorTarget linear = target;
        Assert.Equal(n, linear.PredictorCount);
        var rng = new Xoshiro256StarStar(6);
        var z = new double[3 * d];
        rng.FillStandardNormal(z);
        // Two uneven blocks of rows (neither a multiple of the kernels' four lanes): the pieces over row ranges add up.
        (int First, int Rows)[] blocks = [(0, 17), (17, 23)];
        var values = new double[3];
        var pulled = new double[3 * d];
        foreach ((int first, int rows) in blocks)
        {
            double[] predictors = new double[3 * rows], weights = new double[3 * rows], derivatives = new double[rows];
            linear.Predictors(z, 3, first, rows, predictors);
            for (int k = 0; k < 3; k++)
            {
                ReadOnlySpan<double> t = predictors.AsSpan(k * rows, rows);
                values[k] += linear.Likelihood(first, t, weights.AsSpan(k * rows, rows));
                linear.LikelihoodDerivatives(first, t, derivatives);
                for (int r = 0; r < rows; r++) Assert.Equal(weights[k * rows + r], derivatives[r]); // bit for bit
            }
            linear.AddPullBack(weights, 3, first, rows, pulled);
        }
        var gradient = new double[d];
        for (int k = 0; k < 3; k++)
        {
            ReadOnlySpan<double> zk = z.AsSpan(k * d, d);
            double expected = target.LogDensityAndGradient(zk, gradient);
            Assert.Equal(expected, values[k] - 0.5 * linear.PriorPrecision * zk.ToArray().Sum(v => v * v), 1e-10);
            for (int j = 0; j < d; j++) Assert.Equal(gradient[j], pulled[k * d + j] - linear.PriorPrecision * zk[j], 1e-10);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => linear.Likelihood(30, new double[11], new double[11]));
    }
}
