using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Wasserflow.Cli.Options;

namespace Wasserflow.Sweeps;

/// <summary>`wasserflow sweep run|status|results FILE` and `wasserflow silo`.</summary>
public static class SweepCommands
{
    private static readonly Option<string?> Cluster = new("--cluster") { Description = "cluster id: run on the silos started with `wasserflow silo --cluster ID` (default none: one silo in this process)" };
    private static readonly Option<string?> Membership = new("--membership") { Description = "the cluster's membership store, a Redis connection string host:port; required with --cluster (default none)" };

    /// <summary>The `sweep` command with its three subcommands.</summary>
    public static Command Sweep(TextWriter output, TextWriter error, CancellationToken cancellation)
    {
        var sweep = new Command("sweep", "Run a grid of independent runs (seeds, settings) from a sweep file, on this machine or an Orleans cluster; list their status; gather their results.\n\nExamples:\n"
            + "  wasserflow sweep run seeds.yaml\n  wasserflow sweep run seeds.yaml --cluster lab --membership redis-host:6379\n  wasserflow sweep status seeds.yaml\n  wasserflow sweep results seeds.yaml");
        var file = new Argument<string>("file") { Description = "the sweep file (YAML or JSON): command, output, options, cross" };
        var parallel = new Option<int?>("--parallel") { Description = "runs at the same time on this machine's silo; ignored with --cluster, where each silo has its own (default its cores)" };

        var run = new Command("run", "Run every run of the sweep that has not finished (each writes output/<id> exactly as the command alone would; interrupted runs resume from their checkpoints).")
        {
            file, parallel, Cluster, Membership,
        };
        run.SetAction(parse =>
        {
            SweepPlan plan = SweepPlan.Load(parse.GetValue(file)!);
            string? cluster = parse.GetValue(Cluster), membership = parse.GetValue(Membership);
            if ((cluster is null) != (membership is null)) throw new ConfigException("--cluster and --membership go together (the cluster's id and its Redis store)");
            int slots = parse.GetValue(parallel) ?? Environment.ProcessorCount;
            if (slots < 1) throw new ConfigException($"--parallel: must be ≥ 1 (got {slots})");
            error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sweep: {plan.Runs.Count} runs of `wasserflow {string.Join(' ', plan.Command)}` into {plan.Output}{(cluster is null ? $", {slots} at a time in this process" : $", on cluster '{cluster}'")}"));
            var clock = Stopwatch.StartNew();
            using IHost host = cluster is null ? SweepHosting.Silo(slots) : SweepHosting.Client(cluster, membership!);
            host.StartAsync(cancellation).GetAwaiter().GetResult();
            try
            {
                var grains = host.Services.GetRequiredService<IGrainFactory>();
                var states = SweepRunner.Run(grains, plan, error.WriteLine, cancellation).GetAwaiter().GetResult();
                int failed = states.Values.Count(s => s.Phase == "failed");
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sweep: {states.Count - failed} done, {failed} failed in {clock.Elapsed.TotalSeconds:F1} s; `wasserflow sweep results {parse.GetValue(file)}` gathers them"));
                return failed == 0 ? 0 : Cli.WasserflowCli.RunFailed;
            }
            finally
            {
                host.StopAsync(CancellationToken.None).GetAwaiter().GetResult();
            }
        });

        var status = new Command("status", "List the sweep's runs: pending, running where, done, failed with its message (from the status files under the output root).") { file };
        status.SetAction(parse =>
        {
            SweepPlan plan = SweepPlan.Load(parse.GetValue(file)!);
            foreach (string line in SweepRunner.Status(plan)) output.WriteLine(line);
            return 0;
        });

        var results = new Command("results", "Gather every finished run's summary (result.json's numbers, or the rows of results.csv) into output/results.csv and output/report.html.") { file };
        results.SetAction(parse =>
        {
            SweepPlan plan = SweepPlan.Load(parse.GetValue(file)!);
            var (csv, html) = SweepRunner.Results(plan);
            Directory.CreateDirectory(plan.Output);
            foreach (var (name, text) in new[] { ("results.csv", csv), ("report.html", html) })
            {
                string path = Path.Combine(plan.Output, name), temporary = path + ".tmp";
                File.WriteAllText(temporary, text);
                File.Move(temporary, path, overwrite: true);
            }
            output.WriteLine($"results: {Path.Combine(plan.Output, "results.csv")}, {Path.Combine(plan.Output, "report.html")}");
            return 0;
        });
        sweep.Subcommands.Add(run);
        sweep.Subcommands.Add(status);
        sweep.Subcommands.Add(results);
        return sweep;
    }

    /// <summary>`wasserflow silo`: a worker of a sweep cluster, until Ctrl-C or SIGTERM.</summary>
    public static Command Silo(TextWriter output, CancellationToken cancellation)
    {
        var parallel = new Option<int?>("--parallel") { Description = "runs at the same time on this silo (default its cores)" };
        var address = new Option<string?>("--address") { Description = "the address other nodes reach this silo at (default loopback: one machine)" };
        var port = new Option<int>("--port") { Description = "silo-to-silo port (default a free one)" };
        var gateway = new Option<int>("--gateway-port") { Description = "port clients submit sweeps to (default a free one)" };
        var silo = new Command("silo", "Start a worker of a sweep cluster: membership in Redis under the cluster id; runs sweeps submitted with `wasserflow sweep run --cluster`.\n\nExample:\n"
            + "  wasserflow silo --cluster lab --membership redis-host:6379 --address 10.0.0.5")
        {
            Cluster, Membership, parallel, address, port, gateway,
        };
        silo.SetAction(parse =>
        {
            string cluster = parse.GetValue(Cluster) ?? throw new ConfigException("--cluster: give the cluster's id");
            string membership = parse.GetValue(Membership) ?? throw new ConfigException("--membership: give the Redis store, host:port");
            int slots = parse.GetValue(parallel) ?? Environment.ProcessorCount;
            if (slots < 1) throw new ConfigException($"--parallel: must be ≥ 1 (got {slots})");
            IPAddress? ip = null;
            if (parse.GetValue(address) is { } text && !IPAddress.TryParse(text, out ip)) throw new ConfigException($"--address: '{text}' is not an IP address");
            using IHost host = SweepHosting.Silo(slots, cluster, membership, ip, parse.GetValue(port), parse.GetValue(gateway));
            host.StartAsync(cancellation).GetAwaiter().GetResult();
            string me = host.Services.GetRequiredService<Orleans.Runtime.ILocalSiloDetails>().SiloAddress.ToParsableString();
            output.WriteLine($"silo {me}: cluster '{cluster}', membership {membership}, {slots} runs at a time; Ctrl-C stops it");
            output.Flush();
            try
            {
                Task.Delay(Timeout.Infinite, cancellation).GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
            }
            host.StopAsync(CancellationToken.None).GetAwaiter().GetResult();
            return 0;
        });
        return silo;
    }
}
