using System.CommandLine;
using Wasserflow.Parameters;

namespace Wasserflow.Cli.Options;

/// <summary>
/// Turns the parser's first error into one line a user can act on: an unknown name among subcommands lists them and
/// suggests the nearest; an unknown flag suggests the command's nearest flag, or says which sibling commands take it.
/// </summary>
public static class ParseErrors
{
    /// <summary>The message for <paramref name="parse"/>'s first error.</summary>
    public static string Describe(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        Command command = parse.CommandResult.Command;
        string? token = parse.UnmatchedTokens.FirstOrDefault();
        if (token is null)
        {
            if (command.Subcommands.Count > 0)
                return $"{Path(parse)}: give one of: {string.Join(", ", command.Subcommands.Select(c => c.Name))}";
            return parse.Errors[0].Message;
        }
        if (!token.StartsWith('-'))
        {
            if (command.Subcommands.Count == 0) return $"{Path(parse)}: unexpected argument '{token}'";
            string? near = ParameterRecords.Closest(token, command.Subcommands.Select(c => c.Name));
            return $"{Path(parse)}: unknown name '{token}'{Suggest(near)}; expected one of: {string.Join(", ", command.Subcommands.Select(c => c.Name))}";
        }
        string flag = token.Split('=')[0];
        if (command.Parents.OfType<Command>().FirstOrDefault() is { } parent && parent.Subcommands.Count > 1)
        {
            var takers = parent.Subcommands.Where(c => c != command && c.Options.Any(o => o.Name == flag || o.Aliases.Contains(flag))).Select(c => c.Name).ToList();
            if (takers.Count > 0) return $"{flag}: applies only to {Names(takers, parent)}, not to '{command.Name}'";
        }
        string? nearest = ParameterRecords.Closest(flag, command.Options.Select(o => o.Name));
        return $"unknown option '{flag}' for {Path(parse)}{Suggest(nearest)}; see wasserflow {Path(parse)} --help";
    }

    private static string Suggest(string? near) => near is null ? "" : $" (did you mean '{near}'?)";

    // "experiment", "fit": the command's path below the root; "wasserflow" for the root itself.
    private static string Path(ParseResult parse)
    {
        var names = new List<string>();
        for (Command? c = parse.CommandResult.Command; c?.Parents.OfType<Command>().FirstOrDefault() is not null; c = c.Parents.OfType<Command>().FirstOrDefault()) names.Insert(0, c.Name);
        return names.Count == 0 ? WasserflowCli.ProgramName : string.Join(" ", names);
    }

    // "gm-components", or "the gm-* experiments and mode-collapse" when a whole family of siblings takes the flag.
    private static string Names(List<string> takers, Command parent)
    {
        var families = new List<string>();
        var singles = new List<string>();
        foreach (var family in takers.GroupBy(n => n.Split('-')[0]))
        {
            int siblings = parent.Subcommands.Count(c => c.Name.Split('-')[0] == family.Key);
            if (family.Count() == siblings && siblings > 2) families.Add($"the {family.Key}-* {parent.Name}s");
            else singles.AddRange(family);
        }
        var parts = families.Concat(singles).ToList();
        return parts.Count == 1 ? parts[0] : string.Join(", ", parts.Take(parts.Count - 1)) + " and " + parts[^1];
    }
}
