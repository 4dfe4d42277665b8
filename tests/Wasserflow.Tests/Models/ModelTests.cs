using Wasserflow.Data;
using Wasserflow.Diagnostics;
using Wasserflow.Families;
using Wasserflow.Flows;
using Wasserflow.LinearAlgebra;
using Wasserflow.Models;
using Wasserflow.Randomness;
using Wasserflow.Running;
using Wasserflow.Targets;

namespace Wasserflow.Tests.Models;

public sealed class ModelTests
{
    public static TheoryData<string> Constraints() => ["real", "positive", "lower 2", "upper 1", "interval -1 3"];

    private static (Constraint C, Func<double, double> Density) Case(string name) => name switch
    {
        // A normalised density on each support, so the density of u = T⁻¹(x) must integrate to 1 as well.
        "real" => (Constraint.Real, x => Math.Exp(-0.5 * x * x) / Math.Sqrt(2 * Math.PI)),
        "positive" => (Constraint.Positive, x => x * Math.Exp(-x)),                  // Gamma(2, 1)
        "lower 2" => (Constraint.LowerBound(2), x => Math.Exp(-(x - 2))),            // 2 + Exp(1)
        "upper 1" => (Constraint.UpperBound(1), x => 2 * Math.Exp(-2 * (1 - x))),    // 1 − Exp(2)
        _ => (Constraint.Interval(-1, 3), x => 6 * ((x + 1) / 4) * (1 - (x + 1) / 4) / 4), // −1 + 4·Beta(2, 2)
    };

    [Theory]
    [MemberData(nameof(Constraints))]
    public void The_log_Jacobian_makes_the_density_of_u_integrate_to_one(string name)
    {
        var (c, density) = Case(name);
        // Midpoint rule on u ∈ [−30, 30]: ∫ p(T(u)) |T'(u)| du = ∫ p(x) dx = 1.
        const int cells = 600_000;
        double h = 60.0 / cells, sum = 0;
        for (int i = 0; i < cells; i++)
        {
            double u = -30 + (i + 0.5) * h;
            sum += density(c.ToConstrained(u)) * Math.Exp(c.LogJacobian(u)) * h;
        }
        Assert.Equal(1.0, sum, 6);
    }

    [Theory]
    [MemberData(nameof(Constraints))]
    public void Transform_derivatives_match_finite_differences_and_round_trip(string name)
    {
        var (c, _) = Case(name);
        foreach (double u in new[] { -3.0, -0.4, 0.0, 0.7, 2.5 })
        {
            const double h = 1e-5;
            double dT = (c.ToConstrained(u + h) - c.ToConstrained(u - h)) / (2 * h);
            double dLogJ = (c.LogJacobian(u + h) - c.LogJacobian(u - h)) / (2 * h);
            Assert.Equal(dT, c.Derivative(u), 1e-7 * (1 + Math.Abs(dT)));
            Assert.Equal(Math.Log(Math.Abs(c.Derivative(u))), c.LogJacobian(u), 10);
            Assert.Equal(dLogJ, c.LogJacobianDerivative(u), 1e-7);
            Assert.Equal(u, c.ToUnconstrained(c.ToConstrained(u)), 9);
        }
    }

    [Fact]
    public void A_value_outside_its_support_is_named()
    {
        var layout = new ParameterLayout(new ParameterBlock("beta", 2, Constraint.Real), new ParameterBlock("sigma", 1, Constraint.Positive));
        Assert.Equal(["beta[1]", "beta[2]", "sigma"], layout.Names);
        var ex = Assert.Throws<ArgumentException>(() => layout.Unconstrain([0.1, 0.2, -1.0], new double[3]));
        Assert.Contains("sigma = -1", ex.Message, StringComparison.Ordinal);
    }

    private static (double[] X, double[] Y) Data(RegressionFamily family, int n, int p, ulong seed)
    {
        var rng = new Xoshiro256StarStar(seed);
        var x = new double[n * p];
        rng.FillStandardNormal(x);
        var beta = new double[p];
        rng.FillStandardNormal(beta);
        var y = new double[n];
        for (int i = 0; i < n; i++)
        {
            double t = 0.3;
            for (int j = 0; j < p; j++) t += x[i * p + j] * beta[j] * 0.5;
            y[i] = family switch
            {
                RegressionFamily.Linear => t + 0.7 * rng.NextStandardNormal(),
                RegressionFamily.Logistic => rng.NextDouble() < 1 / (1 + Math.Exp(-t)) ? 1 : 0,
                _ => Poisson(rng, Math.Exp(t)),
            };
        }
        return (x, y);
    }

    private static double Poisson(Xoshiro256StarStar rng, double rate)
    {
        double l = Math.Exp(-rate), p = 1;
        int k = 0;
        do { k++; p *= rng.NextDouble(); } while (p > l);
        return k - 1;
    }

    [Theory]
    [InlineData(RegressionFamily.Linear, true)]
    [InlineData(RegressionFamily.Linear, false)]
    [InlineData(RegressionFamily.Logistic, true)]
    [InlineData(RegressionFamily.Poisson, true)]
    public void Model_gradient_on_the_unconstrained_scale_matches_finite_differences(RegressionFamily family, bool intercept)
    {
        var (x, y) = Data(family, 40, 9, 11);
        var model = RegressionModel.Create(family, x, y, intercept, priorScale: 2.5);
        var rng = new Xoshiro256StarStar(5);
        var u = new double[model.Dimension];
        for (int i = 0; i < u.Length; i++) u[i] = 0.3 * rng.NextStandardNormal();
        TestSupport.AssertGradientMatchesFiniteDifferences(model, u);
    }

    [Fact]
    public void Softmax_regression_with_two_classes_is_logistic_regression_and_has_its_gradient_with_three()
    {
        var (x, y) = Data(RegressionFamily.Logistic, 40, 4, 61);
        var softmax = SoftmaxRegressionModel.Create(x, y, intercept: true, priorScale: 2);
        var logistic = RegressionModel.Create(RegressionFamily.Logistic, x, y, intercept: true, priorScale: 2);
        Assert.Equal(logistic.Dimension, softmax.Dimension);
        var rng = new Xoshiro256StarStar(2);
        var u = new double[5];
        rng.FillStandardNormal(u);
        Assert.Equal(logistic.LogDensity(u), softmax.LogDensity(u), 10);

        double[] three = [.. y.Select((v, i) => v == 1 && i % 3 == 0 ? 2.0 : v)];
        var model = SoftmaxRegressionModel.Create(x, three, intercept: true, priorScale: 2);
        Assert.Equal(2 + 4 * 2, model.Dimension);
        Assert.Equal("beta[2, class 1]", model.Layout.Names[4]);
        var w = new double[model.Dimension];
        rng.FillStandardNormal(w);
        TestSupport.AssertGradientMatchesFiniteDifferences(model, w);
        // One draw repeated: the predictive's log density is the model's average log likelihood at that draw.
        PredictiveSummary p = model.Predict([.. w, .. w], 2, x, three);
        double sum = 0;
        for (int i = 0; i < 40; i++)
        {
            double[] t = [0, w[0], w[1]];
            for (int j = 0; j < 4; j++) { t[1] += x[i * 4 + j] * w[2 + 2 * j]; t[2] += x[i * 4 + j] * w[3 + 2 * j]; }
            double lse = Math.Log(t.Sum(Math.Exp));
            sum += t[(int)three[i]] - lse;
        }
        Assert.Equal(sum / 40, p.MeanLogPredictiveDensity, 10);
    }

    // The mean over the points of central differences of the gradient, column by column.
    private static double[] FiniteDifferenceMeanHessian(ITarget target, double[] points, int count)
    {
        int d = target.Dimension;
        var h = new double[d * d];
        var up = new double[d];
        var down = new double[d];
        for (int c = 0; c < count; c++)
            for (int j = 0; j < d; j++)
            {
                double[] x = points[(c * d)..((c + 1) * d)];
                double step = 1e-5 * Math.Max(1, Math.Abs(x[j]));
                x[j] += step;
                target.LogDensityAndGradient(x, up);
                x[j] -= 2 * step;
                target.LogDensityAndGradient(x, down);
                for (int i = 0; i < d; i++) h[i * d + j] += (up[i] - down[i]) / (2 * step) / count;
            }
        return h;
    }

    [Theory]
    [InlineData(RegressionFamily.Logistic, true)]
    [InlineData(RegressionFamily.Logistic, false)]
    [InlineData(RegressionFamily.Poisson, true)]
    [InlineData(RegressionFamily.Linear, true)]
    public void The_mean_Hessian_of_a_regression_and_of_its_whitened_form_match_finite_differences(RegressionFamily family, bool intercept)
    {
        var (x, y) = Data(family, 50, 4, 13);
        var model = RegressionModel.Create(family, x, y, intercept, priorScale: 3, knownSigma: family == RegressionFamily.Linear ? 0.8 : null);
        Assert.True(model.HasMeanHessian);
        int d = model.Dimension;
        var rng = new Xoshiro256StarStar(5);
        var points = new double[3 * d];
        rng.FillStandardNormal(points);
        for (int i = 0; i < points.Length; i++) points[i] *= 0.4;
        var h = new double[d * d];
        model.MeanHessian(points, 3, h);
        double[] fd = FiniteDifferenceMeanHessian(model, points, 3);
        for (int i = 0; i < d * d; i++) Assert.True(Math.Abs(h[i] - fd[i]) <= 1e-6 * (1 + Math.Abs(fd[i])), $"{family} H[{i / d},{i % d}] = {h[i]}, differences {fd[i]}");
        // Through u = m + L v: Lᵀ H̄ L, checked the same way.
        var factor = new double[d * d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j <= i; j++) factor[i * d + j] = i == j ? 0.5 + 0.1 * i : 0.05 * (i - j);
        var shift = new double[d];
        rng.FillStandardNormal(shift);
        var whitened = new AffineTarget(model, shift, factor);
        Assert.True(whitened.HasMeanHessian);
        whitened.MeanHessian(points, 3, h);
        fd = FiniteDifferenceMeanHessian(whitened, points, 3);
        for (int i = 0; i < d * d; i++) Assert.True(Math.Abs(h[i] - fd[i]) <= 1e-6 * (1 + Math.Abs(fd[i])), $"whitened {family} H[{i / d},{i % d}] = {h[i]}, differences {fd[i]}");
    }

    [Theory]
    [InlineData(RegressionFamily.Logistic, true, false)]
    [InlineData(RegressionFamily.Logistic, false, false)]
    [InlineData(RegressionFamily.Poisson, true, false)]
    [InlineData(RegressionFamily.Linear, true, true)]
    [InlineData(RegressionFamily.Linear, true, false)]
    public void A_batch_of_points_gives_each_point_its_own_log_density_and_gradient(RegressionFamily family, bool intercept, bool knownSigma)
    {
        var (x, y) = Data(family, 45, 6, 17);
        var model = RegressionModel.Create(family, x, y, intercept, priorScale: 3, knownSigma: knownSigma ? 0.8 : null);
        int d = model.Dimension, count = 11; // not a multiple of 4: the products' remainder path too
        var rng = new Xoshiro256StarStar(8);
        var points = new double[count * d];
        rng.FillStandardNormal(points);
        for (int i = 0; i < points.Length; i++) points[i] *= 0.5;
        if (family == RegressionFamily.Linear && !knownSigma)
            for (int c = 0; c < count; c++) points[c * d + d - 1] = Math.Abs(points[c * d + d - 1]) + 0.3; // σ > 0 on the model's scale
        var logs = new double[count];
        var grads = new double[count * d];
        ((ITarget)model as IBatchedTarget)!.LogDensityAndGradientBatch(points, count, logs, grads);
        var g = new double[d];
        for (int c = 0; c < count; c++)
        {
            double single = model.LogDensityAndGradient(points.AsSpan(c * d, d), g);
            Assert.Equal(single, logs[c], 1e-10 * (1 + Math.Abs(single)));
            for (int i = 0; i < d; i++) Assert.Equal(g[i], grads[c * d + i], 1e-10 * (1 + Math.Abs(g[i])));
        }
        // Whitened: the affine map's batch around the model's batch agrees with its point-by-point path too.
        var factor = new double[d * d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j <= i; j++) factor[i * d + j] = i == j ? 0.6 + 0.05 * i : 0.03 * (i + j);
        var whitened = new AffineTarget(model, new double[d], factor);
        if (family == RegressionFamily.Linear && !knownSigma) return; // a shift of σ's coordinate could cross 0
        whitened.LogDensityAndGradientBatch(points, count, logs, grads);
        for (int c = 0; c < count; c++)
        {
            double single = whitened.LogDensityAndGradient(points.AsSpan(c * d, d), g);
            Assert.Equal(single, logs[c], 1e-10 * (1 + Math.Abs(single)));
            for (int i = 0; i < d; i++) Assert.Equal(g[i], grads[c * d + i], 1e-10 * (1 + Math.Abs(g[i])));
        }
        // Chunks of 4 (as the evaluator's threads split a batch) give the same bits as the whole batch.
        var chunked = new double[8 * d];
        var chunkedLogs = new double[8];
        whitened.LogDensityAndGradientBatch(points.AsSpan(0, 8 * d), 8, logs, grads);
        whitened.LogDensityAndGradientBatch(points.AsSpan(0, 4 * d), 4, chunkedLogs, chunked);
        whitened.LogDensityAndGradientBatch(points.AsSpan(4 * d, 4 * d), 4, chunkedLogs.AsSpan(4), chunked.AsSpan(4 * d));
        Assert.Equal(logs[..8], chunkedLogs);
        Assert.Equal(grads[..(8 * d)], chunked);
    }

    [Fact]
    public void A_linear_model_with_sigma_a_parameter_has_no_mean_Hessian_and_the_Hessian_flow_says_so()
    {
        var (x, y) = Data(RegressionFamily.Linear, 30, 2, 3);
        var model = RegressionModel.Create(RegressionFamily.Linear, x, y);
        Assert.False(model.HasMeanHessian);
        Assert.Throws<NotSupportedException>(() => model.MeanHessian(new double[model.Dimension], 1, new double[model.Dimension * model.Dimension]));
        var ex = Assert.Throws<ArgumentException>(() => new BuresWassersteinFlow(model, 1, new BuresWassersteinFlowOptions(Hessian: true)));
        Assert.Contains("mean Hessian", ex.Message, StringComparison.Ordinal);
        var known = RegressionModel.Create(RegressionFamily.Linear, x, y, knownSigma: 1);
        Assert.Throws<ArgumentException>(() => new BuresWassersteinFlow(known, 2, new BuresWassersteinFlowOptions(Hessian: true)));
    }

    [Fact]
    public void The_Hessian_form_is_the_Stein_form_on_a_Gaussian_posterior_and_converges_on_a_logistic_one()
    {
        // Conjugate linear regression (σ known): log p is quadratic, so cubature's Stein estimate and the mean Hessian
        // are both exact and the two fields, hence the two trajectories, agree to rounding.
        var (x, y) = Data(RegressionFamily.Linear, 30, 3, 21);
        var linear = RegressionModel.Create(RegressionFamily.Linear, x, y, intercept: true, priorScale: 2, knownSigma: 0.7);
        var start = GaussianParticleState.Start(Gaussian.Isotropic(new double[linear.Dimension], 1.0), seed: 1);
        var stein = VariationalRunner.Run(new BuresWassersteinFlow(linear, 1, new BuresWassersteinFlowOptions(StepSize: 0.1)), start, new RunOptions(50, TraceEvery: 0));
        var hessian = VariationalRunner.Run(new BuresWassersteinFlow(linear, 1, new BuresWassersteinFlowOptions(StepSize: 0.1, Hessian: true)), start, new RunOptions(50, TraceEvery: 0));
        for (int i = 0; i < stein.FinalState.Means.Length; i++) Assert.Equal(stein.FinalState.Means[i], hessian.FinalState.Means[i], 10);
        for (int i = 0; i < stein.FinalState.Factors.Length; i++) Assert.Equal(stein.FinalState.Factors[i], hessian.FinalState.Factors[i], 10);

        // Logistic: both forms with cubature reach fixed points whose means agree within 0.05 posterior sd (the forms'
        // cubature errors differ: Stein's is of E[∇log π ξᵀ], the Hessian form's of E[∇²log π]).
        var (xl, yl) = Data(RegressionFamily.Logistic, 80, 3, 9);
        var logistic = RegressionModel.Create(RegressionFamily.Logistic, xl, yl, intercept: true, priorScale: 3);
        var startL = GaussianParticleState.Start(Gaussian.Isotropic(new double[logistic.Dimension], 1.0), seed: 1);
        Gaussian a = VariationalRunner.Run(new BuresWassersteinFlow(logistic, 1, new BuresWassersteinFlowOptions(StepSize: 0.1)), startL, new RunOptions(400, TraceEvery: 0)).FinalState.Particle();
        Gaussian b = VariationalRunner.Run(new BuresWassersteinFlow(logistic, 1, new BuresWassersteinFlowOptions(StepSize: 0.1, Hessian: true)), startL, new RunOptions(400, TraceEvery: 0)).FinalState.Particle();
        double[] cov = a.Covariance();
        for (int i = 0; i < logistic.Dimension; i++) Assert.True(Math.Abs(a.Mean[i] - b.Mean[i]) < 0.05 * Math.Sqrt(cov[i * logistic.Dimension + i]), $"mean {i}: {a.Mean[i]} vs {b.Mean[i]}");
    }

    [Fact]
    public void The_neural_network_regression_has_the_gradient_and_predictions_of_its_formula()
    {
        // A tiny network: p = 3 inputs, h = 4 ReLU units, 20 rows; d = 4·(3 + 1) + (4 + 1) = 21.
        var rng = new Xoshiro256StarStar(12);
        var x = new double[20 * 3];
        var y = new double[20];
        rng.FillStandardNormal(x);
        rng.FillStandardNormal(y);
        var model = NeuralRegressionModel.Create(x, y, hidden: 4, noiseVariance: 0.5, priorScale: 2);
        Assert.Equal(21, model.Dimension);
        for (int trial = 0; trial < 3; trial++)
        {
            var theta = new double[21];
            rng.FillStandardNormal(theta);
            TestSupport.AssertGradientMatchesFiniteDifferences(model, theta, relativeTolerance: 1e-6);
            // log p = Σ log N(y_i; f(x_i), σ²) + Σ log N(θ_j; 0, s²), f written out here.
            double expected = 0;
            for (int i = 0; i < 20; i++)
            {
                double f = theta[20];
                for (int k = 0; k < 4; k++)
                {
                    double z = theta[12 + k];
                    for (int j = 0; j < 3; j++) z += theta[k * 3 + j] * x[i * 3 + j];
                    f += theta[16 + k] * Math.Max(z, 0);
                }
                Assert.Equal(f, model.Predict(theta, x.AsSpan(i * 3, 3)), 12);
                expected += -0.5 * (y[i] - f) * (y[i] - f) / 0.5 - 0.5 * Math.Log(2 * Math.PI * 0.5);
            }
            foreach (double t in theta) expected += -0.5 * t * t / 4 - 0.5 * Math.Log(2 * Math.PI * 4);
            Assert.Equal(expected, model.LogDensity(theta), 9);
        }
        // One draw repeated: the predictive's RMSE is that of f, its log density the mean Gaussian log likelihood.
        var draw = new double[21];
        rng.FillStandardNormal(draw);
        PredictiveSummary p = model.Predict([.. draw, .. draw], 2, x, y);
        double squares = 0, logLik = 0;
        for (int i = 0; i < 20; i++)
        {
            double r = y[i] - model.Predict(draw, x.AsSpan(i * 3, 3));
            squares += r * r;
            logLik += -0.5 * r * r / 0.5 - 0.5 * Math.Log(2 * Math.PI * 0.5);
        }
        Assert.Equal(Math.Sqrt(squares / 20), p.Rmse!.Value, 10);
        Assert.Equal(logLik / 20, p.MeanLogPredictiveDensity, 10);
    }

    [Fact]
    public void Gaussian_VI_on_conjugate_linear_regression_is_the_closed_form_posterior_and_its_ELBO_the_log_evidence()
    {
        const double sigma = 0.7, s = 2.0;
        var (x, y) = Data(RegressionFamily.Linear, 30, 3, 21);
        var model = RegressionModel.Create(RegressionFamily.Linear, x, y, intercept: true, priorScale: s, knownSigma: sigma);
        int d = model.Dimension; // α, β₁..₃
        // Closed form with the intercept as a column of ones: S = (ZᵀZ/σ² + I/s²)⁻¹, m = S Zᵀy/σ².
        var z = new double[30 * d];
        for (int i = 0; i < 30; i++)
        {
            z[i * d] = 1;
            for (int j = 1; j < d; j++) z[i * d + j] = x[i * 3 + j - 1];
        }
        var precision = new double[d * d];
        var b = new double[d];
        for (int i = 0; i < 30; i++)
            for (int j = 0; j < d; j++)
            {
                b[j] += z[i * d + j] * y[i] / (sigma * sigma);
                for (int k = 0; k < d; k++) precision[j * d + k] += z[i * d + j] * z[i * d + k] / (sigma * sigma);
            }
        for (int j = 0; j < d; j++) precision[j * d + j] += 1 / (s * s);
        var covariance = new double[d * d];
        Dense.SymmetricFunction(precision, d, v => 1 / v, covariance);
        var mean = new double[d];
        for (int j = 0; j < d; j++)
            for (int k = 0; k < d; k++) mean[j] += covariance[j * d + k] * b[k];

        var flow = new BuresWassersteinFlow(model, 1, new BuresWassersteinFlowOptions(StepSize: 0.1));
        var result = VariationalRunner.Run(flow, GaussianParticleState.Start(Gaussian.Isotropic(new double[d], 1.0), seed: 1), new RunOptions(Iterations: 600));
        Gaussian fit = result.FinalState.Particle();
        double[] fitCovariance = fit.Covariance();
        for (int j = 0; j < d; j++)
        {
            Assert.Equal(mean[j], fit.Mean[j], 6);
            for (int k = 0; k < d; k++) Assert.Equal(covariance[j * d + k], fitCovariance[j * d + k], 7);
        }

        // q is the posterior, so log p(θ, y) − log q(θ) is log p(y) at every draw: the ELBO is the log evidence,
        // log N(y; 0, σ²I + s² Z Zᵀ), with no Monte Carlo error.
        var marginal = new double[30 * 30];
        for (int i = 0; i < 30; i++)
            for (int l = 0; l < 30; l++)
            {
                double dot = 0;
                for (int j = 0; j < d; j++) dot += z[i * d + j] * z[l * d + j];
                marginal[i * 30 + l] = s * s * dot + (i == l ? sigma * sigma : 0);
            }
        double logEvidence = Gaussian.FromCovariance(new double[30], marginal).LogDensity(y);
        PosteriorReport report = PosteriorAnalysis.Analyse(model, (rng, u) => { fit.Sample(rng, u); return fit.LogDensity(u); }, new Xoshiro256StarStar(3), 500);
        Assert.Equal(logEvidence, report.Elbo, 5);
        Assert.True(report.ElboStandardError < 1e-5, $"s.e. {report.ElboStandardError}");
        Assert.Equal(["alpha", "beta[1]", "beta[2]", "beta[3]"], report.Parameters.Select(p => p.Name));
    }

    [Fact]
    public void An_affine_target_has_the_chain_rule_gradient_and_keeps_the_normaliser()
    {
        var (x, y) = Data(RegressionFamily.Poisson, 30, 3, 41);
        var model = RegressionModel.Create(RegressionFamily.Poisson, x, y, intercept: true, priorScale: 3);
        double[] shift = [0.2, -0.1, 0.3, 0.05];
        double[] factor = [0.5, 0, 0, 0, 0.1, 0.2, 0, 0, -0.3, 0.05, 0.7, 0, 0.02, 0.01, 0.03, 0.4];
        var whitened = new Wasserflow.Targets.AffineTarget(model, shift, factor);
        TestSupport.AssertGradientMatchesFiniteDifferences(whitened, [0.3, -0.7, 0.2, 1.1]);
        // π_v(v) = π(m + Lv)·|det L|, with |det L| = 0.5·0.2·0.7·0.4.
        var u = new double[4];
        whitened.ToOriginal([0.3, -0.7, 0.2, 1.1], u);
        Assert.Equal(model.LogDensity(u) + Math.Log(0.5 * 0.2 * 0.7 * 0.4), whitened.LogDensity([0.3, -0.7, 0.2, 1.1]), 10);
    }

    [Fact]
    public void Whitening_by_the_Laplace_approximation_makes_a_badly_scaled_regression_fit_like_a_well_scaled_one()
    {
        // The same data with one covariate in units 10⁴ times smaller: β₂ becomes β₂/10⁴. With a prior too wide to matter,
        // the two posteriors are the same up to that scale, and whitened Gaussian VI finds both in the same iterations.
        var (x, y) = Data(RegressionFamily.Linear, 50, 2, 51);
        double[] scaled = (double[])x.Clone();
        for (int i = 0; i < 50; i++) scaled[i * 2 + 1] *= 1e4;
        Gaussian Fit(double[] design)
        {
            var model = RegressionModel.Create(RegressionFamily.Linear, design, y, intercept: true, priorScale: 1e7, knownSigma: 0.7);
            Gaussian laplace = Wasserflow.Baselines.Laplace.Fit(model, new double[model.Dimension]).Approximation;
            var whitened = new Wasserflow.Targets.AffineTarget(model, laplace.Mean, laplace.CholeskyFactor);
            var flow = new BuresWassersteinFlow(whitened, 1, new BuresWassersteinFlowOptions(StepSize: 0.1));
            var run = VariationalRunner.Run(flow, GaussianParticleState.Start(Gaussian.Isotropic(new double[3], 1.0), seed: 1), new RunOptions(Iterations: 200));
            Assert.Equal(RunStatus.Completed, run.Status);
            Assert.Equal(200, run.FinalState.Substeps); // no step had to be split
            var mean = new double[3];
            whitened.ToOriginal(run.FinalState.Particle().Mean, mean);
            double[] l = whitened.Factor.ToArray(), s = run.FinalState.Particle().Covariance(), cov = new double[9];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    for (int a = 0; a < 3; a++)
                        for (int b = 0; b < 3; b++) cov[i * 3 + j] += l[i * 3 + a] * s[a * 3 + b] * l[j * 3 + b];
            return Gaussian.FromCovariance(mean, cov);
        }
        Gaussian plain = Fit(x), rescaled = Fit(scaled);
        double[] cp = plain.Covariance(), cr = rescaled.Covariance();
        double[] unit = [1, 1, 1e4];
        for (int j = 0; j < 3; j++)
        {
            double sd = Math.Sqrt(cp[j * 3 + j]);
            Assert.True(Math.Abs(rescaled.Mean[j] * unit[j] - plain.Mean[j]) < 1e-6 * sd, $"mean {j}: {rescaled.Mean[j] * unit[j]} vs {plain.Mean[j]}");
            Assert.Equal(1.0, Math.Sqrt(cr[j * 3 + j]) * unit[j] / sd, 6);
        }
    }

    [Fact]
    public void PSIS_corrects_a_shifted_fit_and_the_ELBO_is_minus_the_KL()
    {
        // p = N(0.3, 1), q = N(0, 1): KL(q‖p) = 0.045, so ELBO = −0.045 (log Z = 0); the raw mean is 0, the PSIS mean 0.3.
        var model = new Model("shifted normal", new ParameterLayout(new ParameterBlock("x", 1, Constraint.Real)), (t, g) =>
        {
            g[0] = -(t[0] - 0.3);
            return -0.5 * (t[0] - 0.3) * (t[0] - 0.3) - 0.5 * Math.Log(2 * Math.PI);
        });
        PosteriorReport r = PosteriorAnalysis.Analyse(model, (rng, u) => { u[0] = rng.NextStandardNormal(); return -0.5 * u[0] * u[0] - 0.5 * Math.Log(2 * Math.PI); },
            new Xoshiro256StarStar(8), 4000);
        Assert.InRange(r.Elbo, -0.045 - 4 * r.ElboStandardError, -0.045 + 4 * r.ElboStandardError);
        Assert.True(r.ParetoK < 0.5, $"k̂ = {r.ParetoK}");
        ParameterSummary x = r.Parameters[0];
        // Raw mean: s.e. 1/√4000 ≈ 0.016; the weighted mean's s.e. is about √(e^{0.09})/√4000 ≈ 0.017.
        Assert.InRange(x.Mean, -0.064, 0.064);
        Assert.InRange(x.PsisMean!.Value, 0.3 - 0.07, 0.3 + 0.07);
        Assert.InRange(x.Q50, -0.1, 0.1);
        Assert.InRange(x.Q95 - x.Q5, 2 * 1.645 - 0.15, 2 * 1.645 + 0.15);
    }

    // p = N(0, 1) as a model; the fit q = N(m, s²).
    private static PosteriorReport StandardNormalFitBy(double m, double s, ulong seed = 8)
    {
        var model = new Model("standard normal", new ParameterLayout(new ParameterBlock("x", 1, Constraint.Real)), (t, g) =>
        {
            g[0] = -t[0];
            return -0.5 * t[0] * t[0] - 0.5 * Math.Log(2 * Math.PI);
        });
        return PosteriorAnalysis.Analyse(model, (rng, u) =>
        {
            double z = rng.NextStandardNormal();
            u[0] = m + s * z;
            return -0.5 * z * z - Math.Log(s) - 0.5 * Math.Log(2 * Math.PI);
        }, new Xoshiro256StarStar(seed), 4000);
    }

    [Fact]
    public void The_fit_is_checked_against_its_own_PSIS_moments_without_a_reference()
    {
        // Exact fit: PSIS sd 1 ± ~0.02 (s.e. of an sd from 4,000 equal-weight draws ≈ 1/√8000), nothing flagged.
        PosteriorReport exact = StandardNormalFitBy(0, 1);
        Assert.InRange(exact.Parameters[0].PsisSd!.Value, 1 - 4 * 0.012, 1 + 4 * 0.012);
        Assert.Empty(exact.Warnings);
        // Too wide (q sd 1.5: weights bounded, k̂ small): the fit's sd is 1.5× the PSIS sd, flagged as too wide.
        PosteriorReport wide = StandardNormalFitBy(0, 1.5);
        Assert.True(wide.ParetoK < 0.5, $"k̂ {wide.ParetoK}");
        Assert.InRange(wide.Parameters[0].Sd / wide.Parameters[0].PsisSd!.Value, 1.35, 1.65);
        Assert.Contains("too wide", Assert.Single(wide.Warnings), StringComparison.Ordinal);
        // Shifted by 0.5 sd with the right width: flagged as shifted (the PSIS mean is 0 within ~0.03).
        PosteriorReport shifted = StandardNormalFitBy(0.5, 1);
        Assert.InRange(shifted.Parameters[0].PsisMean!.Value, -0.08, 0.08);
        Assert.Contains("shifted", Assert.Single(shifted.Warnings), StringComparison.Ordinal);
        // Too narrow, q sd s: under q the ratio p/q = c·e^{(1 − s²) z²/2} has a Pareto tail of shape k = 1 − s².
        // s = 0.75 (k = 0.44): the PSIS sd is usable and the fit is flagged as too narrow.
        PosteriorReport narrow = StandardNormalFitBy(0, 0.75);
        Assert.True(narrow.ParetoK < 0.7, $"k̂ {narrow.ParetoK}");
        Assert.Contains("too narrow", Assert.Single(narrow.Warnings), StringComparison.Ordinal);
        // k̂ ≥ 0.7: one warning that no correction can be trusted, whatever the moments say (the rule, on a report as built).
        var heavy = narrow with { ParetoK = 0.9 };
        Assert.Contains("≥ 0.7", Assert.Single(heavy.Warnings), StringComparison.Ordinal);
        Assert.Contains("could not be estimated", Assert.Single((narrow with { ParetoK = double.NaN }).Warnings), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.2)]
    [InlineData(-0.2)]
    public void The_generalised_Pareto_fit_recovers_its_shape(double shape)
    {
        const int n = 2000;
        var rng = new Xoshiro256StarStar(4);
        var x = new double[n];
        for (int i = 0; i < n; i++) x[i] = 1.5 / shape * (Math.Pow(1 - rng.NextDouble(), -shape) - 1);
        Array.Sort(x);
        var (k, sigma) = Psis.FitGeneralisedPareto(x);
        // The shape's maximum-likelihood s.e. is about (1 + k)/√n ≤ 0.034 here; the weak prior moves it by < 0.003.
        Assert.InRange(k, shape - 0.11, shape + 0.11);
        Assert.InRange(sigma, 1.5 * 0.85, 1.5 * 1.15);
    }

    [Fact]
    public void Predictive_on_held_out_data_from_draws()
    {
        var (x, y) = Data(RegressionFamily.Logistic, 200, 2, 31);
        var model = RegressionModel.Create(RegressionFamily.Logistic, x[..200], y[..100], intercept: true);
        // One draw, or the same draw twice, gives the predictive of that one parameter value.
        var (xt, yt) = (x[200..], y[100..]);
        PredictiveSummary one = model.Predict([0.3, 0.1, -0.2], 1, xt, yt);
        PredictiveSummary two = model.Predict([0.3, 0.1, -0.2, 0.3, 0.1, -0.2], 2, xt, yt);
        Assert.Equal(one.MeanLogPredictiveDensity, two.MeanLogPredictiveDensity, 12);
        Assert.Equal(one.Accuracy, two.Accuracy);
        double expected = 0;
        for (int i = 0; i < 100; i++)
        {
            double t = 0.3 + 0.1 * xt[2 * i] - 0.2 * xt[2 * i + 1];
            expected += yt[i] * t - Math.Log(1 + Math.Exp(t));
        }
        Assert.Equal(expected / 100, one.MeanLogPredictiveDensity, 12);
        Assert.Null(one.Rmse);
    }

    [Fact]
    public void Csv_errors_name_file_line_and_column()
    {
        string dir = Directory.CreateTempSubdirectory("wasserflow-csv-").FullName;
        try
        {
            string Write(string name, string text)
            {
                string path = Path.Combine(dir, name);
                File.WriteAllText(path, text);
                return path;
            }
            var good = CsvTable.Read(Write("good.csv", "y,x1,colour\n1,0.5,red\n0,-1.5,blue\n1,2,green\n"));
            Assert.Equal(3, good.RowCount);
            var (matrix, names) = good.DesignMatrix(["x1", "colour"]);
            // Levels sorted: blue (the reference), green, red.
            Assert.Equal(["x1", "colour=green", "colour=red"], names);
            Assert.Equal([0.5, 0, 1, -1.5, 0, 0, 2, 1, 0], matrix);

            var missingColumn = Assert.Throws<DataFormatException>(() => good.Column("x2"));
            Assert.Contains("no column 'x2' (did you mean 'x1'?)", missingColumn.Message, StringComparison.Ordinal);

            var text = CsvTable.Read(Write("text.csv", "y,x1\n1,0.5\n0,abc\n"));
            var nonNumeric = Assert.Throws<DataFormatException>(() => text.Column("x1"));
            Assert.Equal($"{Path.Combine(dir, "text.csv")}, line 3, column 'x1': 'abc' is not a finite number.", nonNumeric.Message);

            var missingValue = CsvTable.Read(Write("na.csv", "y,x1\n1,NA\n"));
            Assert.Contains("line 2, column 'x1': missing value", Assert.Throws<DataFormatException>(() => missingValue.Column("x1")).Message, StringComparison.Ordinal);

            var truncated = Assert.Throws<DataFormatException>(() => CsvTable.Read(Write("cut.csv", "y,x1,x2\n1,0.5,2\n0,1")));
            Assert.Contains("cut.csv, line 3: 2 fields, but the header has 3 columns (a truncated row?)", truncated.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
