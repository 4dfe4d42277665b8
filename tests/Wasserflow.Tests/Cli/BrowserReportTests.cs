using System.Globalization;
using System.Text.Json;
using Microsoft.Playwright;
using Wasserflow.Cli;
using Wasserflow.Reports;

namespace Wasserflow.Tests.Cli;

/// <summary>Where a Chromium for the browser tests is: $WASSERFLOW_CHROMIUM, else the Debian and common install paths.</summary>
internal static class Chromium
{
    public static readonly string[] Candidates =
        [Environment.GetEnvironmentVariable("WASSERFLOW_CHROMIUM") ?? "", "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

    public static string? Path { get; } = Candidates.FirstOrDefault(p => p.Length > 0 && File.Exists(p));
}

/// <summary>A test that needs Chromium: skipped, with the install command, where none is installed (CI installs it).</summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when no Chromium is found.</summary>
    public BrowserFactAttribute()
    {
        if (Chromium.Path is null)
            Skip = $"no Chromium at {string.Join(", ", Chromium.Candidates.Where(c => c.Length > 0))}; install it with `sudo apt-get install chromium` (or set WASSERFLOW_CHROMIUM)";
    }
}

/// <summary>
/// The reports as a user sees them: the demo's, a fit's, a rovi run's, two experiments' and a model fit's report.html opened in headless
/// Chromium (Playwright driving Debian's chromium): every image loads with a non-zero size, the page logs no error, and
/// the numbers in its tables are the ones in the run's result files. A screenshot of each goes to
/// $WASSERFLOW_SCREENSHOTS when set (docs/screenshots holds the committed ones).
/// </summary>
public sealed class BrowserReportTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("wasserflow-browser-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [BrowserFact]
    public async Task Reports_load_every_image_log_no_error_and_show_the_result_files_numbers()
    {
        string Make(string name, params string[] args)
        {
            string output = Path.Combine(_root, name);
            var error = new StringWriter();
            int code = WasserflowCli.Run([.. args, "-o", output], TextWriter.Null, error);
            Assert.True(code == 0, $"{name}: exit {code}: {error}");
            return Path.Combine(output, "report.html");
        }
        var reports = new (string Name, string Report, Action<string[][][], string> Check)[]
        {
            ("demo", Make("demo", "demo", "--iterations", "300", "--target-seeds", "2"), CheckDemo),
            ("fit", Make("fit", "fit", "--iterations", "300", "-n", "5"), CheckFit),
            ("rovi", Make("rovi", "rovi", "--restarts", "2", "--iterations", "200"), CheckRovi),
            ("mixture-particles", Make("mixture-particles", "experiment", "mixture-particles"), CheckMixtureParticles),
            ("bimodal-particles", Make("bimodal-particles", "experiment", "bimodal-particles"), (tables, _) => Assert.NotEmpty(tables)),
            ("model", Make("model", "fit", "--target", "logistic-regression", "--data", Path.Combine(AppContext.BaseDirectory, "TestData", "logistic-small.csv"),
                "--test-fraction", "0.25", "-a", "bw", "-n", "1", "--iterations", "300"), CheckModel),
        };
        string? screenshots = Environment.GetEnvironmentVariable("WASSERFLOW_SCREENSHOTS");

        using IPlaywright playwright = await Playwright.CreateAsync();
        await using IBrowser browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium.Path, Headless = true, Args = ["--no-sandbox"] });
        foreach (var (name, report, check) in reports)
        {
            IPage page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1100, Height = 1400 } });
            var errors = new List<string>();
            page.Console += (_, m) => { if (m.Type == "error") errors.Add($"console: {m.Text}"); };
            page.PageError += (_, e) => errors.Add($"page error: {e}");
            page.RequestFailed += (_, r) => errors.Add($"failed to load {r.Url}: {r.Failure}");
            await page.GotoAsync(new Uri(report).AbsoluteUri, new() { WaitUntil = WaitUntilState.Load });

            string[][] images = await page.EvaluateAsync<string[][]>(
                "() => Array.from(document.images).map(i => [i.getAttribute('src'), String(i.complete), String(i.naturalWidth), String(i.naturalHeight)])");
            Assert.True(images.Length > 0, $"{name}: the report shows no image");
            foreach (string[] image in images)
                Assert.True(image[1] == "true" && int.Parse(image[2], CultureInfo.InvariantCulture) > 0 && int.Parse(image[3], CultureInfo.InvariantCulture) > 0,
                    $"{name}: image {image[0]} did not load (complete {image[1]}, {image[2]}×{image[3]})");
            Assert.True(errors.Count == 0, $"{name}: {string.Join("; ", errors)}");

            string[][][] tables = await page.EvaluateAsync<string[][][]>(
                "() => Array.from(document.querySelectorAll('table')).map(t => Array.from(t.rows).map(r => Array.from(r.cells).map(c => c.textContent)))");
            check(tables, Path.GetDirectoryName(report)!);

            if (screenshots is not null)
            {
                Directory.CreateDirectory(screenshots);
                await page.ScreenshotAsync(new() { Path = Path.Combine(screenshots, name + ".png") });
            }
            await page.CloseAsync();
        }
    }

    private static double FinalKl(string resultJson)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(resultJson));
        return doc.RootElement.GetProperty("finalKl").GetProperty("value").GetDouble();
    }

    // The cell shows the value as the report formats it (4 significant digits), followed by its standard error.
    private static void AssertShows(string cell, double value, string where) =>
        Assert.True(cell.StartsWith(ResultFiles.G(value), StringComparison.Ordinal), $"{where}: the table shows '{cell}', the result file {value:R}");

    private static void CheckFit(string[][][] tables, string folder)
    {
        string[] row = tables.SelectMany(t => t).Single(r => r[0] == "final KL (Monte Carlo)");
        AssertShows(row[1], FinalKl(Path.Combine(folder, "result.json")), "fit final KL");
    }

    // Tables: the medians, then one per target seed (algorithm, N, iterations, KL ± s.e., …), each row from its run folder.
    private static void CheckDemo(string[][][] tables, string folder)
    {
        Assert.Equal(3, tables.Length);
        var kls = new Dictionary<(string, string), List<double>>();
        for (int seed = 1; seed <= 2; seed++)
            foreach (string[] row in tables[seed].Skip(1))
            {
                double kl = FinalKl(Path.Combine(folder, $"seed-{seed}", $"{row[0].ToLowerInvariant()}-N{row[1]}", "result.json"));
                AssertShows(row[3], kl, $"demo seed {seed} {row[0]} N = {row[1]}");
                kls.TryAdd((row[0], row[1]), []);
                kls[(row[0], row[1])].Add(kl);
            }
        Assert.Equal(8, tables[0].Length - 1);
        foreach (string[] row in tables[0].Skip(1))
            Assert.Equal(ResultFiles.G(kls[(row[0], row[1])].Average()), row[2]); // the median of two is their mean
    }

    private static void CheckRovi(string[][][] tables, string folder)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "result.json")));
        var restarts = doc.RootElement.GetProperty("restarts").EnumerateArray().ToList();
        string[][] rows = tables[0].Skip(1).ToArray();
        Assert.Equal(restarts.Count, rows.Length);
        foreach (string[] row in rows)
            AssertShows(row[1], restarts[int.Parse(row[0], CultureInfo.InvariantCulture)].GetProperty("freeEnergy").GetDouble(), $"rovi restart {row[0]}");
    }

    // The posterior table (parameter, mean, sd, 5%, 50%, 95%, …) shows summary.csv's numbers.
    private static void CheckModel(string[][][] tables, string folder)
    {
        string[][] table = tables.Single(t => t[0][0] == "parameter");
        var csv = File.ReadAllLines(Path.Combine(folder, "summary.csv")).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(csv.Count, table.Length - 1);
        foreach (string[] fields in csv)
        {
            string[] row = table.Single(r => r[0] == fields[0]);
            for (int k = 1; k <= 5; k++) AssertShows(row[k], double.Parse(fields[k], CultureInfo.InvariantCulture), $"model {fields[0]} column {k}");
        }
    }

    private static void CheckMixtureParticles(string[][][] tables, string folder)
    {
        var csv = File.ReadAllLines(Path.Combine(folder, "results.csv")).Skip(1).Select(l => l.Split(',')).ToList();
        string[][] rows = tables[0].Skip(1).ToArray();
        Assert.Equal(csv.Count, rows.Length);
        foreach (string[] fields in csv)
        {
            string[] row = rows.Single(r => r[0] == fields[0] && r[1] == fields[1]);
            AssertShows(row[2], double.Parse(fields[2], CultureInfo.InvariantCulture), $"mixture-particles K = {fields[0]} {fields[1]}");
        }
    }
}
