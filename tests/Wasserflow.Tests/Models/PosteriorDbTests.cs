using Wasserflow.Data;
using Wasserflow.Models;
using Wasserflow.Randomness;

namespace Wasserflow.Tests.Models;

/// <summary>
/// The posteriordb models from their data files (copies in TestData/posteriordb; diamonds cut to its first 40 rows):
/// gradients against finite differences at random points, reported quantities, and the scorer.
/// </summary>
public sealed class PosteriorDbTests
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "TestData", "posteriordb");

    public static TheoryData<string> Names() => [.. PosteriorDb.Names, .. PosteriorDb.Extras];

    [Theory]
    [MemberData(nameof(Names))]
    public void Every_posterior_has_the_gradient_of_its_log_density(string name)
    {
        UnconstrainedPosterior model = PosteriorDb.Load(name, Folder);
        var rng = new Xoshiro256StarStar(17);
        for (int trial = 0; trial < 3; trial++)
        {
            var u = new double[model.Dimension];
            for (int i = 0; i < u.Length; i++) u[i] = 0.3 * rng.NextStandardNormal();
            TestSupport.AssertGradientMatchesFiniteDifferences(model, u, relativeTolerance: 1e-5);
        }
    }

    [Fact]
    public void Eight_schools_reports_theta_mu_and_tau_from_the_non_centred_coordinates()
    {
        UnconstrainedPosterior model = PosteriorDb.Load("eight_schools-eight_schools_noncentered", Folder);
        Assert.Equal([.. Enumerable.Range(1, 8).Select(i => $"theta[{i}]"), "mu", "tau"], model.ReportedNames);
        double[] u = [1, 0, 0, 0, 0, 0, 0, -1, 2.0, Math.Log(3)];
        var reported = new double[10];
        model.Report(u, reported);
        Assert.Equal(2 + 3 * 1, reported[0], 12);
        Assert.Equal(2 - 3 * 1, reported[7], 12);
        Assert.Equal(3, reported[9], 12);
    }

    [Fact]
    public void Centred_eight_schools_is_the_non_centred_density_less_its_jacobian_and_reads_its_data_and_reference()
    {
        UnconstrainedPosterior centred = PosteriorDb.Load("eight_schools-eight_schools_centered", Folder);
        UnconstrainedPosterior noncentred = PosteriorDb.Load("eight_schools-eight_schools_noncentered", Folder);
        Assert.Equal(noncentred.ReportedNames, centred.ReportedNames);
        // θ = μ + τ θ̃: log p_c(θ, μ, log τ) = log p_nc(θ̃, μ, log τ) − 8 log τ.
        double mu = 1.5, tau = 2.5;
        double[] tilde = [0.3, -1, 0.2, 0.5, -0.4, 1.1, 0, -0.7];
        double[] u = [.. tilde.Select(t => mu + tau * t), mu, Math.Log(tau)], v = [.. tilde, mu, Math.Log(tau)];
        Assert.Equal(noncentred.LogDensity(v) - 8 * Math.Log(tau), centred.LogDensity(u), 10);
        var a = new double[10];
        var b = new double[10];
        centred.Report(u, a);
        noncentred.Report(v, b);
        Assert.Equal(b, a, (x, y) => Math.Abs(x - y) < 1e-12);
        // The test folder has no centred files: the non-centred data and reference draws stand in (the same posterior of θ, μ, τ).
        Assert.NotNull(centred.Reference);
    }

    [Fact]
    public void The_garch_density_is_its_recursion_plus_a_jacobian_with_its_second_log_one_minus_alpha1_term()
    {
        // Written out here from docs/specs/posteriordb.md and compared at a point: a dropped log(1 − α₁) (the term the spec
        // warns about) or a wrong recursion changes the value by far more than round-off.
        UnconstrainedPosterior model = PosteriorDb.Load("garch-garch11", Folder);
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "garch-garch11.data.json")));
        double[] y = [.. doc.RootElement.GetProperty("y").EnumerateArray().Select(v => v.GetDouble())];
        double sigma1 = doc.RootElement.GetProperty("sigma1").GetDouble();
        double mu = 5.0, a0 = 0.5, a1 = 0.3, w = 0.4 / 0.7, b1 = (1 - a1) * w;
        double h = sigma1 * sigma1, expected = 0;
        for (int t = 0; t < y.Length; t++)
        {
            if (t > 0) h = a0 + a1 * (y[t - 1] - mu) * (y[t - 1] - mu) + b1 * h;
            expected += -0.5 * Math.Log(h) - (y[t] - mu) * (y[t] - mu) / (2 * h);
        }
        expected += Math.Log(a0) + Math.Log(a1) + 2 * Math.Log(1 - a1) + Math.Log(w) + Math.Log(1 - w);
        static double Logit(double p) => Math.Log(p / (1 - p));
        Assert.Equal(expected, model.LogDensity([mu, Math.Log(a0), Logit(a1), Logit(w)]), 9);
    }

    [Fact]
    public void The_scorer_compares_means_in_reference_sds_and_reports_sd_ratios()
    {
        var reference = new Dictionary<string, double[]> { ["a"] = [0, 2, 0, 2], ["b"] = [10, 10, 12, 12] }; // means 1, 11; sds √(4/3)
        double[] draws = [1, 11, 1, 11, 3, 11, 3, 11]; // a: mean 2, sd √(4/3); b: mean 11, sd 0
        ReferenceScore score = PosteriorDb.Score(["a", "b"], draws, 4, reference);
        double s = Math.Sqrt(4.0 / 3);
        Assert.Equal(1 / s, score.MaxStandardisedMeanError, 12);
        Assert.Equal("a", score.WorstName);
        Assert.Equal(Math.Sqrt((1 / (s * s)) / 2), score.RmsStandardisedMeanError, 12);
        Assert.Equal(0, score.MinSdRatio, 12);
        Assert.Equal(1, score.MaxSdRatio, 12);
        Assert.Contains("no 'c'", Assert.Throws<DataFormatException>(() => PosteriorDb.Score(["c"], [0.0, 1.0], 2, reference)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Gaussian_W2_has_its_closed_form_for_diagonal_covariances_and_is_rotation_invariant()
    {
        // Diagonal: W2² = ‖Δm‖² + Σ(√a_i − √b_i)² = (1 + 4) + (2 − 1)² + (3 − 0.5)² = 12.25.
        double w = PosteriorDb.GaussianW2([1.0, 0.0], [4.0, 0, 0, 9.0], [0.0, 2.0], [1.0, 0, 0, 0.25], 2);
        Assert.Equal(Math.Sqrt(12.25), w, 12);
        // Rotating both Gaussians by the same angle keeps W2.
        double c = Math.Cos(0.7), s = Math.Sin(0.7);
        double[] Rotate(double[] cov)
        {
            double[] r = [c, -s, s, c], t = new double[4], o = new double[4];
            for (int i = 0; i < 2; i++) for (int j = 0; j < 2; j++) for (int k = 0; k < 2; k++) t[i * 2 + j] += r[i * 2 + k] * cov[k * 2 + j];
            for (int i = 0; i < 2; i++) for (int j = 0; j < 2; j++) for (int k = 0; k < 2; k++) o[i * 2 + j] += t[i * 2 + k] * r[j * 2 + k];
            return o;
        }
        double[] m1 = [c * 1 - s * 0, s * 1 + c * 0], m2 = [c * 0 - s * 2, s * 0 + c * 2];
        Assert.Equal(w, PosteriorDb.GaussianW2(m1, Rotate([4.0, 0, 0, 9.0]), m2, Rotate([1.0, 0, 0, 0.25]), 2), 10);
        Assert.Equal(0, PosteriorDb.GaussianW2([1.0, 2.0], [2.0, 0.5, 0.5, 1.0], [1.0, 2.0], [2.0, 0.5, 0.5, 1.0], 2), 6);
    }

    [Fact]
    public void An_unknown_posterior_is_named_with_a_suggestion()
    {
        var ex = Assert.Throws<DataFormatException>(() => PosteriorDb.Load("eight_school", Folder));
        Assert.Contains("did you mean", ex.Message, StringComparison.Ordinal);
    }
}
