using System.Globalization;
using Wasserflow.Experiments;
using Wasserflow.Parameters;
using Wasserflow.Targets;

namespace Wasserflow.Tests.Experiments;

/// <summary>The posteriors experiment on a small local logistic regression (the real data sets are fetched on demand, never in tests).</summary>
public sealed class PosteriorsExperimentTests
{
    private static readonly IReadOnlyDictionary<string, TargetParameters> Small = new Dictionary<string, TargetParameters>
    {
        ["small"] = new() { Target = "logistic-regression", Data = Path.Combine(AppContext.BaseDirectory, "TestData", "logistic-small.csv"), TestFraction = 0.5 },
    };

    // Fields of a CSV row, a quoted field (a failure message with commas) kept whole.
    private static string[] Fields(string row) =>
        [.. System.Text.RegularExpressions.Regex.Matches(row, "(?<=^|,)(\"(?:[^\"]|\"\")*\"|[^,]*)").Select(m => m.Value)];

    private static ExperimentOutput RunSmall() => PosteriorsExperiment.Run(new PosteriorsSettings
    {
        Datasets = "small",
        Methods = "ibw,md,bw-particles,advi-mf,nuts",
        Iterations = 200,
        EvaluateEvery = 50,
        Draws = 300,
        Components = 3,
        Seed = 4,
    }, _ => { }, default, Small);

    [Fact]
    public void Every_method_is_evaluated_along_its_run_on_both_splits_and_the_files_repeat_bit_for_bit()
    {
        ExperimentOutput first = RunSmall();
        string[] results = first.Files["results.csv"].Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("dataset,method,status,iterations,test_accuracy,test_log_likelihood,train_accuracy,train_log_likelihood,kl_train,kl_test,test_rmse,train_rmse", results[0]);
        Assert.Equal(["ibw", "md", "bw-particles", "advi-mf", "nuts"], results.Skip(1).Select(l => Fields(l)[1]));
        foreach (string row in results.Skip(1))
        {
            string[] f = Fields(row);
            Assert.Equal(12, f.Length);
            Assert.DoesNotContain("failed", f[2], StringComparison.Ordinal);
            // 60 held-out rows of a logistic model whose x1 effect is strong: every method predicts well above chance.
            Assert.InRange(double.Parse(f[4], CultureInfo.InvariantCulture), 0.6, 1.0);
            Assert.True(double.Parse(f[5], CultureInfo.InvariantCulture) < 0);
        }
        // The mixtures are evaluated at the start and every 50 iterations; their KL − log Z falls from the start.
        string[] ibw = [.. first.Files["traces.csv"].Split('\n').Where(l => l.StartsWith("small,ibw,", StringComparison.Ordinal))];
        Assert.Equal(["0", "50", "100", "150", "200"], ibw.Select(l => l.Split(',')[2]));
        double start = double.Parse(ibw[0].Split(',')[7], CultureInfo.InvariantCulture), end = double.Parse(ibw[^1].Split(',')[7], CultureInfo.InvariantCulture);
        Assert.True(end <= start, $"KL − log Z went from {start} to {end}");
        // NUTS has no q: its KL columns are empty.
        Assert.Equal("", Fields(results[^1])[8]);
        Assert.Contains("small: test accuracy", first.Files["report.html"], StringComparison.Ordinal);

        ExperimentOutput second = RunSmall();
        foreach (string file in new[] { "results.csv", "traces.csv", "report.html" }) Assert.Equal(first.Files[file], second.Files[file]);
    }

    [Fact]
    public void A_neural_network_regression_is_fitted_from_a_box_and_scored_by_RMSE_and_NUTS_is_declined()
    {
        var table = new Dictionary<string, TargetParameters>
        {
            ["net"] = new()
            {
                Target = "bnn-regression",
                Data = Path.Combine(AppContext.BaseDirectory, "TestData", "logistic-small.csv"),
                Response = "x2",
                Predictors = "x1",
                TestFraction = 0.5,
                Hidden = 3,
                NoiseVariance = 1,
                PriorScale = 3
            },
        };
        ExperimentOutput o = PosteriorsExperiment.Run(new PosteriorsSettings
        {
            Datasets = "net",
            Methods = "ibw,nuts",
            Iterations = 300,
            EvaluateEvery = 100,
            Draws = 200,
            Components = 3,
            BnnStepSize = 1e-3,
            Seed = 2,
        }, _ => { }, default, table);
        string[] rows = o.Files["results.csv"].Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string[] ibw = Fields(rows[1]), nuts = Fields(rows[2]);
        Assert.Equal("completed", ibw[2]);
        Assert.Equal("", ibw[4]); // no accuracy for a regression
        double rmse = double.Parse(ibw[10], CultureInfo.InvariantCulture);
        // x2 is about 5 ± 1 in this file: a fit that learned the level predicts within a few units, far from the 5 of predicting 0.
        Assert.InRange(rmse, 0, 3);
        string[] trace = [.. o.Files["traces.csv"].Split('\n').Where(l => l.StartsWith("net,ibw,", StringComparison.Ordinal))];
        Assert.True(double.Parse(Fields(trace[^1])[7], CultureInfo.InvariantCulture) < double.Parse(Fields(trace[0])[7], CultureInfo.InvariantCulture));
        Assert.StartsWith("\"not run", nuts[2], StringComparison.Ordinal);
        Assert.Contains("test RMSE", o.Files["report.html"], StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_data_sets_and_methods_are_named_with_a_suggestion()
    {
        var ex = Assert.Throws<InvalidParameterException>(() => PosteriorsExperiment.Plan(new PosteriorsSettings { Datasets = "breast_cancr" }));
        Assert.Contains("did you mean 'breast_cancer'", ex.Message, StringComparison.Ordinal);
        ex = Assert.Throws<InvalidParameterException>(() => PosteriorsExperiment.Plan(new PosteriorsSettings { Methods = "ibw,advi" }));
        Assert.Contains("unknown method 'advi'", ex.Message, StringComparison.Ordinal);
    }
}
