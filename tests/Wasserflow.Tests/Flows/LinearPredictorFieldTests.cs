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
        AssertPathsAgree(target, new BuresWassersteinFlowOptions(StepSize: 0.05, StabilityControl: false), 0.5);
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
        AssertPiecesAddUp(model, z, 2, [(0, 13), (13, 24)], 1e-11);
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
        // The Poisson intercept's curvature is Σ rate ≈ 150: a small step.
        AssertPathsAgree(model, new BuresWassersteinFlowOptions(StepSize: 0.005, StabilityControl: false), 0.05);
    }

    [Fact]
    public void The_logistic_targets_pieces_add_up_to_its_log_density_and_gradient()
    {
        const int d = 6, n = 40;
        var target = LogisticRegressionTarget.Synthetic(new Xoshiro256StarStar(5), d, n, 1.0, priorPrecision: 0.3);
        ILinearPredictorTarget linear = target;
        Assert.Equal(n, linear.PredictorCount);
        var z = new double[3 * d];
        new Xoshiro256StarStar(6).FillStandardNormal(z);
        // Two uneven blocks of rows (neither a multiple of the kernels' four lanes): the pieces over row ranges add up.
        AssertPiecesAddUp(target, z, 3, [(0, 17), (17, 23)], 1e-10);
        Assert.Throws<ArgumentOutOfRangeException>(() => linear.Likelihood(30, new double[11], new double[11]));
    }

    // Over the given blocks of rows: Σ Likelihood(Predictors(z_k)) − (λ/2)‖z_k‖² + c equals log pi(z_k) and
    // Σ AddPullBack(w_k) − λz_k its gradient (relative tolerance), and LikelihoodDerivatives gives Likelihood's bits.
    private static void AssertPiecesAddUp(ILinearPredictorTarget linear, double[] z, int count, (int First, int Rows)[] blocks, double tolerance)
    {
        int d = linear.Dimension;
        var values = new double[count];
        var pulled = new double[count * d];
        foreach ((int first, int rows) in blocks)
        {
            double[] predictors = new double[count * rows], weights = new double[count * rows], derivatives = new double[rows];
            linear.Predictors(z, count, first, rows, predictors);
            for (int k = 0; k < count; k++)
            {
                ReadOnlySpan<double> t = predictors.AsSpan(k * rows, rows);
                values[k] += linear.Likelihood(first, t, weights.AsSpan(k * rows, rows));
                linear.LikelihoodDerivatives(first, t, derivatives);
                for (int r = 0; r < rows; r++) Assert.Equal(weights[k * rows + r], derivatives[r]); // bit for bit
            }
            linear.AddPullBack(weights, count, first, rows, pulled);
        }
        var gradient = new double[d];
        for (int k = 0; k < count; k++)
        {
            ReadOnlySpan<double> zk = z.AsSpan(k * d, d);
            double expected = linear.LogDensityAndGradient(zk, gradient);
            double assembled = values[k] - 0.5 * linear.PriorPrecision * zk.ToArray().Sum(v => v * v) + linear.LogConstant;
            Assert.True(Math.Abs(expected - assembled) <= tolerance * (1 + Math.Abs(expected)), $"{linear.Name}, point {k}: {assembled} vs {expected}");
            for (int j = 0; j < d; j++)
            {
                double piece = pulled[k * d + j] - linear.PriorPrecision * zk[j];
                Assert.True(Math.Abs(gradient[j] - piece) <= tolerance * (1 + Math.Abs(gradient[j])), $"{linear.Name}, point {k}, coordinate {j}: {piece} vs {gradient[j]}");
            }
        }
    }

    // Twenty RK4 steps from N(0, variance·I) through the target's linear-predictor path and through the general path
    // (the target behind a plain ITarget): the objectives agree to 1e-10, and the state, which moved well away from
    // the start, to 1e-11 — round-off only.
    private static void AssertPathsAgree(ITarget target, BuresWassersteinFlowOptions options, double variance)
    {
        int d = target.Dimension;
        var fast = new BuresWassersteinFlow(target, 1, options);
        var general = new BuresWassersteinFlow(new Hidden(target), 1, options);
        var start = GaussianParticleState.Start(Gaussian.Isotropic(new double[d], variance), 1);
        GaussianParticleState a = start.Clone(), b = start.Clone();
        for (int i = 0; i < 20; i++)
        {
            double fa = fast.Step(a).ObjectiveEstimate, fb = general.Step(b).ObjectiveEstimate;
            Assert.True(Math.Abs(fa - fb) <= 1e-10 * (1 + Math.Abs(fb)), $"step {i}: objective {fa} vs {fb}");
        }
        Assert.True(Math.Abs(a.Means[0] - start.Means[0]) > 1e-3);
        for (int i = 0; i < a.Means.Length; i++) Assert.True(Math.Abs(a.Means[i] - b.Means[i]) <= 1e-11 * (1 + Math.Abs(b.Means[i])), $"mean {i}");
        for (int i = 0; i < a.Factors.Length; i++) Assert.True(Math.Abs(a.Factors[i] - b.Factors[i]) <= 1e-11 * (1 + Math.Abs(b.Factors[i])), $"factor entry {i}");
    }
}
