using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Runtime;

namespace Wasserflow.Sweeps;

/// <summary>
/// Submits a sweep's runs to the cluster (one grain per run), watches them to the end and restarts any whose silo went
/// away: calls to a dead silo's grains fail (OrleansMessageRejectionException, SiloUnavailableException, timeouts) until
/// the cluster declares it dead; a run whose grain no longer answers is started again, and the grain resumes it from its
/// checkpoints on a live silo.
/// </summary>
public static class SweepRunner
{
    /// <summary>Runs every run of <paramref name="plan"/> to done or failed; logs one line per change; returns the final states by id.</summary>
    public static async Task<IReadOnlyDictionary<string, RunState>> Run(IGrainFactory grains, SweepPlan plan, Action<string> log, CancellationToken cancellation = default,
        TimeSpan? poll = null)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(log);
        Directory.CreateDirectory(plan.Output);
        WriteIndex(plan);
        TimeSpan interval = poll ?? TimeSpan.FromMilliseconds(500);
        var last = new Dictionary<string, RunState>();
        var pending = plan.Runs.ToDictionary(r => r.Id);
        var needsStart = new HashSet<string>(pending.Keys);
        while (pending.Count > 0)
        {
            cancellation.ThrowIfCancellationRequested();
            foreach (SweepRun run in pending.Values.ToList())
            {
                ISweepRunGrain grain = grains.GetGrain<ISweepRunGrain>(run.Id);
                RunState state;
                try
                {
                    state = needsStart.Contains(run.Id)
                        ? await grain.Start(new RunRequest(run.Args, run.Folder, plan.Output)).ConfigureAwait(false)
                        : await grain.Status().ConfigureAwait(false);
                }
                catch (Exception e) when (IsUnreachable(e))
                {
                    // Its silo is gone or going: ask again (a fresh activation elsewhere) once the cluster knows.
                    needsStart.Add(run.Id);
                    continue;
                }
                // A fresh activation that has not run it yet (its earlier silo died): start it there.
                if (state.Phase == "pending") needsStart.Add(run.Id);
                else needsStart.Remove(run.Id);
                if (!last.TryGetValue(run.Id, out RunState? before) || before != state) log(Describe(run, state, before));
                last[run.Id] = state;
                if (state.Finished) pending.Remove(run.Id);
            }
            if (pending.Count > 0) await Task.Delay(interval, cancellation).ConfigureAwait(false);
        }
        return last;
    }

    private static bool IsUnreachable(Exception e) =>
        e is OrleansMessageRejectionException or SiloUnavailableException or TimeoutException or OrleansException or System.Net.Sockets.SocketException
        || (e is AggregateException a && a.InnerExceptions.Any(IsUnreachable));

    private static string Describe(SweepRun run, RunState state, RunState? before) => state.Phase switch
    {
        "running" when state.Resumed => $"{run.Id}: resumed from its checkpoints on {state.Silo} (attempt {state.Attempt})",
        "queued" => $"{run.Id}: queued on {state.Silo}",
        "running" => $"{run.Id}: running on {state.Silo}{(state.Attempt > 1 ? $" (attempt {state.Attempt}, no checkpoint yet)" : "")}",
        "done" when state.Resumed => $"{run.Id}: done on {state.Silo}, resumed there from its checkpoints (attempt {state.Attempt})",
        "done" => $"{run.Id}: done{(before is null ? " (already finished)" : "")}",
        "failed" => $"{run.Id}: failed — {state.Message}",
        _ => $"{run.Id}: {state.Phase}{(state.Message is null ? "" : " — " + state.Message)}",
    };

    /// <summary>root/sweep.csv: every run's id, folder and options (the index `sweep status` and `sweep results` read).</summary>
    public static void WriteIndex(SweepPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var csv = new StringBuilder("id,folder,command,options\n");
        foreach (SweepRun r in plan.Runs)
            csv.Append(CultureInfo.InvariantCulture, $"{r.Id},{Reports.ModelSummary.Csv(Path.GetRelativePath(plan.Output, r.Folder))},{Reports.ModelSummary.Csv(string.Join(' ', plan.Command))},{Reports.ModelSummary.Csv(string.Join(' ', r.Options.Select(o => $"--{o.Key} {o.Value}")))}\n");
        string path = Path.Combine(plan.Output, "sweep.csv"), temporary = path + ".tmp";
        File.WriteAllText(temporary, csv.ToString());
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>One line per run: its id, state, where it runs or ran, its attempts and options, from the status files alone.</summary>
    public static IReadOnlyList<string> Status(SweepPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return [.. plan.Runs.Select(r =>
        {
            RunState? s = SweepStore.Read(plan.Output, r.Id);
            string phase = s?.Phase ?? (SweepStore.IsFinished(plan.Output, r.Id, r.Folder) ? "done" : "pending");
            if (phase == "running" && SweepStore.IsFinished(plan.Output, r.Id, r.Folder)) phase = "done";
            string where = s?.Silo is { } silo ? $" on {silo}" : "";
            string attempts = s is { Attempt: > 1 } ? $", {s.Attempt} attempts" : "";
            string message = phase == "failed" && s?.Message is { } m ? $" — {m}" : "";
            return $"{r.Id}  {phase}{(phase == "pending" ? "" : where)}{attempts}{message}  {string.Join(' ', r.Options.Select(o => $"--{o.Key} {o.Value}"))}";
        })];
    }

    /// <summary>
    /// Every finished run's summary in one table: the run's options, then the top-level numbers and strings of its
    /// result.json, or the rows of its results.csv (experiments), each row prefixed by the run's id and options.
    /// </summary>
    public static (string Csv, string Html) Results(SweepPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        string[] optionNames = [.. plan.Runs.SelectMany(r => r.Options.Select(o => o.Key)).Distinct()];
        var rows = new List<Dictionary<string, string>>();
        var columns = new List<string>();
        foreach (SweepRun r in plan.Runs)
        {
            if (!SweepStore.IsFinished(plan.Output, r.Id, r.Folder)) continue;
            var prefix = new Dictionary<string, string> { ["id"] = r.Id };
            foreach (var (k, v) in r.Options) prefix[k] = v;
            string json = Path.Combine(r.Folder, "result.json"), table = Path.Combine(r.Folder, "results.csv");
            if (File.Exists(json))
            {
                var row = new Dictionary<string, string>(prefix);
                using var doc = JsonDocument.Parse(File.ReadAllText(json));
                Flatten(doc.RootElement, "", row);
                rows.Add(row);
            }
            else if (File.Exists(table))
            {
                string[] lines = File.ReadAllLines(table);
                string[] header = lines[0].Split(',');
                foreach (string line in lines.Skip(1).Where(l => l.Length > 0))
                {
                    var row = new Dictionary<string, string>(prefix);
                    string[] fields = line.Split(',');
                    for (int i = 0; i < header.Length && i < fields.Length; i++) row[header[i]] = fields[i];
                    rows.Add(row);
                }
            }
        }
        foreach (var row in rows)
            foreach (string key in row.Keys)
                if (!columns.Contains(key)) columns.Add(key);
        var csv = new StringBuilder(string.Join(',', columns.Select(Reports.ModelSummary.Csv)) + "\n");
        foreach (var row in rows) csv.Append(string.Join(',', columns.Select(c => Reports.ModelSummary.Csv(row.GetValueOrDefault(c, "")))) + "\n");
        string html = Reports.Html.Page("Wasserflow: sweep results",
            $"<p>{rows.Count} rows from {plan.Runs.Count(r => SweepStore.IsFinished(plan.Output, r.Id, r.Folder))} finished of {plan.Runs.Count} runs of <code>wasserflow {System.Net.WebUtility.HtmlEncode(string.Join(' ', plan.Command))}</code>, crossed over {System.Net.WebUtility.HtmlEncode(string.Join(", ", optionNames))}.</p>\n"
            + Reports.Html.Table(columns, [.. rows.Select(row => columns.Select(c => row.GetValueOrDefault(c, "")).ToArray())]));
        return (csv.ToString(), html);
    }

    // Numbers, strings and booleans of the top level and of nested objects (as a.b), not arrays.
    private static void Flatten(JsonElement element, string prefix, Dictionary<string, string> row)
    {
        foreach (JsonProperty p in element.EnumerateObject())
        {
            string name = prefix + p.Name;
            switch (p.Value.ValueKind)
            {
                case JsonValueKind.Object when prefix.Length == 0:
                    Flatten(p.Value, name + ".", row);
                    break;
                case JsonValueKind.Number or JsonValueKind.String or JsonValueKind.True or JsonValueKind.False:
                    row[name] = p.Value.ToString();
                    break;
            }
        }
    }
}

/// <summary>Starting silos and clients: in process on localhost (the default), or against a Redis membership store.</summary>
public static class SweepHosting
{
    /// <summary>The cluster's service id (all Wasserflow sweeps).</summary>
    public const string ServiceId = "wasserflow";

    /// <summary>
    /// A silo host. With <paramref name="membership"/> null: localhost clustering on free ports (one machine). Otherwise
    /// a Redis connection string ("host:port"): membership in Redis under <paramref name="cluster"/>, endpoints on
    /// <paramref name="address"/> and the given ports (0: free ones).
    /// </summary>
    public static IHost Silo(int slots, string? cluster = null, string? membership = null, IPAddress? address = null, int siloPort = 0, int gatewayPort = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        return Host.CreateDefaultBuilder()
            .ConfigureLogging(l => l.ClearProviders())
            .UseOrleans(silo =>
            {
                ConfigureSilo(silo, slots);
                if (membership is null)
                {
                    silo.UseLocalhostClustering(FreePort(), FreePort(), serviceId: ServiceId, clusterId: cluster ?? "local-" + Environment.ProcessId);
                    return;
                }
                silo.Configure<ClusterOptions>(o => { o.ClusterId = cluster ?? "wasserflow"; o.ServiceId = ServiceId; });
                silo.UseRedisClustering(membership);
                silo.ConfigureEndpoints(address ?? IPAddress.Loopback, siloPort == 0 ? FreePort() : siloPort, gatewayPort == 0 ? FreePort() : gatewayPort, listenOnAnyHostAddress: address is null);
            })
            .Build();
    }

    /// <summary>The silo's services and limits shared by every way of hosting it (the test cluster too).</summary>
    public static void ConfigureSilo(ISiloBuilder silo, int slots)
    {
        ArgumentNullException.ThrowIfNull(silo);
        silo.ConfigureServices(services => services.AddSingleton(new RunSlots(slots)));
        // Start and Status answer at once (the work runs beside the grain): a call that takes seconds is a dead silo.
        silo.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(5));
        // Dead silos are declared within seconds (the default probes take about 10 s), so moved runs restart promptly.
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = TimeSpan.FromSeconds(2);
            o.NumMissedProbesLimit = 2;
            o.NumVotesForDeathDeclaration = 1;
        });
    }

    /// <summary>A client of the cluster <paramref name="cluster"/> whose membership is in Redis at <paramref name="membership"/>.</summary>
    public static IHost Client(string cluster, string membership) =>
        Host.CreateDefaultBuilder()
            .ConfigureLogging(l => l.ClearProviders())
            .UseOrleansClient(client =>
            {
                client.Configure<ClusterOptions>(o => { o.ClusterId = cluster; o.ServiceId = ServiceId; });
                client.UseRedisClustering(membership);
                client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(5));
            })
            .Build();

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
