using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using ScottPlot;
using Wasserflow.Diagnostics;
using Wasserflow.Families;
using Wasserflow.Targets;

namespace Wasserflow.Reports;

/// <summary>One line of a line plot.</summary>
/// <param name="Label">Legend text.</param>
/// <param name="Points">(x, y) points; non-positive values are dropped on log axes.</param>
/// <param name="Color">CSS colour (#rrggbb).</param>
/// <param name="Dash">Null for a solid line; "3,3" dotted; any other pattern dashed.</param>
/// <param name="Errors">Half-widths of a shaded band around the points (one per point, linear axes only), or null.</param>
public sealed record Series(string Label, IReadOnlyList<(double X, double Y)> Points, string Color, string? Dash = null, IReadOnlyList<double>? Errors = null);

/// <summary>
/// The figures of every report, drawn by ScottPlot and written as SVG (text, so a run's files stay one deterministic
/// set; heat maps are embedded in the SVG as PNG). Multi-panel figures (samples per method, marginals) are panels of
/// ScottPlot SVGs nested in one SVG, since ScottPlot's multiplot renders raster images only. Every 2-D density shares
/// one colour scale within a report when the callers pass the same target and box: the target's density normalised on
/// the plotted grid.
/// </summary>
public static partial class Plots
{
    /// <summary>A colour palette for series.</summary>
    public static readonly string[] Palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];

    private const string Font = "DejaVu Sans";

    /// <summary>The target's density on <paramref name="box"/> (normalised on the plotted grid), with a colour bar.</summary>
    public static string TargetDensity(ITarget target, Box2D box, string title, int cells = 90)
    {
        ArgumentNullException.ThrowIfNull(target);
        var (density, max) = TargetGrid(target, box, cells);
        using Plot plot = NewPlot(title, "x₁", "x₂");
        AddDensity(plot, density, cells, box, max, "target density");
        return ToSvg(plot, 460, 400);
    }

    /// <summary>
    /// The fitted mixture's density on <paramref name="box"/>, on the colour scale of <see cref="TargetDensity"/> for
    /// the same target and box; each component's mean is a white dot and its 1-sd circle (radius √ε_j) a white line.
    /// </summary>
    public static string Density2D(ITarget target, IsotropicGaussianMixture q, Box2D box, string title, int cells = 90)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(q);
        var (_, max) = TargetGrid(target, box, cells);
        var density = new double[cells * cells];
        Span<double> x = stackalloc double[2];
        for (int cell = 0; cell < density.Length; cell++)
        {
            GridKl.Midpoint(box, cells, cell, x);
            density[cell] = Math.Exp(q.LogDensity(x));
        }
        using Plot plot = NewPlot(title, "x₁", "x₂");
        AddDensity(plot, density, cells, box, max, "fitted density");
        for (int j = 0; j < q.ComponentCount; j++)
        {
            ReadOnlySpan<double> m = q.ComponentMean(j);
            var circle = plot.Add.Circle(m[0], m[1], Math.Sqrt(q.Variances[j]));
            circle.LineColor = Colors.White;
            circle.LineWidth = 1.2f;
            circle.FillColor = Colors.Transparent;
            plot.Add.Marker(m[0], m[1], MarkerShape.FilledCircle, 4, Colors.White);
        }
        plot.Axes.SetLimits(box.XMin, box.XMax, box.YMin, box.YMax);
        return ToSvg(plot, 460, 400);
    }

    /// <summary>An ellipse to draw over a density: the 2σ contour of a Gaussian.</summary>
    /// <param name="Gaussian">The 2-D Gaussian.</param>
    /// <param name="Color">Stroke colour.</param>
    /// <param name="Width">Stroke width.</param>
    /// <param name="Dash">Null for solid, else dashed (see <see cref="Series.Dash"/>).</param>
    public sealed record Ellipse(Gaussian Gaussian, string Color, double Width = 1.2, string? Dash = null);

    /// <summary>
    /// The target's density with the 2σ contours of <paramref name="overTarget"/>, or, when <paramref name="fit"/> is
    /// given, the fitted mixture's density (on the target's colour scale) with each particle's 2σ contour in white and
    /// <paramref name="overTarget"/> on top. Draw the target once per report with <see cref="TargetDensity"/> beside fits.
    /// </summary>
    public static string GaussianFits2D(ITarget target, Box2D box, string title, IReadOnlyList<Ellipse> overTarget,
        GaussianMixture? fit = null, int cells = 90)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(overTarget);
        var (density, max) = TargetGrid(target, box, cells);
        if (fit is not null)
        {
            Span<double> x = stackalloc double[2];
            for (int cell = 0; cell < density.Length; cell++)
            {
                GridKl.Midpoint(box, cells, cell, x);
                density[cell] = Math.Exp(fit.LogDensity(x));
            }
        }
        using Plot plot = NewPlot(title, "x₁", "x₂");
        AddDensity(plot, density, cells, box, max, fit is null ? "target density" : "fitted density");
        var contours = new List<Ellipse>();
        if (fit is not null) contours.AddRange(Enumerable.Range(0, fit.ComponentCount).Select(k => new Ellipse(fit.Component(k), "#ffffff", 0.9)));
        contours.AddRange(overTarget);
        foreach (Ellipse e in contours)
        {
            var xs = new double[73];
            var ys = new double[73];
            ReadOnlySpan<double> m = e.Gaussian.Mean, r = e.Gaussian.CholeskyFactor;
            for (int t = 0; t <= 72; t++)
            {
                double angle = 2 * Math.PI * t / 72, u = 2 * Math.Cos(angle), v = 2 * Math.Sin(angle);
                xs[t] = m[0] + r[0] * u;
                ys[t] = m[1] + r[2] * u + r[3] * v;
            }
            var line = plot.Add.ScatterLine(xs, ys, Color.FromHex(e.Color));
            line.LineWidth = (float)e.Width;
            line.LinePattern = Pattern(e.Dash);
        }
        plot.Axes.SetLimits(box.XMin, box.XMax, box.YMin, box.YMax);
        return ToSvg(plot, 460, 400);
    }

    /// <summary>One panel of <see cref="SamplesOverTarget"/>: a label, points (rows of n×2) and their colour.</summary>
    public sealed record PointPanel(string Label, double[] Points, string Color);

    /// <summary>
    /// Side-by-side panels, each the target's density (normalised on the grid) with one method's sample points over it
    /// (at most <paramref name="maxPoints"/> per panel, the first ones).
    /// </summary>
    public static string SamplesOverTarget(ITarget target, Box2D box, string title, IReadOnlyList<PointPanel> panels, int maxPoints = 700, int cells = 50)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(panels);
        var (density, max) = TargetGrid(target, box, cells);
        var svgs = new List<string>();
        foreach (PointPanel panel in panels)
        {
            using Plot plot = NewPlot(panel.Label, "x₁", "x₂");
            AddDensity(plot, density, cells, box, max, null);
            int n = Math.Min(maxPoints, panel.Points.Length / 2);
            var xs = new double[n];
            var ys = new double[n];
            for (int p = 0; p < n; p++) (xs[p], ys[p]) = (panel.Points[2 * p], panel.Points[2 * p + 1]);
            plot.Add.Markers(xs, ys, MarkerShape.FilledCircle, 2.5f, Color.FromHex(panel.Color));
            plot.Axes.SetLimits(box.XMin, box.XMax, box.YMin, box.YMax);
            svgs.Add(ToSvg(plot, 300, 300));
        }
        return Compose(svgs, 300, 300, panels.Count, title);
    }

    /// <summary>A line plot; <paramref name="logX"/>/<paramref name="logY"/> give logarithmic axes (non-positive points are dropped).</summary>
    public static string Lines(IReadOnlyList<Series> series, string title, string xLabel, string yLabel, bool logX, bool logY,
        double width = 600, double height = 380)
    {
        ArgumentNullException.ThrowIfNull(series);
        using Plot plot = NewPlot(title, xLabel, yLabel);
        double xLo = double.PositiveInfinity, xHi = double.NegativeInfinity, yLo = double.PositiveInfinity, yHi = double.NegativeInfinity;
        foreach (Series s in series)
        {
            var kept = s.Points.Select((p, i) => (p.X, p.Y, E: s.Errors is { } e ? e[i] : double.NaN))
                .Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y) && (!logX || p.X > 0) && (!logY || p.Y > 0)).ToList();
            if (kept.Count == 0) continue;
            double[] xs = [.. kept.Select(p => logX ? Math.Log10(p.X) : p.X)];
            double[] ys = [.. kept.Select(p => logY ? Math.Log10(p.Y) : p.Y)];
            Color color = Color.FromHex(s.Color);
            if (s.Errors is not null && !logX && !logY && kept.All(p => double.IsFinite(p.E)))
            {
                double[] low = [.. kept.Select(p => p.Y - p.E)], high = [.. kept.Select(p => p.Y + p.E)];
                var band = plot.Add.FillY(xs, low, high);
                band.FillColor = color.WithAlpha(0.2);
                band.LineWidth = 0;
                yLo = Math.Min(yLo, low.Min());
                yHi = Math.Max(yHi, high.Max());
            }
            var line = plot.Add.ScatterLine(xs, ys, color);
            line.LineWidth = 1.6f;
            line.LinePattern = Pattern(s.Dash);
            line.LegendText = s.Label;
            (xLo, xHi) = (Math.Min(xLo, xs.Min()), Math.Max(xHi, xs.Max()));
            (yLo, yHi) = (Math.Min(yLo, ys.Min()), Math.Max(yHi, ys.Max()));
        }
        if (!double.IsFinite(xLo))
        {
            plot.Title(title + " (no data to plot)");
            return ToSvg(plot, (int)width, (int)height);
        }
        if (logX) plot.Axes.Bottom.TickGenerator = LogTicks(xLo, xHi);
        if (logY) plot.Axes.Left.TickGenerator = LogTicks(yLo, yHi);
        if (series.Count > 1) plot.ShowLegend(Edge.Right);
        return ToSvg(plot, (int)width + (series.Count > 1 ? 140 : 0), (int)height);
    }

    /// <summary>An ellipse in a projection plane: centre, semi-axes, rotation (degrees), colour and opacity.</summary>
    /// <param name="X">Centre, first coordinate.</param>
    /// <param name="Y">Centre, second coordinate.</param>
    /// <param name="Rx">Semi-axis along the rotated first direction.</param>
    /// <param name="Ry">Semi-axis along the rotated second direction.</param>
    /// <param name="Degrees">Rotation of the first semi-axis from the x axis, counter-clockwise.</param>
    /// <param name="Color">CSS colour (#rrggbb).</param>
    /// <param name="Opacity">Opacity in [0, 1] (later snapshots drawn more opaque).</param>
    public sealed record ProjectedEllipse(double X, double Y, double Rx, double Ry, double Degrees, string Color, double Opacity);

    /// <summary>A point in a projection plane with its colour and opacity.</summary>
    /// <param name="X">First coordinate.</param>
    /// <param name="Y">Second coordinate.</param>
    /// <param name="Color">CSS colour (#rrggbb).</param>
    /// <param name="Opacity">Opacity in [0, 1].</param>
    public sealed record ProjectedDot(double X, double Y, string Color, double Opacity);

    /// <summary>Ellipses and dots on a plane with equal scales on both axes (e.g. components on two principal components).</summary>
    public static string Projection(string title, string xLabel, string yLabel, IReadOnlyList<ProjectedEllipse> ellipses, IReadOnlyList<ProjectedDot> dots)
    {
        ArgumentNullException.ThrowIfNull(ellipses);
        ArgumentNullException.ThrowIfNull(dots);
        using Plot plot = NewPlot(title, xLabel, yLabel);
        foreach (ProjectedEllipse e in ellipses)
        {
            var shape = plot.Add.Ellipse(e.X, e.Y, Math.Max(e.Rx, 1e-12), Math.Max(e.Ry, 1e-12), Angle.FromDegrees(e.Degrees));
            shape.LineColor = Color.FromHex(e.Color).WithAlpha(e.Opacity);
            shape.FillColor = Colors.Transparent;
        }
        foreach (ProjectedDot dot in dots) plot.Add.Marker(dot.X, dot.Y, MarkerShape.FilledCircle, 5, Color.FromHex(dot.Color).WithAlpha(dot.Opacity));
        plot.Axes.SquareUnits();
        return ToSvg(plot, 620, 620);
    }

    /// <summary>
    /// The 1-D marginals of the fitted mixture (solid blue) and, for Gaussian-mixture targets, of the target (dashed
    /// red), one small panel per coordinate (at most <paramref name="maxPanels"/>).
    /// </summary>
    public static string Marginals(ITarget target, IsotropicGaussianMixture q, int maxPanels = 20)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(q);
        int panels = Math.Min(q.Dimension, maxPanels);
        var mixtureTarget = target as GaussianMixtureTarget;
        var svgs = new List<string>();
        for (int i = 0; i < panels; i++)
        {
            double lo = double.MaxValue, hi = double.MinValue;
            for (int j = 0; j < q.ComponentCount; j++)
            {
                double m = q.ComponentMean(j)[i], r = 3.5 * Math.Sqrt(q.Variances[j]);
                (lo, hi) = (Math.Min(lo, m - r), Math.Max(hi, m + r));
            }
            if (mixtureTarget is not null)
                for (int k = 0; k < mixtureTarget.ComponentCount; k++)
                {
                    double m = mixtureTarget.ComponentMean(k)[i], r = 3.5 * Math.Sqrt(mixtureTarget.ComponentVariance(k, i));
                    (lo, hi) = (Math.Min(lo, m - r), Math.Max(hi, m + r));
                }
            const int n = 120;
            double[] xs = [.. Enumerable.Range(0, n).Select(s => lo + (hi - lo) * s / (n - 1))];
            using Plot plot = NewPlot("", $"x{Subscript(i + 1)}", i % 5 == 0 ? "density" : "");
            if (mixtureTarget is not null)
            {
                var t = plot.Add.ScatterLine(xs, [.. xs.Select(v => mixtureTarget.MarginalDensity(i, v))], Color.FromHex("#d62728"));
                t.LinePattern = LinePattern.Dashed;
                t.LegendText = "target";
            }
            var f = plot.Add.ScatterLine(xs, [.. xs.Select(v => q.MarginalDensity(i, v))], Color.FromHex("#1f77b4"));
            f.LineWidth = 1.5f;
            f.LegendText = "fit";
            if (i == 0) plot.ShowLegend(Edge.Right);
            svgs.Add(ToSvg(plot, i == 0 ? 300 : 240, 200));
        }
        string title = $"marginals: fit (solid blue) vs target (dashed red){(panels < q.Dimension ? $", first {panels} of {q.Dimension}" : "")}";
        return Compose(svgs, 300, 200, 5, title);
    }

    // The target's log density on the grid, exponentiated after normalising on the grid (log Z unknown in general),
    // and its maximum (the colour scale's top).
    private static (double[] Density, double Max) TargetGrid(ITarget target, Box2D box, int cells)
    {
        var logPi = new double[cells * cells];
        GridKl.EvaluateTarget(target, box, cells, logPi);
        double hx = (box.XMax - box.XMin) / cells, hy = (box.YMax - box.YMin) / cells;
        double logZ = GaussianMixtureTarget.LogSumExp(logPi) + Math.Log(hx * hy);
        var density = logPi.Select(v => Math.Exp(v - logZ)).ToArray();
        return (density, density.Max());
    }

    // A heat map of grid values (cell a·cells + b at the a-th x and b-th y midpoint) on [0, max], viridis, with a colour bar.
    private static void AddDensity(Plot plot, double[] values, int cells, Box2D box, double max, string? colorBarLabel)
    {
        var grid = new double[cells, cells];
        for (int a = 0; a < cells; a++)
            for (int b = 0; b < cells; b++)
                grid[cells - 1 - b, a] = values[a * cells + b];
        var heat = plot.Add.Heatmap(grid);
        heat.Extent = new CoordinateRect(box.XMin, box.XMax, box.YMin, box.YMax);
        heat.Colormap = new ScottPlot.Colormaps.Viridis();
        heat.ManualRange = new ScottPlot.Range(0, max > 0 ? max : 1);
        if (colorBarLabel is not null)
        {
            var bar = plot.Add.ColorBar(heat);
            bar.Label = colorBarLabel;
            bar.LabelStyle.FontName = Font;
            bar.Axis.TickLabelStyle.FontName = Font;
        }
        plot.Axes.SetLimits(box.XMin, box.XMax, box.YMin, box.YMax);
    }

    private static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        plot.Font.Set(Font);
        if (title.Length > 0) plot.Title(title, 13);
        plot.XLabel(xLabel, 12);
        plot.YLabel(yLabel, 12);
        plot.Legend.FontName = Font;
        return plot;
    }

    private static LinePattern Pattern(string? dash) => dash switch
    {
        null => LinePattern.Solid,
        "3,3" => LinePattern.Dotted,
        _ => LinePattern.Dashed,
    };

    // Ticks for an axis drawn in log10 units over [lo, hi]: decades when the range spans at least two, else 1-2-5
    // steps within the decades, else evenly spaced round values of the data (so 179.2 and 181.8 get their own ticks).
    private static ScottPlot.TickGenerators.NumericManual LogTicks(double lo, double hi)
    {
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        foreach (var (position, label, major) in LogTickList(lo, hi))
            if (major) ticks.AddMajor(position, label);
            else ticks.AddMinor(position);
        return ticks;
    }

    // The ticks of LogTicks: positions in log10 units, labels (empty for minor ticks), and which are major.
    internal static List<(double Position, string Label, bool Major)> LogTickList(double lo, double hi)
    {
        var major = new List<double>();
        if (hi - lo >= 2)
        {
            for (double e = Math.Ceiling(lo); e <= Math.Floor(hi); e++) major.Add(Math.Pow(10, e));
        }
        else
        {
            for (double e = Math.Floor(lo); e <= Math.Ceiling(hi); e++)
                foreach (double m in new[] { 1.0, 2, 5 })
                {
                    double v = m * Math.Pow(10, e);
                    if (Math.Log10(v) >= lo - 1e-9 && Math.Log10(v) <= hi + 1e-9) major.Add(v);
                }
            if (major.Count < 3)
            {
                major.Clear();
                double a = Math.Pow(10, lo), b = Math.Pow(10, hi);
                double step = NiceStep((b - a) / 4);
                for (double v = Math.Ceiling(a / step) * step; v <= b + 1e-9 * step; v += step) major.Add(v);
            }
        }
        var ticks = major.Select(v => (Math.Log10(v), Label(v), true)).ToList();
        if (hi - lo >= 1)
            for (double e = Math.Floor(lo); e <= Math.Ceiling(hi); e++)
                for (int m = 2; m <= 9; m++)
                {
                    double p = e + Math.Log10(m);
                    if (p >= lo && p <= hi) ticks.Add((p, "", false));
                }
        return ticks;
    }

    private static double NiceStep(double raw)
    {
        double magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double f = raw / magnitude;
        return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * magnitude;
    }

    // A tick label: round values without spurious digits, "0" never "-0", exponents for very large or small values.
    internal static string Label(double v)
    {
        if (Math.Abs(v) < 1e-12) return "0";
        double a = Math.Abs(v);
        if (a >= 1e5 || a < 1e-3) return v.ToString("0.##e0", CultureInfo.InvariantCulture);
        return v.ToString(a >= 100 ? "#,0.##" : "0.####", CultureInfo.InvariantCulture);
    }

    private static string Subscript(int n) => string.Concat(n.ToString(CultureInfo.InvariantCulture).Select(c => (char)('₀' + (c - '0'))));

    // The plot as SVG without the XML declaration, its element ids renumbered in order of appearance (Skia numbers
    // them from a process-wide counter, so the same figure drawn twice in one process would differ in its bytes).
    private static string ToSvg(Plot plot, int width, int height)
    {
        string svg = XmlHeader().Replace(plot.GetSvgXml(width, height), "");
        var ids = new Dictionary<string, string>();
        foreach (Match m in IdAttribute().Matches(svg))
            if (m.Groups[1].Value == "id") ids.TryAdd(m.Groups[2].Value, $"e{ids.Count}");
        string Renamed(string id) => ids.TryGetValue(id, out string? name) ? name : id;
        svg = IdAttribute().Replace(svg, m => $"{m.Groups[1].Value}=\"{(m.Groups[1].Value == "id" ? "" : "#")}{Renamed(m.Groups[2].Value)}\"");
        return UrlReference().Replace(svg, m => $"url(#{Renamed(m.Groups[1].Value)})");
    }

    // Panels side by side (wrapping after `columns`) under a title: each panel's SVG nested at its place, its element ids
    // prefixed so the panels' clip paths and images do not collide.
    private static string Compose(IReadOnlyList<string> panels, int panelWidth, int panelHeight, int columns, string title)
    {
        int cols = Math.Min(columns, Math.Max(1, panels.Count)), rows = (panels.Count + cols - 1) / cols;
        const int head = 30;
        // Wide enough for the title (about 8 px per character at 14 px), the panels centred under it.
        int width = Math.Max(cols * panelWidth, 8 * title.Length + 20), height = rows * panelHeight + head, left = (width - cols * panelWidth) / 2;
        var sb = new StringBuilder().Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" width=\"{width}\" height=\"{height}\">\n");
        sb.Append(CultureInfo.InvariantCulture, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{width / 2}\" y=\"20\" font-size=\"14\" font-family=\"{Font}\" text-anchor=\"middle\">{Escape(title)}</text>\n");
        for (int i = 0; i < panels.Count; i++)
        {
            string prefix = $"p{i}_";
            string panel = IdAttribute().Replace(panels[i], m => $"{m.Groups[1].Value}=\"{(m.Groups[1].Value == "id" ? "" : "#")}{prefix}{m.Groups[2].Value}\"");
            panel = UrlReference().Replace(panel, m => $"url(#{prefix}{m.Groups[1].Value})");
            int x = left + i % cols * panelWidth, y = head + i / cols * panelHeight;
            int at = panel.IndexOf("<svg", StringComparison.Ordinal);
            sb.Append(panel.AsSpan(0, at + 4)).Append(CultureInfo.InvariantCulture, $" x=\"{x}\" y=\"{y}\"").Append(panel.AsSpan(at + 4)).Append('\n');
        }
        return sb.Append("</svg>\n").ToString();
    }

    private static string Escape(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);

    [GeneratedRegex(@"<\?xml[^>]*\?>\s*")]
    private static partial Regex XmlHeader();

    [GeneratedRegex("(id|xlink:href)=\"#?([A-Za-z_][\\w-]*)\"")]
    private static partial Regex IdAttribute();

    [GeneratedRegex(@"url\(#([\w-]+)\)")]
    private static partial Regex UrlReference();
}
