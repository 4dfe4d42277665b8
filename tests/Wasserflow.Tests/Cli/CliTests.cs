using System.Globalization;
using System.Text.Json;
using Wasserflow.Cli;

namespace Wasserflow.Tests.Cli;

public sealed class CliTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "wasserflow-cli-" + Guid.NewGuid().ToString("N"));

    public CliTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = WasserflowCli.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private string Out(string name) => Path.Combine(_folder, name);

    [Fact]
    public void Bures_wasserstein_fit_writes_gaussian_results()
    {
        string output = Out("bw");
        var (code, stdout, err) = Run("fit", "--target", "logistic", "-a", "bw", "-n", "1", "--iterations", "100", "--init-spread", "0",
            "--init-variance", "1", "--kl-every", "50", "--output", output);
        Assert.True(code == 0, err);
        Assert.Contains("bw K=1 completed iterations 100", stdout);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "result.json")));
        JsonElement particle = json.RootElement.GetProperty("particles")[0];
        Assert.Equal(1.0, particle.GetProperty("weight").GetDouble());
        Assert.Equal(2, particle.GetProperty("choleskyFactor")[1].GetArrayLength());
        Assert.True(json.RootElement.GetProperty("cubatureKl").GetDouble() > 0);
        Assert.True(File.Exists(Path.Combine(output, "fit.svg")));
    }

    [Fact]
    public void Unknown_experiment_gives_exit_code_2_and_writes_nothing()
    {
        string output = Out("experiment");
        var (code, _, err) = Run("experiment", "banana", "--output", output);
        Assert.Equal(2, code);
        Assert.StartsWith("error: experiment: unknown name 'banana'", err);
        Assert.Contains("logistic-laplace", err);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void Bimodal_experiment_writes_its_report()
    {
        string output = Out("bimodal");
        var (code, stdout, err) = Run("experiment", "bimodal-particles", "--output", output);
        Assert.True(code == 0, err);
        Assert.Contains("20 particles: completed", stdout);
        foreach (string file in new[] { "report.html", "gaussian-fit.svg", "particles-final.svg", "particles-kl.svg" })
            Assert.True(File.Exists(Path.Combine(output, file)), file);
    }

    [Theory]
    [InlineData("unknown target 'banana'", "fit", "--target", "banana")]
    [InlineData("unknown algorithm 'sgd'", "fit", "--algorithm", "sgd")]
    [InlineData("--step-size: must be > 0", "fit", "--step-size", "0")]
    [InlineData("--step-size: must be > 0", "fit", "--step-size", "-0.5")]
    [InlineData("--components: must be between 1 and 100000", "fit", "--components", "0")]
    [InlineData("dimension mismatch", "fit", "--target", "sinh-arcsinh", "--dimension", "3")]
    [InlineData("--step-size", "fit", "--step-size", "abc")]
    [InlineData("nonsense", "fit", "--nonsense", "1")]
    [InlineData("bw-sgd needs the Hessian of log pi, and the funnel target", "fit", "--target", "funnel", "-a", "bw-sgd", "-n", "1")]
    [InlineData("bw-sgd fits one Gaussian", "fit", "--target", "bimodal", "-a", "bw-sgd", "-n", "3")]
    [InlineData("posterior is improper", "fit", "--target", "logistic", "-d", "10", "--points", "50", "--separation", "1.5", "-a", "bw", "-n", "1")]
    [InlineData("unknown expectation 'foo'", "fit", "-a", "bw", "--expectation", "foo")]
    [InlineData("dimension mismatch: the bimodal target is 2-D", "fit", "--target", "bimodal", "-d", "3", "-a", "bw")]
    public void Bad_arguments_give_exit_code_2_and_one_error_line(string expected, params string[] args)
    {
        string output = Out("never");
        var (code, _, err) = Run([.. args, "--output", output, "--iterations", "5"]);
        Assert.Equal(2, code);
        Assert.Contains(expected, err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.StartsWith("error: ", err);
        Assert.DoesNotContain("   at ", err); // no stack trace
        Assert.False(File.Exists(Path.Combine(output, "result.json")));
    }

    [Fact]
    public void Unknown_config_key_is_named_with_the_file()
    {
        string config = Out("run.json");
        File.WriteAllText(config, """{ "components": 3, "stepsize": 0.1 }""");
        var (code, _, err) = Run("fit", "--config", config, "--output", Out("o"));
        Assert.Equal(2, code);
        Assert.Contains("run.json", err);
        Assert.Contains("unknown config key 'stepsize'", err);
    }

    [Fact]
    public void Malformed_config_names_the_line()
    {
        string config = Out("bad.json");
        File.WriteAllText(config, "{\n  \"components\": 3,\n  \"iterations\": ,\n}");
        var (code, _, err) = Run("fit", "--config", config, "--output", Out("o"));
        Assert.Equal(2, code);
        Assert.Contains("malformed JSON at line 3", err);
    }

    [Fact]
    public void Config_value_of_the_wrong_type_is_reported()
    {
        string config = Out("type.json");
        File.WriteAllText(config, """{ "components": "five" }""");
        var (code, _, err) = Run("fit", "--config", config, "--output", Out("o"));
        Assert.Equal(2, code);
        Assert.Contains("'components'", err);
    }

    [Fact]
    public void Unwritable_output_is_reported_before_running()
    {
        string file = Out("a-file");
        File.WriteAllText(file, "x");
        var (code, _, err) = Run("fit", "--iterations", "5", "--output", Path.Combine(file, "sub"));
        Assert.Equal(2, code);
        Assert.Contains("not writable", err);
    }

    [Fact]
    public void Fit_writes_a_reproducible_result_and_a_report()
    {
        string[] args = ["fit", "--components", "3", "--iterations", "200", "--kl-every", "50", "--kl-samples", "200", "--seed", "7"];
        var (code, stdout, err) = Run([.. args, "--output", Out("a")]);
        Assert.True(code == 0, err);
        Assert.Contains("report:", stdout);
        foreach (string f in new[] { "result.json", "trace.csv", "kl.svg", "density.svg", "report.html", "timings.json" })
            Assert.True(File.Exists(Path.Combine(Out("a"), f)), f);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Out("a"), "result.json")));
        Assert.Equal("completed", doc.RootElement.GetProperty("status").GetString());
        Assert.Equal(7UL, doc.RootElement.GetProperty("config").GetProperty("seed").GetUInt64());
        Assert.Equal(3, doc.RootElement.GetProperty("mixture").GetProperty("variances").GetArrayLength());
        Assert.Empty(Directory.GetDirectories(Out("a"))); // no staging folder left behind

        Assert.Equal(0, Run([.. args, "--output", Out("b")]).Code);
        foreach (string f in new[] { "result.json", "trace.csv", "kl.svg", "density.svg", "report.html" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(Out("a"), f)), File.ReadAllBytes(Path.Combine(Out("b"), f)));
    }

    [Fact]
    public void Config_file_and_flags_combine_with_flags_winning()
    {
        string config = Out("run.json");
        File.WriteAllText(config, """{ "components": 4, "algorithm": "md", "iterations": 20, "klEvery": 10, "target": "funnel", "stepSize": 0.01, "initSpread": 5, "initVariance": 0.5 }""");
        var (code, _, err) = Run("fit", "--config", config, "--components", "2", "--output", Out("c"));
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Out("c"), "result.json")));
        var c = doc.RootElement.GetProperty("config");
        Assert.Equal(2, c.GetProperty("components").GetInt32());
        Assert.Equal("md", c.GetProperty("algorithm").GetString());
        Assert.Equal("funnel", c.GetProperty("target").GetString());
    }

    [Fact]
    public void NGD_divergence_exits_1_and_still_writes_the_failed_result()
    {
        var (code, _, err) = Run("fit", "--algorithm", "ngd", "--step-size", "3", "--components", "10", "--iterations", "100",
            "--kl-samples", "50", "--no-step-control", "--output", Out("ngd"));
        Assert.Equal(1, code);
        Assert.Matches(@"NGD produced variance .* for component \d+ at iteration \d+", err);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Out("ngd"), "result.json")));
        Assert.Equal("failed", doc.RootElement.GetProperty("status").GetString());
        Assert.All(doc.RootElement.GetProperty("mixture").GetProperty("variances").EnumerateArray(), v => Assert.True(v.GetDouble() > 0));
    }

    [Fact]
    public void Demo_with_few_iterations_writes_the_combined_report()
    {
        var (code, stdout, err) = Run("demo", "--iterations", "30", "--target-seeds", "2", "--output", Out("demo"));
        Assert.True(code == 0, err);
        Assert.Equal(16, stdout.Split('\n').Count(l => l.Contains("completed", StringComparison.Ordinal)));
        Assert.Equal(8, stdout.Split('\n').Count(l => l.StartsWith("target seed 2 ", StringComparison.Ordinal)));
        string html = File.ReadAllText(Path.Combine(Out("demo"), "report.html"));
        Assert.Contains("paper's code", html);
        Assert.Contains("Median final KL over the target seeds", html);
        Assert.True(File.Exists(Path.Combine(Out("demo"), "seed-2", "ibw-N20", "density.svg")));
        Assert.True(File.Exists(Path.Combine(Out("demo"), "seed-1", "ibw-N20", "target.svg")));
        string[] csv = File.ReadAllLines(Path.Combine(Out("demo"), "summary.csv"));
        Assert.Equal(1 + 16, csv.Length);
        // The median row of IBW, N = 5 is the median of the two seeds' final KLs as summary.csv has them.
        var ibw5 = csv.Skip(1).Select(l => l.Split(',')).Where(f => f[1] == "ibw" && f[2] == "5").Select(f => double.Parse(f[4], CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(2, ibw5.Count);
        Assert.Contains($"<td>{Wasserflow.Reports.ResultFiles.G(0.5 * (ibw5[0] + ibw5[1]))}</td>", html, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--dimension: must be between 1 and 100000", "fit", "--target", "gmm", "--dimension", "1000000", "-n", "20")]
    [InlineData("--dimension: the run would need about ", "fit", "--target", "gmm", "--dimension", "100000", "-n", "20", "--iterations", "1")]
    [InlineData("--batch: must be between 2 and 10000000", "rovi", "--batch", "2000000000")]
    [InlineData("--batch: the run would need about ", "rovi", "--target", "funnel", "-d", "400", "--batch", "9000000")]
    [InlineData("--kl-samples: must be between 1 and 10000000", "fit", "--kl-samples", "2000000000")]
    public void Sizes_beyond_the_machine_are_refused_before_anything_is_allocated(string expected, params string[] args)
    {
        string output = Out("huge");
        var (code, _, err) = Run([.. args, "-o", output]);
        Assert.Equal(2, code);
        Assert.StartsWith("error: " + expected, err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void An_existing_output_folder_is_refused_unless_overwrite_or_resume_and_three_runs_in_one_process_agree()
    {
        string output = Out("again");
        string[] fit = ["fit", "--target", "funnel", "-d", "3", "-n", "3", "--iterations", "300", "-o", output];
        var (code, _, err) = Run(fit);
        Assert.True(code == 0, err);
        string first = File.ReadAllText(Path.Combine(output, "result.json"));
        (code, _, err) = Run(fit);
        Assert.Equal(2, code);
        Assert.Equal($"error: --output: '{output}' already exists; pass --overwrite to replace it\n", err.ReplaceLineEndings("\n"));
        Assert.Equal(first, File.ReadAllText(Path.Combine(output, "result.json")));
        for (int run = 0; run < 2; run++)
        {
            (code, _, err) = Run([.. fit, "--overwrite"]);
            Assert.True(code == 0, err);
            Assert.Equal(first, File.ReadAllText(Path.Combine(output, "result.json"))); // the same bits every time in one process
        }
        (code, _, err) = Run([.. fit, "--resume"]);
        Assert.Equal(0, code);
        Assert.Contains("already holds the finished run", err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Out(".again.partial")));
    }

    [Fact]
    public void A_cancelled_fit_keeps_its_result_and_checkpoint_and_resumes_to_the_uninterrupted_numbers()
    {
        string whole = Out("whole"), part = Out("part");
        string[] fit = ["fit", "--target", "gmm", "-d", "3", "-n", "4", "--iterations", "2000", "--checkpoint-every", "100"];
        Assert.Equal(0, Run([.. fit, "-o", whole]).Code);
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(WasserflowCli.Cancelled, WasserflowCli.Run([.. fit, "-o", part], output, error, cancellation: cancel.Token));
        Assert.Contains("\"status\": \"cancelled\"", File.ReadAllText(Path.Combine(part, "result.json")), StringComparison.Ordinal);
        Assert.Contains("run the same command with --resume to continue", error.ToString(), StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(Out(".part.partial"), "checkpoints", "run.ckpt")));
        // Other settings cannot resume these checkpoints.
        var (code, _, err) = Run([.. fit, "--seed", "5", "-o", part, "--resume"]);
        Assert.Equal(2, code);
        Assert.Contains("were made with other settings (checkpoint: \"seed\": 0, now: \"seed\": 5)", err, StringComparison.Ordinal);
        (code, _, err) = Run([.. fit, "-o", part, "--resume"]);
        Assert.True(code == 0, err);
        foreach (string file in new[] { "result.json", "trace.csv", "report.html" })
            Assert.Equal(File.ReadAllText(Path.Combine(whole, file)), File.ReadAllText(Path.Combine(part, file)));
        Assert.False(Directory.Exists(Out(".part.partial")));
    }

    [Fact]
    public void A_gm_experiment_on_an_idx_folder_writes_its_report_and_resumes_from_checkpoints()
    {
        string data = Out("idx");
        Wasserflow.Tests.Data.DatasetsTests.WriteIdxSet(data, 120, 40);
        string output = Out("gm");
        var (code, stdout, err) = Run("experiment", "gm-fixed-beta", "--dataset", "idx", "--data", data, "--epochs", "2", "-o", output);
        Assert.True(code == 0, err);
        Assert.Contains("GM K=10, fixed β: test error after epoch 2", stdout);
        foreach (string file in new[] { "report.html", "test-error.svg", "results.csv", "timings.csv" })
            Assert.True(File.Exists(Path.Combine(output, file)), file);
        // The per-epoch checkpoints stay beside the published folder so that the run can be extended.
        Assert.True(File.Exists(Path.Combine(Out(".gm.partial"), "checkpoints", "gm-k-10-seed0.ckpt")));
        string first = File.ReadAllText(Path.Combine(output, "results.csv"));
        // Asking for more epochs with --resume continues from epoch 2 and reproduces the first two epochs' numbers.
        (code, _, err) = Run("experiment", "gm-fixed-beta", "--dataset", "idx", "--data", data, "--epochs", "3", "--resume", "-o", output);
        Assert.True(code == 0, err);
        Assert.Contains("resumed after epoch 2", err);
        string[] again = File.ReadAllLines(Path.Combine(output, "results.csv"));
        foreach (string line in first.Split('\n', StringSplitOptions.RemoveEmptyEntries)) Assert.Contains(line, again);
        Assert.Contains(again, l => l.StartsWith("GM K=10,0,3,", StringComparison.Ordinal));
        Assert.Contains(again, l => l.StartsWith("\"GM K=10, fixed β\",0,3,", StringComparison.Ordinal)); // a name with a comma is quoted
    }

    [Fact]
    public void Gm_components_runs_only_the_K_asked_for()
    {
        string data = Out("idx4");
        Wasserflow.Tests.Data.DatasetsTests.WriteIdxSet(data, 60, 20, seed: 7);
        string output = Out("ks");
        var (code, stdout, err) = Run("experiment", "gm-components", "--dataset", "idx", "--data", data, "--epochs", "1", "--components", "3, 2", "-o", output);
        Assert.True(code == 0, err);
        string[] arms = [.. File.ReadAllLines(Path.Combine(output, "results.csv")).Skip(1).Select(l => l.Split(',')[0]).Distinct()];
        Assert.Equal(["GM K=3", "GM K=2"], arms);
        Assert.Contains("GM K=2: test error after epoch 1", stdout);
        Assert.True(File.Exists(Path.Combine(Out(".ks.partial"), "checkpoints", "gm-k-3-seed0.ckpt")));
    }

    [Fact]
    public void Concurrent_gm_runs_give_the_numbers_of_sequential_runs()
    {
        string data = Out("idx2");
        Wasserflow.Tests.Data.DatasetsTests.WriteIdxSet(data, 80, 20, seed: 5);
        var (code, _, err) = Run("experiment", "gm-stacked", "--dataset", "idx", "--data", data, "--epochs", "2", "--seeds", "2", "-o", Out("one"));
        Assert.True(code == 0, err);
        (code, _, err) = Run("experiment", "gm-stacked", "--dataset", "idx", "--data", data, "--epochs", "2", "--seeds", "2", "--threads", "2", "-o", Out("two"));
        Assert.True(code == 0, err);
        Assert.Equal(File.ReadAllText(Path.Combine(Out("one"), "results.csv")), File.ReadAllText(Path.Combine(Out("two"), "results.csv")));
    }

    [Fact]
    public void Split_gm_layers_train_and_land_close_to_the_unsplit_run()
    {
        string data = Out("idx3");
        Wasserflow.Tests.Data.DatasetsTests.WriteIdxSet(data, 80, 20, seed: 6);
        var (code, _, err) = Run("experiment", "gm-fixed-beta", "--dataset", "idx", "--data", data, "--epochs", "1", "-o", Out("whole"));
        Assert.True(code == 0, err);
        (code, _, err) = Run("experiment", "gm-fixed-beta", "--dataset", "idx", "--data", data, "--epochs", "1", "--parts", "2", "-o", Out("split"));
        Assert.True(code == 0, err);
        // Same function, sums associated by part: the losses agree to round-off, not bit for bit.
        static double[] Losses(string folder) => [.. File.ReadAllLines(Path.Combine(folder, "results.csv")).Skip(1).Select(l => double.Parse(l.Split(',')[^3], System.Globalization.CultureInfo.InvariantCulture))];
        double[] whole = Losses(Out("whole")), split = Losses(Out("split"));
        Assert.Equal(whole.Length, split.Length);
        for (int i = 0; i < whole.Length; i++) Assert.True(Math.Abs(whole[i] - split[i]) <= 1e-9 * (1 + Math.Abs(whole[i])), $"row {i}: {whole[i]} vs {split[i]}");
    }

    [Theory]
    [InlineData("gm-components --epochs 0", "epochs")]
    [InlineData("gm-components --dataset cifar", "dataset")]
    [InlineData("gm-components --dataset idx", "--data")]
    [InlineData("logistic-laplace --epochs 3", "--epochs")]
    [InlineData("gm-components --dataset idx --data /nonexistent-wasserflow", "does not exist")]
    [InlineData("gm-components --threads 0", "threads")]
    [InlineData("gm-components --parts 0", "parts")]
    [InlineData("gm-components --components 5,x", "'x' is not a whole number")]
    [InlineData("gm-components --components 0", "K must be ≥ 1")]
    [InlineData("gm-components --components 5,5", "appears twice")]
    [InlineData("gm-stacked --components 5", "gm-components, not to 'gm-stacked'")]
    [InlineData("logistic-laplace --components 5", "--components")]
    [InlineData("mode-collapse --threads 0", "threads: must be ≥ 1")]
    [InlineData("mode-collapse --epochs 3", "applies only to the gm-* experiments and bnn-images, not to 'mode-collapse'")]
    [InlineData("logistic-laplace --threads 2", "applies only to the gm-* experiments, mode-collapse and bnn-images")]
    public void Bad_gm_experiment_inputs_exit_2_with_one_line(string args, string expected)
    {
        string output = Out("bad");
        var (code, _, err) = Run([.. ("experiment " + args + " -o " + output).Split(' ')]);
        Assert.Equal(2, code);
        Assert.Contains(expected, err);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.False(File.Exists(Path.Combine(output, "report.html")));
    }

    [Fact]
    public void Rovi_writes_its_report_and_repeats_itself_bit_for_bit()
    {
        string[] common = ["rovi", "--target", "bimodal", "--restarts", "2", "--iterations", "120", "--batch", "200", "--seed", "3"];
        var (code, output, err) = Run([.. common, "-o", Out("a")]);
        Assert.True(code == 0, err);
        Assert.Contains("RoVI best of 2 restarts", output);
        foreach (string file in new[] { "result.json", "restarts.csv", "trace.csv", "trace.svg", "maps.svg", "marginals.svg", "samples.svg", "report.html" })
            Assert.True(File.Exists(Path.Combine(Out("a"), file)), file);
        Assert.Equal(0, Run([.. common, "--threads", "2", "-o", Out("b")]).Code);
        Assert.Equal(File.ReadAllText(Path.Combine(Out("a"), "result.json")), File.ReadAllText(Path.Combine(Out("b"), "result.json")));
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(Out("a"), "result.json")));
        Assert.Equal(2, json.RootElement.GetProperty("restarts").GetArrayLength());
        Assert.Equal("RoVI", json.RootElement.GetProperty("method").GetString());
        var (mfCode, mfOutput, _) = Run([.. common, "--mean-field", "-o", Out("c")]);
        Assert.Equal(0, mfCode);
        Assert.Contains("MFVI", mfOutput);
    }

    [Theory]
    [InlineData("--dictionary foo", "dictionary: unknown dictionary 'foo'")]
    [InlineData("--restarts 0", "--restarts: must be between 1 and 10000")]
    [InlineData("--batch 1", "--batch: must be between 2 and 10000000")]
    [InlineData("--step-size -1", "--step-size: must be > 0 and finite")]
    [InlineData("--target nowhere", "target: unknown target 'nowhere'")]
    [InlineData("--target bimodal -d 3", "dimension mismatch")]
    [InlineData("--init-center 1 2 3", "--init-center: needs 2 finite numbers")]
    [InlineData("--langevin-start --init-center 1 2", "--langevin-start: sets the centre itself")]
    public void Bad_rovi_inputs_exit_2_with_one_line_and_write_nothing(string args, string expected)
    {
        string output = Out("bad-rovi");
        var (code, _, err) = Run([.. ("rovi " + args + " -o " + output).Split(' ')]);
        Assert.Equal(2, code);
        Assert.Contains(expected, err);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.False(Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any());
    }

    [Fact]
    public void Sinh_arcsinh_target_works_with_its_default_skews()
    {
        // --skew not given must mean the documented default (−0.2, −0.2), not an empty list.
        var (code, _, err) = Run("fit", "--target", "sinh-arcsinh", "--iterations", "20", "-o", Out("sa"));
        Assert.True(code == 0, err);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(Out("sa"), "result.json")));
        Assert.Equal([-0.2, -0.2], json.RootElement.GetProperty("config").GetProperty("skew").EnumerateArray().Select(e => e.GetDouble()).ToArray());
        var (roviCode, _, roviErr) = Run("rovi", "--target", "sinh-arcsinh", "--restarts", "1", "--iterations", "60", "--batch", "100", "-o", Out("sa-rovi"));
        Assert.True(roviCode == 0, roviErr);
    }
}
