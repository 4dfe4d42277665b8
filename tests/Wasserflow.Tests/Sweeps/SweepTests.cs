using Orleans.TestingHost;
using Wasserflow.Cli.Options;
using Wasserflow.Sweeps;
using YamlDotNet.RepresentationModel;

namespace Wasserflow.Tests.Sweeps;

/// <summary>Sweep files and sweeps on a three-silo test cluster: every run once, byte-identical to the command alone, runs moved off a stopped silo resume from their checkpoints.</summary>
public sealed class SweepTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "wasserflow-sweep-" + Guid.NewGuid().ToString("N"));

    public SweepTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private sealed class OneSlot : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder) => SweepHosting.ConfigureSilo(siloBuilder, 1);
    }

    private string Write(string name, string yaml)
    {
        string path = Path.Combine(_folder, name);
        File.WriteAllText(path, yaml);
        return path;
    }

    private static async Task<TestCluster> Cluster()
    {
        var builder = new TestClusterBuilder(3);
        builder.AddSiloBuilderConfigurator<OneSlot>();
        TestCluster cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    // Every file of the run's folder but timings.json equals the same command run alone.
    private void AssertSameAsAlone(SweepRun run)
    {
        string alone = Path.Combine(_folder, "alone-" + run.Id);
        string[] args = [.. run.Args[..^1], alone];
        var (code, _, err) = TestSupport.RunCli(args);
        Assert.True(code == 0, err);
        foreach (string file in Directory.GetFiles(alone).Where(f => Path.GetFileName(f) != "timings.json"))
            Assert.True(File.ReadAllBytes(file).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(run.Folder, Path.GetFileName(file)))), $"{run.Id}: {Path.GetFileName(file)} differs from the command run alone");
    }

    [Fact]
    public void A_sweep_file_expands_into_runs_with_stable_ids_and_bad_files_are_named()
    {
        string path = Write("s.yaml", "command: fit\noutput: out\noptions: { target: gmm, iterations: 10 }\ncross: { seed: [0, 1, 2], components: [5, 10] }\n");
        SweepPlan plan = SweepPlan.Load(path);
        Assert.Equal(6, plan.Runs.Count);
        Assert.Equal(6, plan.Runs.Select(r => r.Id).Distinct().Count());
        // The last list varies fastest; options are sorted by name; the id depends on the options only.
        Assert.Equal(["--components", "5", "--iterations", "10", "--seed", "0", "--target", "gmm"], plan.Runs[0].Args[1..^2]);
        Assert.Equal("10", plan.Runs[1].Options.First(o => o.Key == "components").Value);
        string reordered = Write("t.yaml", "output: elsewhere\ncross: { components: [5, 10], seed: [2, 1, 0] }\ncommand: fit\noptions: { iterations: 10, target: gmm }\n");
        Assert.Equal(plan.Runs.Select(r => r.Id).Order(), SweepPlan.Load(reordered).Runs.Select(r => r.Id).Order());
        Assert.Equal(Path.Combine(_folder, "out", plan.Runs[0].Id), plan.Runs[0].Folder);

        foreach (var (yaml, message) in new[]
        {
            ("output: o\noptions: { seed: 1 }\n", "'command' is missing"),
            ("command: fit\noutput: o\ncross: { seed: 3 }\n", "cross.seed must be a non-empty list"),
            ("command: fit\noutput: o\noptions: { seed: 1 }\ncross: { seed: [1, 2] }\n", "option 'seed' is given twice"),
            ("command: fit\noutput: o\noptions: { overwrite: true }\n", "option 'overwrite' is the sweep's own"),
            ("command: fit\noutput: o\nseeds: [1]\n", "unknown key 'seeds'"),
            ("command: [fit]\noutput: o\n", "command must be a single value"),
            ("command: fit\n  output: o\n: :\n", "not a YAML or JSON sweep file"),
        })
        {
            var e = Assert.Throws<ConfigException>(() => SweepPlan.Load(Write("bad.yaml", yaml)));
            Assert.Contains(message, e.Message, StringComparison.Ordinal);
            Assert.Contains("bad.yaml", e.Message, StringComparison.Ordinal);
        }
        Assert.Contains("does not exist", Assert.Throws<ConfigException>(() => SweepPlan.Load(Path.Combine(_folder, "none.yaml"))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Twelve_runs_on_three_silos_complete_once_each_and_match_the_command_alone()
    {
        SweepPlan plan = SweepPlan.Load(Write("twelve.yaml",
            "command: fit\noutput: twelve\noptions: { target: gmm, dimension: 2, components: 3, iterations: 150, kl-samples: 300 }\ncross: { seed: [0, 1, 2, 3, 4, 5], algorithm: [ibw, md] }\n"));
        Assert.Equal(12, plan.Runs.Count);
        TestCluster cluster = await Cluster();
        try
        {
            var log = new List<string>();
            var states = await SweepRunner.Run(cluster.Client, plan, l => { lock (log) log.Add(l); }, poll: TimeSpan.FromMilliseconds(100));
            Assert.All(states.Values, s => Assert.Equal("done", s.Phase));
            Assert.True(states.Values.Select(s => s.Silo).Distinct().Count() >= 2, "the runs should spread over the silos");
            foreach (SweepRun run in plan.Runs)
            {
                Assert.Equal(1, SweepStore.Read(plan.Output, run.Id)!.Attempt);
                Assert.Single(File.ReadAllLines(Path.Combine(plan.Output, "logs", run.Id + ".log")), l => l.StartsWith("--- attempt", StringComparison.Ordinal));
            }
            foreach (SweepRun run in plan.Runs.Take(3)) AssertSameAsAlone(run);

            // Running the sweep again runs nothing: every run reports done without a new attempt.
            var again = await SweepRunner.Run(cluster.Client, plan, _ => { }, poll: TimeSpan.FromMilliseconds(100));
            Assert.All(again.Values, s => Assert.Equal("done", s.Phase));
            Assert.All(plan.Runs, r => Assert.Single(File.ReadAllLines(Path.Combine(plan.Output, "logs", r.Id + ".log")), l => l.StartsWith("--- attempt", StringComparison.Ordinal)));
            var (csv, _) = SweepRunner.Results(plan);
            Assert.Equal(13, csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        }
        finally
        {
            await cluster.StopAllSilosAsync();
            await cluster.DisposeAsync();
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Runs_on_a_stopped_or_killed_silo_finish_once_with_the_same_results(bool kill)
    {
        SweepPlan plan = SweepPlan.Load(Write("long.yaml",
            "command: fit\noutput: long\noptions: { target: gmm, dimension: 2, components: 20, iterations: 150000, kl-samples: 300, checkpoint-every: 1000 }\ncross: { seed: [0, 1, 2] }\n"));
        // Long enough (≈ 5 s per run on a fast core) that the stopped silo's run cannot finish while the silo stops
        // (≈ 1–2 s): with 60,000 iterations (2.2 s on a Zen 5) it sometimes did, and then nothing was left to resume.
        TestCluster cluster = await Cluster();
        try
        {
            var log = new List<string>();
            Task<IReadOnlyDictionary<string, RunState>> sweep = SweepRunner.Run(cluster.Client, plan, l => { lock (log) log.Add(l); }, poll: TimeSpan.FromMilliseconds(100));
            // Wait until a run on a non-primary silo has written a checkpoint, then stop that silo.
            SiloHandle? victim = null;
            for (int i = 0; i < 600 && victim is null; i++)
            {
                await Task.Delay(100);
                foreach (SweepRun run in plan.Runs)
                {
                    RunState? s = SweepStore.Read(plan.Output, run.Id);
                    string checkpoints = Path.Combine(plan.Output, "." + run.Id + ".partial", "checkpoints");
                    if (s is { Phase: "running" } && Directory.Exists(checkpoints) && Directory.EnumerateFiles(checkpoints).Any()
                        && cluster.SecondarySilos.FirstOrDefault(h => h.SiloAddress.ToParsableString() == s.Silo) is { } handle)
                    {
                        victim = handle;
                        break;
                    }
                }
            }
            Assert.NotNull(victim);
            // A stopped silo deactivates its grains, which cancel their runs (checkpoints kept); a killed in-process
            // silo leaves its run's thread going, holding the run's lock until it finishes: either way no run
            // completes twice, and a stopped silo's run resumes elsewhere.
            if (kill) await cluster.KillSiloAsync(victim);
            else await cluster.StopSiloAsync(victim);
            var states = await sweep;
            Assert.All(states.Values, s => Assert.Equal("done", s.Phase));
            if (!kill) Assert.True(log.Any(l => l.Contains("resumed there from its checkpoints (attempt 2)", StringComparison.Ordinal)), string.Join("\n", log));
            foreach (SweepRun run in plan.Runs)
            {
                string[] attempts = [.. File.ReadAllLines(Path.Combine(plan.Output, "logs", run.Id + ".log")).Where(l => l.StartsWith("--- attempt", StringComparison.Ordinal))];
                Assert.InRange(attempts.Length, 1, 2);
                if (attempts.Length == 2) Assert.EndsWith("resuming from its checkpoints: wasserflow", attempts[1][..(attempts[1].IndexOf("wasserflow", StringComparison.Ordinal) + 10)], StringComparison.Ordinal);
                AssertSameAsAlone(run);
            }
        }
        finally
        {
            await cluster.StopAllSilosAsync();
            await cluster.DisposeAsync();
        }
    }
}

/// <summary>The sweep commands end to end in process: an embedded silo, status and results, bad input named with exit 2.</summary>
public sealed class SweepCommandTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "wasserflow-sweepcli-" + Guid.NewGuid().ToString("N"));

    public SweepCommandTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Sweep_run_status_and_results_on_one_machine()
    {
        string file = Path.Combine(_folder, "s.json");
        File.WriteAllText(file, """{ "command": "fit", "output": "out", "options": { "target": "gmm", "dimension": 2, "components": 2, "iterations": 50, "kl-samples": 200 }, "cross": { "seed": [0, 1, 2] } }""");
        var (code, output, error) = TestSupport.RunCli("sweep", "run", file, "--parallel", "2");
        Assert.True(code == 0, error);
        Assert.Contains("3 done, 0 failed", output, StringComparison.Ordinal);
        var (statusCode, status, _) = TestSupport.RunCli("sweep", "status", file);
        Assert.Equal(0, statusCode);
        Assert.Equal(3, status.Split('\n', StringSplitOptions.RemoveEmptyEntries).Count(l => l.Contains("  done on ", StringComparison.Ordinal)));
        Assert.Equal(0, TestSupport.RunCli("sweep", "results", file).Code);
        string[] rows = File.ReadAllLines(Path.Combine(_folder, "out", "results.csv"));
        Assert.Equal(4, rows.Length);
        Assert.StartsWith("id,", rows[0], StringComparison.Ordinal);
        Assert.Contains(",completed,", rows[1], StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_or_bad_sweep_file_and_a_lone_cluster_flag_exit_2_with_one_line()
    {
        var (code, _, error) = TestSupport.RunCli("sweep", "run", Path.Combine(_folder, "none.yaml"));
        Assert.Equal(2, code);
        Assert.Contains("does not exist", error, StringComparison.Ordinal);
        string file = Path.Combine(_folder, "s.yaml");
        File.WriteAllText(file, "command: fit\noutput: out\n");
        (code, _, error) = TestSupport.RunCli("sweep", "run", file, "--cluster", "lab");
        Assert.Equal(2, code);
        Assert.Contains("--cluster and --membership go together", error, StringComparison.Ordinal);
        (code, _, error) = TestSupport.RunCli("silo", "--cluster", "lab");
        Assert.Equal(2, code);
        Assert.Contains("--membership", error, StringComparison.Ordinal);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
