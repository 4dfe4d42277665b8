using System.Globalization;
using System.Text.Json;
using Wasserflow.Cli;

namespace Wasserflow.Tests.Cli;

/// <summary>`wasserflow sample`: NUTS on a model from a CSV and on a posteriordb posterior; its files and its errors.</summary>
public sealed class SampleCliTests : IDisposable
{
    private static readonly string Data = Path.Combine(AppContext.BaseDirectory, "TestData", "logistic-small.csv");
    private readonly string _folder = Directory.CreateTempSubdirectory("wasserflow-sample-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => TestSupport.RunCli(args);

    [Fact]
    public void Logistic_regression_writes_stan_like_draws_summary_predictive_and_plots_independent_of_threads()
    {
        string one = Path.Combine(_folder, "one"), two = Path.Combine(_folder, "two");
        string[] args = ["sample", "--target", "logistic-regression", "--data", Data, "--test-fraction", "0.25", "--warmup", "300", "--draws", "300", "--seed", "5"];
        var (code, stdout, err) = Run([.. args, "--threads", "1", "-o", one]);
        Assert.True(code == 0, err);
        Assert.Contains("max R̂", stdout, StringComparison.Ordinal);
        Assert.Contains("held out (30 rows)", stdout, StringComparison.Ordinal);
        Assert.Equal(0, Run([.. args, "--threads", "2", "-o", two]).Code);
        Assert.Equal(File.ReadAllText(Path.Combine(one, "draws.csv")), File.ReadAllText(Path.Combine(two, "draws.csv")));
        Assert.Equal(File.ReadAllText(Path.Combine(one, "report.html")), File.ReadAllText(Path.Combine(two, "report.html")));

        string[] draws = File.ReadAllLines(Path.Combine(one, "draws.csv"));
        Assert.Equal("chain,draw,lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,alpha,beta[x1],beta[x2],beta[group=b],beta[group=c]", draws[0]);
        Assert.Equal(1 + 4 * 300, draws.Length);
        string[] summary = File.ReadAllLines(Path.Combine(one, "summary.csv"));
        Assert.Equal("parameter,mean,mcse_mean,sd,mcse_sd,q5,q50,q95,rhat,ess_bulk,ess_tail", summary[0]);
        // The summary's mean of beta[x1] is the mean of its draws column; x1's coefficient is 1.2 in the generating model.
        double mean = draws.Skip(1).Average(l => double.Parse(l.Split(',')[10], CultureInfo.InvariantCulture));
        Assert.Equal(mean, double.Parse(summary[2].Split(',')[1], CultureInfo.InvariantCulture), 10);
        Assert.True(mean > 0.3, $"beta[x1] mean {mean}");
        double rhat = double.Parse(summary[2].Split(',')[8], CultureInfo.InvariantCulture);
        Assert.InRange(rhat, 0.99, 1.05);

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(one, "result.json")));
        Assert.Equal(4, json.RootElement.GetProperty("chains").GetArrayLength());
        Assert.Equal(30, json.RootElement.GetProperty("predictive").GetProperty("heldOutRows").GetInt32());
        Assert.True(json.RootElement.GetProperty("chains")[0].GetProperty("stepSize").GetDouble() > 0);
        string report = File.ReadAllText(Path.Combine(one, "report.html"));
        Assert.Contains("Rank plot", report, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(one, "trace-1.svg")) || Directory.GetFiles(one, "trace-*.svg").Length == 4);
    }

    [Fact]
    public void Eight_schools_is_compared_with_the_reference_by_z_scores()
    {
        string output = Path.Combine(_folder, "eight");
        var (code, stdout, err) = Run("sample", "--target", "posteriordb", "--posterior", "eight_schools-eight_schools_noncentered",
            "--posteriordb", Path.Combine(AppContext.BaseDirectory, "TestData", "posteriordb"), "-o", output);
        Assert.True(code == 0, err);
        Assert.Contains("against the reference draws: max |z| of means", stdout, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "result.json")));
        // The test copy holds 1,000 reference draws; every mean within 4 combined Monte Carlo errors of theirs.
        Assert.True(json.RootElement.GetProperty("reference").GetProperty("maxAbsMeanZ").GetDouble() < 4);
        Assert.Contains("z (mean)", File.ReadAllText(Path.Combine(output, "report.html")), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--adapt-delta", "--adapt-delta", "1.5")]
    [InlineData("--metric", "--metric", "full")]
    [InlineData("--draws", "--draws", "2")]
    [InlineData("--draws: 4 chains × 9000000 draws", "--draws", "9000000")]
    public void Bad_settings_are_named_and_nothing_is_written(string expected, params string[] extra)
    {
        string output = Path.Combine(_folder, "bad");
        var (code, _, err) = Run(["sample", "--target", "gmm", .. extra, "-o", output]);
        Assert.Equal(WasserflowCli.BadInput, code);
        Assert.Contains(expected, err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output));
    }
}
