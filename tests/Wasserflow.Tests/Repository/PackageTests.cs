using System.Diagnostics;
using System.IO.Compression;
using System.Reflection;
using System.Xml.Linq;
using Wasserflow.Cli;

namespace Wasserflow.Tests.Repository;

/// <summary>
/// The two packages a user installs: the library package (metadata, licence, readme, XML docs) and the `wasserflow`
/// dotnet tool, packed from the projects as built for this test run, installed into a temporary tool path and run.
/// </summary>
public sealed class PackageTests : IDisposable
{
    private static readonly string Root = TestSupport.RepositoryRoot();
    private readonly string _work = Directory.CreateTempSubdirectory("wasserflow-pack-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    // The configuration this test assembly (and so the projects it references) was built in.
    private static string Configuration => typeof(WasserflowCli).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";

    private static string Version => typeof(WasserflowCli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];

    [Fact]
    public void LibraryPackageCarriesItsMetadataLicenceReadmeAndDocs()
    {
        string feed = Path.Combine(_work, "feed");
        Run("dotnet", $"pack \"{Path.Combine(Root, "src", "Wasserflow")}\" -c {Configuration} --no-build -o \"{feed}\"", Root);
        using ZipArchive package = ZipFile.OpenRead(Path.Combine(feed, $"Wasserflow.{Version}.nupkg"));
        var names = package.Entries.Select(e => e.FullName).ToHashSet();
        Assert.Contains("README.md", names);
        Assert.Contains("LICENSE", names);
        Assert.Contains("lib/net10.0/Wasserflow.dll", names);
        Assert.Contains("lib/net10.0/Wasserflow.xml", names);
        using Stream nuspec = package.GetEntry("Wasserflow.nuspec")!.Open();
        XElement metadata = XDocument.Load(nuspec).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
        string Field(string name) => metadata.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value ?? "";
        Assert.Equal("Wasserflow", Field("id"));
        Assert.Equal(Version, Field("version"));
        Assert.Equal("MIT", Field("license"));
        Assert.Equal("README.md", Field("readme"));
        Assert.False(string.IsNullOrWhiteSpace(Field("authors")), "authors");
        Assert.False(string.IsNullOrWhiteSpace(Field("description")), "description");
        Assert.NotNull(metadata.Elements().SingleOrDefault(e => e.Name.LocalName == "repository")?.Attribute("url"));
    }

    [Fact]
    public void ToolInstallsFromItsPackageAndRuns()
    {
        string feed = Path.Combine(_work, "feed"), tools = Path.Combine(_work, "tools"), runs = Path.Combine(_work, "runs");
        Run("dotnet", $"pack \"{Path.Combine(Root, "src", "Wasserflow.Cli")}\" -c {Configuration} --no-build -o \"{feed}\"", Root);
        // Only the freshly packed feed (no network) and a package cache of its own (never an older package of the same version).
        string config = Path.Combine(_work, "nuget.config");
        File.WriteAllText(config, $"<configuration><packageSources><clear /><add key=\"feed\" value=\"{feed}\" /></packageSources></configuration>");
        Run("dotnet", $"tool install --tool-path \"{tools}\" --configfile \"{config}\" Wasserflow.Cli --version {Version}", _work,
            environment: ("NUGET_PACKAGES", Path.Combine(_work, "packages")));
        string wasserflow = Path.Combine(tools, OperatingSystem.IsWindows() ? "wasserflow.exe" : "wasserflow");

        var (_, version, _) = Run(wasserflow, "--version", _work);
        Assert.StartsWith(Version, version.Trim(), StringComparison.Ordinal);

        var (_, help, _) = Run(wasserflow, "fit --help", _work);
        Assert.Contains("wasserflow fit [options]", help, StringComparison.Ordinal);

        string output = Path.Combine(runs, "fit");
        var (_, fit, _) = Run(wasserflow, $"fit --iterations 10 -o \"{output}\"", _work);
        Assert.Contains("completed", fit, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(output, "result.json")), "the installed tool wrote no result.json");

        var (code, _, error) = Run(wasserflow, "fit --iterations ten", _work, expectSuccess: false);
        Assert.Equal(WasserflowCli.BadInput, code);
        Assert.Contains("--iterations", error, StringComparison.Ordinal);
    }

    private static (int Code, string Output, string Error) Run(string file, string arguments, string directory, bool expectSuccess = true,
        (string Name, string Value)? environment = null)
    {
        var start = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        if (environment is { } variable) start.Environment[variable.Name] = variable.Value;
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync(), error = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(3)), $"{file} {arguments}: still running after 3 minutes");
        if (expectSuccess)
            Assert.True(process.ExitCode == 0, $"{file} {arguments} exited {process.ExitCode}:\n{output.Result}\n{error.Result}");
        return (process.ExitCode, output.Result, error.Result);
    }
}
