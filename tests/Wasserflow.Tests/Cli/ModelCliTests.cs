using System.Globalization;
using System.Text.Json;
using Wasserflow.Cli;

namespace Wasserflow.Tests.Cli;

/// <summary>`fit` on a user's CSV: a regression model with a held-out split, its summary, draws and predictive.</summary>
public sealed class ModelCliTests : IDisposable
{
    private static readonly string Data = Path.Combine(AppContext.BaseDirectory, "TestData", "logistic-small.csv");
    private readonly string _folder = Directory.CreateTempSubdirectory("wasserflow-model-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => TestSupport.RunCli(args);

    [Theory]
    [InlineData("bw", "1")]
    [InlineData("ibw", "3")]
    public void Logistic_regression_on_a_csv_writes_summary_draws_and_predictive(string algorithm, string components)
    {
        string output = Path.Combine(_folder, algorithm);
        var (code, stdout, err) = Run("fit", "--target", "logistic-regression", "--data", Data, "--test-fraction", "0.25", "-a", algorithm, "-n", components,
            "--iterations", "400", "--step-size", algorithm == "bw" ? "0.1" : "0.05", "--init-spread", "0.5", "--init-variance", "1", "-o", output);
        Assert.True(code == 0, err);
        Assert.Contains("Pareto k̂", stdout, StringComparison.Ordinal);
        Assert.Contains("held out (30 rows)", stdout, StringComparison.Ordinal);

        // alpha, beta[x1], beta[x2], and the categorical group (levels a, b, c; a the reference) as indicators of b and c.
        string[] summary = File.ReadAllLines(Path.Combine(output, "summary.csv"));
        Assert.Equal(["alpha", "beta[x1]", "beta[x2]", "beta[group=b]", "beta[group=c]"], summary.Skip(1).Select(l => l.Split(',')[0]));
        string[] draws = File.ReadAllLines(Path.Combine(output, "draws.csv"));
        Assert.Equal(1 + 4000, draws.Length);
        // The summary's mean of beta[x1] is the mean of its column in draws.csv.
        double mean = draws.Skip(1).Average(l => double.Parse(l.Split(',')[1], CultureInfo.InvariantCulture));
        Assert.Equal(mean, double.Parse(summary[2].Split(',')[1], CultureInfo.InvariantCulture), 10);
        Assert.True(mean > 0.3, $"x1's coefficient (1.2 per unit in the generating model) came out {mean}");

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "result.json")));
        JsonElement posterior = json.RootElement.GetProperty("posterior");
        Assert.True(posterior.GetProperty("elbo").GetDouble() < 0);
        Assert.Equal(5, posterior.GetProperty("parameters").GetArrayLength());
        JsonElement predictive = json.RootElement.GetProperty("predictive");
        Assert.Equal(30, predictive.GetProperty("heldOutRows").GetInt32());
        Assert.InRange(predictive.GetProperty("accuracy").GetDouble(), 0.5, 1.0);
        Assert.Contains("Posterior", File.ReadAllText(Path.Combine(output, "report.html")), StringComparison.Ordinal);
    }

    [Fact]
    public void ADVI_chooses_eta_by_Stans_trials_and_reports_where_Stans_stop_stands()
    {
        string output = Path.Combine(_folder, "advi");
        var (code, _, err) = Run("fit", "--target", "logistic-regression", "--data", Data, "--test-fraction", "0.25", "-a", "advi-fr", "-n", "1",
            "--samples", "1", "--kl-samples", "100", "--iterations", "3000", "--seed", "3", "-o", output);
        Assert.True(code == 0, err);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "result.json")));
        JsonElement root = json.RootElement, search = root.GetProperty("etaSearch");
        double eta = root.GetProperty("eta").GetDouble();
        var trials = search.GetProperty("trials").EnumerateArray().ToList();
        Assert.InRange(trials.Count, 2, 5);
        Assert.Equal(100, trials[0].GetProperty("eta").GetDouble());
        Assert.Contains(eta, trials.Select(t => t.GetProperty("eta").GetDouble()));
        JsonElement stop = root.GetProperty("stanStop");
        long done = root.GetProperty("iterationsDone").GetInt64();
        // Stopped by the rule (at an evaluation, every 100 iterations) or ran to the cap without it firing.
        if (stop.GetProperty("criterion").GetString() == "none") Assert.Equal(3000, done);
        else
        {
            Assert.Equal("converged", root.GetProperty("status").GetString());
            Assert.Equal(0, done % 100);
            Assert.True(stop.GetProperty(stop.GetProperty("criterion").GetString() + "RelativeChange").GetDouble() < 0.01);
        }
        string report = File.ReadAllText(Path.Combine(output, "report.html"));
        Assert.Contains("Stan&#39;s trials", report, StringComparison.Ordinal);
        Assert.Contains("--tol-rel-obj", report, StringComparison.Ordinal);

        // --no-adapt-eta takes η from --step-size; --tol-rel-obj 0 runs every iteration.
        string fixedEta = Path.Combine(_folder, "advi-fixed");
        Assert.Equal(0, Run("fit", "--target", "logistic-regression", "--data", Data, "-a", "advi-mf", "-n", "1", "--no-adapt-eta",
            "--step-size", "0.3", "--tol-rel-obj", "0", "--iterations", "500", "-o", fixedEta).Code);
        using var fixedJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixedEta, "result.json")));
        Assert.Equal(0.3, fixedJson.RootElement.GetProperty("eta").GetDouble());
        Assert.False(fixedJson.RootElement.TryGetProperty("etaSearch", out _));
        Assert.Equal(500, fixedJson.RootElement.GetProperty("iterationsDone").GetInt64());
    }

    [Theory]
    [InlineData("--step-size: sets η of ADVI only with --no-adapt-eta", "fit", "-a", "advi-mf", "-n", "1", "--step-size", "0.5")]
    [InlineData("--early-stop: does not apply to ADVI", "fit", "-a", "advi-fr", "-n", "1", "--early-stop")]
    [InlineData("--tol-rel-obj: applies to advi-mf and advi-fr, not to bw", "fit", "-a", "bw", "-n", "1", "--tol-rel-obj", "0.1")]
    [InlineData("--tol-rel-obj: must be", "fit", "-a", "advi-mf", "-n", "1", "--tol-rel-obj", "-1")]
    [InlineData("--hessian: applies to bw or bw-euler with one Gaussian", "fit", "-a", "ibw", "-n", "5", "--hessian")]
    [InlineData("--hessian: the gaussian-mixture target has no mean Hessian", "fit", "--target", "gmm", "-a", "bw", "-n", "1", "--hessian")]
    public void ADVI_settings_that_do_not_apply_are_named(string expected, params string[] args)
    {
        string output = Path.Combine(_folder, "bad-advi");
        var (code, _, err) = Run([.. args, "-o", output]);
        Assert.Equal(WasserflowCli.BadInput, code);
        Assert.Contains(expected, err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output));
    }

    [Theory]
    [InlineData("--data: the logistic-regression target needs a CSV file", "fit", "--target", "logistic-regression")]
    [InlineData("no column 'yy' (did you mean 'y'?)", "fit", "--target", "logistic-regression", "--data", "DATA", "--response", "yy")]
    [InlineData("no column 'x3' (did you mean 'x1'?)", "fit", "--target", "logistic-regression", "--data", "DATA", "--predictors", "x1,x3")]
    [InlineData("logistic-small.csv, line 2, column 'x1': -0.2559 is not 0 or 1 (logistic regression)", "fit", "--target", "logistic-regression", "--data", "DATA", "--response", "x1")]
    [InlineData("--dimension: applies to", "fit", "--target", "poisson-regression", "--data", "DATA", "-d", "4")]
    [InlineData("--skew: applies to the sinh-arcsinh target, not to linear-regression", "fit", "--target", "linear-regression", "--data", "DATA", "--skew", "1", "1")]
    public void Bad_model_input_is_named_and_nothing_is_written(string expected, params string[] args)
    {
        string output = Path.Combine(_folder, "bad");
        var (code, _, err) = Run([.. args.Select(a => a == "DATA" ? Data : a), "-o", output]);
        Assert.Equal(WasserflowCli.BadInput, code);
        Assert.Contains(expected, err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output));
    }
}

/// <summary>`fit --target posteriordb` and `experiment posteriordb` on the data copies in TestData.</summary>
public sealed class PosteriorDbCliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("wasserflow-pdb-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Eight_schools_fits_in_its_reported_quantities()
    {
        string output = Path.Combine(_folder, "eight");
        var error = new StringWriter();
        var stdout = new StringWriter();
        int code = WasserflowCli.Run(["fit", "--target", "posteriordb", "--posterior", "eight_schools-eight_schools_noncentered",
            "--posteriordb", Path.Combine(AppContext.BaseDirectory, "TestData", "posteriordb"), "-a", "bw", "-n", "1", "--iterations", "300",
            "--step-size", "0.05", "-o", output], stdout, error);
        Assert.True(code == 0, error.ToString());
        string[] summary = File.ReadAllLines(Path.Combine(output, "summary.csv"));
        Assert.Equal([.. Enumerable.Range(1, 8).Select(i => $"theta[{i}]"), "mu", "tau"], summary.Skip(1).Select(l => l.Split(',')[0]));
        // τ is positive in every draw (reported on its own scale), and θ_j = μ + τ θ̃_j spreads around μ.
        string[] draws = File.ReadAllLines(Path.Combine(output, "draws.csv"));
        Assert.All(draws.Skip(1), l => Assert.True(double.Parse(l.Split(',')[9], CultureInfo.InvariantCulture) > 0));
        // The test copy of the reference draws holds 1,000 of them; the fit is scored against those.
        Assert.Contains("against the reference draws: max |Δmean|/sd", stdout.ToString(), StringComparison.Ordinal);
        Assert.Contains("(1000 reference draws)", stdout.ToString(), StringComparison.Ordinal);
        // One Gaussian over-disperses the θ's (sd up to 1.28× the reference's): the fit says so against its own PSIS
        // moments, without the reference.
        Assert.Contains("the fit is too wide there", stdout.ToString(), StringComparison.Ordinal);
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "result.json")));
        Assert.True(json.RootElement.GetProperty("posterior").GetProperty("warnings").GetArrayLength() > 0);
    }

    [Fact]
    public void The_benchmark_scores_every_posterior_and_method_into_one_table()
    {
        string output = Path.Combine(_folder, "bench");
        var error = new StringWriter();
        int code = WasserflowCli.Run(["benchmark", "posteriordb", "--posteriordb", Path.Combine(AppContext.BaseDirectory, "TestData", "posteriordb"),
            "--posteriors", "eight_schools-eight_schools_noncentered,sblri-blr", "--methods", "bw,ibw,advi-mf", "--iterations", "200", "--advi-iterations", "600",
            "-o", output], TextWriter.Null, error);
        Assert.True(code == 0, error.ToString());
        string[] csv = File.ReadAllLines(Path.Combine(output, "results.csv"));
        Assert.Equal(1 + 6, csv.Length);
        // ADVI rows say which η Stan's trials chose (one of its five) and how the run ended.
        Assert.All(csv.Skip(1).Where(l => l.Split(',')[1] == "advi-mf"), l => Assert.Matches(@"\(eta (100|10|1|0\.1|0\.01|none)\)", l.Split(',')[2]));
        // The same command is reachable as an experiment.
        Assert.Equal(0, WasserflowCli.Run(["experiment", "posteriordb", "--help"], TextWriter.Null, TextWriter.Null));
        var eight = csv.Skip(1).Select(l => l.Split(',')).Where(f => f[0].StartsWith("eight", StringComparison.Ordinal)).ToList();
        // Scored where reference draws exist (eight schools' test copy), blank where they do not (sblri-blr).
        Assert.All(eight, f => Assert.True(double.Parse(f[4], CultureInfo.InvariantCulture) >= 0));
        Assert.All(csv.Skip(1).Where(l => l.StartsWith("sblri", StringComparison.Ordinal)), l => Assert.Equal("", l.Split(',')[4]));
        Assert.True(File.Exists(Path.Combine(output, "eight_schools-eight_schools_noncentered", "bw", "summary.csv")));
        Assert.Contains("noise floor", File.ReadAllText(Path.Combine(output, "report.html")), StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_folder_or_name_is_one_message()
    {
        var error = new StringWriter();
        Assert.Equal(WasserflowCli.BadInput, WasserflowCli.Run(["fit", "--target", "posteriordb", "--posteriordb", _folder, "-o", Path.Combine(_folder, "x")], TextWriter.Null, error));
        Assert.Contains("--posterior: name the posterior", error.ToString(), StringComparison.Ordinal);
    }
}
