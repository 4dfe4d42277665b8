using System.CommandLine;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Wasserflow.Cli;

namespace Wasserflow.Tests.Repository;

/// <summary>
/// The README tells the truth: every C# block compiles as written (in a console project with the SDK's implicit
/// usings), every `wasserflow` command line in it parses, and no Markdown link in README.md or docs/ points to a file
/// that is not in the repository.
/// </summary>
public sealed partial class DocumentationTests
{
    private static readonly string Root = TestSupport.RepositoryRoot();

    // The global usings of a `dotnet new console` project (ImplicitUsings enabled).
    private const string ImplicitUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        """;

    public static TheoryData<int, string> CSharpBlocks()
    {
        var data = new TheoryData<int, string>();
        foreach (var (line, code) in Blocks("csharp")) data.Add(line, code);
        return data;
    }

    [Theory]
    [MemberData(nameof(CSharpBlocks))]
    public void ReadmeCSharpBlockCompilesAsWritten(int line, string code)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => !Path.GetFileName(p).StartsWith("Wasserflow", StringComparison.Ordinal))
            .Append(typeof(Wasserflow.Targets.ITarget).Assembly.Location)
            .Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create("ReadmeBlock",
            [CSharpSyntaxTree.ParseText(ImplicitUsings, parse), CSharpSyntaxTree.ParseText(code, parse, path: $"README.md:{line}")],
            references, new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        using var pe = new MemoryStream();
        var emitted = compilation.Emit(pe);
        var errors = emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToList();
        Assert.True(emitted.Success, $"the C# block at README.md line {line} does not compile:\n{string.Join("\n", errors)}");
    }

    [Fact]
    public void ReadmeHasCSharpBlocksToCheck() => Assert.True(Blocks("csharp").Count >= 3, "README.md should show the library in C# blocks");

    [Fact]
    public void EveryWasserflowCommandInTheReadmeParses()
    {
        Command root = WasserflowCli.Root();
        int checkedLines = 0;
        foreach (var (line, block) in Blocks("bash"))
            foreach (string text in block.Split('\n'))
            {
                string command = text.Split(" #")[0].Trim();
                int at = command.IndexOf("src/Wasserflow.Cli -- ", StringComparison.Ordinal);
                string? args = command.StartsWith("wasserflow ", StringComparison.Ordinal) ? command["wasserflow ".Length..]
                    : at >= 0 ? command[(at + "src/Wasserflow.Cli -- ".Length)..] : null;
                if (args is null) continue;
                ParseResult parsed = root.Parse(args.Split(' ', StringSplitOptions.RemoveEmptyEntries));
                Assert.True(parsed.Errors.Count == 0, $"README.md block at line {line}: '{command}' does not parse: {string.Join("; ", parsed.Errors.Select(e => e.Message))}");
                checkedLines++;
            }
        Assert.True(checkedLines >= 10, $"only {checkedLines} wasserflow command lines found in README.md");
    }

    [Fact]
    public void EveryExampleInTheHelpParses()
    {
        Command root = WasserflowCli.Root();
        var commands = new List<Command> { root };
        for (int i = 0; i < commands.Count; i++) commands.AddRange(commands[i].Subcommands);
        var examples = commands.SelectMany(c => (c.Description ?? "").Split('\n')).Select(l => l.Trim())
            .Where(l => l.StartsWith("wasserflow ", StringComparison.Ordinal)).ToList();
        Assert.True(examples.Count >= 10, $"only {examples.Count} examples in the help");
        foreach (string example in examples)
        {
            ParseResult parsed = root.Parse(example["wasserflow ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries));
            Assert.True(parsed.Errors.Count == 0, $"help example '{example}' does not parse: {string.Join("; ", parsed.Errors.Select(e => e.Message))}");
        }
    }

    [Fact]
    public void NoMarkdownLinkPointsOutsideTheRepository()
    {
        var files = Directory.EnumerateFiles(Path.Combine(Root, "docs"), "*.md", SearchOption.AllDirectories).Prepend(Path.Combine(Root, "README.md")).ToList();
        var broken = new List<string>();
        int links = 0;
        foreach (string file in files)
        {
            string[] lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
                foreach (Match m in MarkdownLink().Matches(lines[i]))
                {
                    string target = m.Groups[1].Value.Split('#')[0];
                    if (target.Length == 0 || target.Contains("://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal)) continue;
                    links++;
                    string resolved = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, target));
                    bool inside = resolved.StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal);
                    if (!inside || (!File.Exists(resolved) && !Directory.Exists(resolved)))
                        broken.Add($"{Path.GetRelativePath(Root, file)}:{i + 1}: {m.Value}");
                }
        }
        Assert.True(broken.Count == 0, "links to files that are not in the repository:\n" + string.Join("\n", broken));
        Assert.True(links >= 5, $"only {links} relative links found; the link check is not reading the docs");
    }

    [Fact]
    public void TheLicenceTheReadmeNamesIsInTheRepository()
    {
        Assert.Contains("MIT", File.ReadAllText(Path.Combine(Root, "README.md")), StringComparison.Ordinal);
        Assert.StartsWith("MIT License", File.ReadAllText(Path.Combine(Root, "LICENSE")), StringComparison.Ordinal);
    }

    // The fenced blocks of one language in README.md, each with the line number of its opening fence.
    private static List<(int Line, string Code)> Blocks(string language)
    {
        string[] lines = File.ReadAllLines(Path.Combine(Root, "README.md"));
        var blocks = new List<(int, string)>();
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim() != "```" + language) continue;
            int start = i + 1;
            int end = start;
            while (end < lines.Length && lines[end].Trim() != "```") end++;
            blocks.Add((i + 1, string.Join("\n", lines[start..end])));
            i = end;
        }
        return blocks;
    }

    [GeneratedRegex(@"\]\(([^)\s]+)\)")]
    private static partial Regex MarkdownLink();
}
