using Wasserflow.Diagnostics;
using Wasserflow.Reports;

namespace Wasserflow.Tests.Cli;

public sealed class PlotsTests
{
    [Theory]
    [InlineData(179.2, 181.8)]   // a d = 100 KL trace: two decade ticks could not tell these apart
    [InlineData(0.02, 0.5)]
    [InlineData(1e-4, 3.0)]
    [InlineData(1, 10_000)]
    public void Log_axes_get_at_least_three_distinct_ticks_inside_the_data_range(double low, double high)
    {
        var ticks = Plots.LogTickList(Math.Log10(low), Math.Log10(high)).Where(t => t.Major).ToList();
        Assert.True(ticks.Count >= 3, $"{ticks.Count} major ticks on [{low}, {high}]");
        Assert.Equal(ticks.Count, ticks.Select(t => t.Label).Distinct().Count());
        Assert.All(ticks, t => Assert.InRange(t.Position, Math.Log10(low) - 1e-9, Math.Log10(high) + 1e-9));
        // Each label names the value at its position.
        Assert.All(ticks, t => Assert.Equal(Math.Pow(10, t.Position), double.Parse(t.Label, System.Globalization.NumberStyles.Float | System.Globalization.NumberStyles.AllowThousands, System.Globalization.CultureInfo.InvariantCulture), 0.005 * Math.Pow(10, t.Position)));
    }

    [Theory]
    [InlineData(-1e-17, "0")]
    [InlineData(0.0, "0")]
    [InlineData(7.86, "7.86")]
    [InlineData(1000, "1000")]
    [InlineData(250000, "2.5e5")]
    public void Tick_labels_are_short_and_never_minus_zero(double value, string label) =>
        Assert.Equal(label, Plots.Label(value).Replace(",", "", StringComparison.Ordinal));

    [Fact]
    public void A_multi_panel_figure_keeps_each_panels_ids_apart()
    {
        var target = TestSupport.FigureOneTarget();
        string svg = Plots.SamplesOverTarget(target, new Box2D(-15, 15, -15, 15), "two panels",
            [new Plots.PointPanel("a", [0, 0, 1, 1], "#1f77b4"), new Plots.PointPanel("b", [2, 2], "#d62728")]);
        var ids = System.Text.RegularExpressions.Regex.Matches(svg, "\\bid=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(ids);
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.All(System.Text.RegularExpressions.Regex.Matches(svg, "url\\(#([^)]+)\\)").Select(m => m.Groups[1].Value), r => Assert.Contains(r, ids));
    }
}
