using System.Globalization;
using Wasserflow.Experiments;
using Wasserflow.Parameters;
using Wasserflow.Tests.Data;

namespace Wasserflow.Tests.Experiments;

/// <summary>The mean-field mixture BNN experiment on a small synthetic IDX set: every method learns, the numbers do not depend on threads, bad settings are named.</summary>
public sealed class ImageBnnExperimentTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "wasserflow-bnn-" + Guid.NewGuid().ToString("N"));

    public ImageBnnExperimentTests() => DatasetsTests.WriteIdxSet(_folder, 400, 100, side: 6);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private ExperimentOutput Run(int threads) => ImageBnnExperiment.Run(new ImageBnnSettings
    {
        Dataset = "idx",
        Data = _folder,
        Epochs = 6,
        Hidden = 12,
        BatchSize = 32,
        Components = 3,
        LearningRate = 0.3,
        AdviEta = 0.05,
        TestDraws = 4,
        Threads = threads,
        Seed = 2,
    }, _ => { });

    [Fact]
    public void Every_method_learns_the_small_set_and_the_results_do_not_depend_on_threads()
    {
        ExperimentOutput one = Run(1);
        string[] rows = one.Files["results.csv"].Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("method,epoch,test_error,test_log_likelihood,objective_per_image", rows[0]);
        Assert.Equal(1 + 4 * 7, rows.Length);
        foreach (string method in ImageBnnExperiment.Methods)
        {
            var mine = rows.Skip(1).Select(r => r.Split(',')).Where(f => f[0] == method).ToList();
            Assert.Equal(["0", "1", "2", "3", "4", "5", "6"], mine.Select(f => f[1]));
            double start = double.Parse(mine[0][2], CultureInfo.InvariantCulture), end = double.Parse(mine[^1][2], CultureInfo.InvariantCulture);
            // The synthetic classes differ by one bright pixel out of 36: ten classes, so chance is 90% error.
            Assert.True(end < 0.3 && end < start, $"{method}: test error {start} → {end}");
            Assert.True(double.Parse(mine[^1][3], CultureInfo.InvariantCulture) > double.Parse(mine[0][3], CultureInfo.InvariantCulture), $"{method}: the log-likelihood did not improve");
        }
        ExperimentOutput two = Run(2);
        Assert.Equal(one.Files["results.csv"], two.Files["results.csv"]);
        Assert.Equal(one.Files["report.html"], two.Files["report.html"]);
    }

    [Fact]
    public void An_unknown_method_or_a_missing_idx_folder_is_named()
    {
        var method = Assert.Throws<InvalidParameterException>(() => ImageBnnExperiment.Run(new ImageBnnSettings { Methods = "ibw,mdd" }, _ => { }));
        Assert.Contains("unknown method 'mdd' (did you mean 'md'?)", method.Message, StringComparison.Ordinal);
        var folder = Assert.Throws<InvalidParameterException>(() => ImageBnnExperiment.Run(new ImageBnnSettings { Dataset = "idx" }, _ => { }));
        Assert.Contains("--data FOLDER", folder.Message, StringComparison.Ordinal);
    }
}
