using System.Globalization;
using System.Text;

namespace Wasserflow.Reports;

/// <summary>A minimal SVG writer: the library draws its own plots (no plotting package is available here).</summary>
public sealed class Svg
{
    private readonly StringBuilder _body = new();

    /// <summary>A canvas of the given size in pixels.</summary>
    public Svg(double width, double height)
    {
        Width = width;
        Height = height;
    }

    /// <summary>Width in pixels.</summary>
    public double Width { get; }

    /// <summary>Height in pixels.</summary>
    public double Height { get; }

    internal static string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>Adds a rectangle.</summary>
    public void Rect(double x, double y, double w, double h, string fill, string? stroke = null) =>
        _body.Append(CultureInfo.InvariantCulture, $"<rect x=\"{F(x)}\" y=\"{F(y)}\" width=\"{F(w)}\" height=\"{F(h)}\" fill=\"{fill}\"{(stroke is null ? "" : $" stroke=\"{stroke}\"")}/>\n");

    /// <summary>Adds a circle outline.</summary>
    public void Circle(double cx, double cy, double r, string stroke, double strokeWidth = 1, string fill = "none", string? dash = null) =>
        _body.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{F(cx)}\" cy=\"{F(cy)}\" r=\"{F(r)}\" stroke=\"{stroke}\" stroke-width=\"{F(strokeWidth)}\" fill=\"{fill}\"{(dash is null ? "" : $" stroke-dasharray=\"{dash}\"")}/>\n");

    /// <summary>Adds a line segment.</summary>
    public void Line(double x1, double y1, double x2, double y2, string stroke, double strokeWidth = 1, string? dash = null) =>
        _body.Append(CultureInfo.InvariantCulture, $"<line x1=\"{F(x1)}\" y1=\"{F(y1)}\" x2=\"{F(x2)}\" y2=\"{F(y2)}\" stroke=\"{stroke}\" stroke-width=\"{F(strokeWidth)}\"{(dash is null ? "" : $" stroke-dasharray=\"{dash}\"")}/>\n");

    /// <summary>Adds a polyline through the points.</summary>
    public void Polyline(IEnumerable<(double X, double Y)> points, string stroke, double strokeWidth = 1.5, string? dash = null)
    {
        _body.Append("<polyline fill=\"none\" stroke=\"").Append(stroke).Append("\" stroke-width=\"").Append(F(strokeWidth)).Append('"');
        if (dash is not null) _body.Append(" stroke-dasharray=\"").Append(dash).Append('"');
        _body.Append(" points=\"");
        foreach (var (x, y) in points) _body.Append(F(x)).Append(',').Append(F(y)).Append(' ');
        _body.Append("\"/>\n");
    }

    /// <summary>Adds a filled polygon (for error bands).</summary>
    public void Polygon(IEnumerable<(double X, double Y)> points, string fill, double opacity)
    {
        _body.Append("<polygon stroke=\"none\" fill=\"").Append(fill).Append("\" fill-opacity=\"").Append(F(opacity)).Append("\" points=\"");
        foreach (var (x, y) in points) _body.Append(F(x)).Append(',').Append(F(y)).Append(' ');
        _body.Append("\"/>\n");
    }

    /// <summary>Adds an ellipse outline with semi-axes <paramref name="rx"/>, <paramref name="ry"/>, rotated by <paramref name="degrees"/>.</summary>
    public void Ellipse(double cx, double cy, double rx, double ry, double degrees, string stroke, double opacity, double strokeWidth = 1) =>
        _body.Append(CultureInfo.InvariantCulture, $"<ellipse cx=\"{F(cx)}\" cy=\"{F(cy)}\" rx=\"{F(rx)}\" ry=\"{F(ry)}\" transform=\"rotate({F(degrees)} {F(cx)} {F(cy)})\" fill=\"none\" stroke=\"{stroke}\" stroke-opacity=\"{F(opacity)}\" stroke-width=\"{F(strokeWidth)}\"/>\n");

    /// <summary>Adds text (escaped).</summary>
    public void Text(double x, double y, string text, double size = 12, string anchor = "start", string fill = "#222", double rotate = 0)
    {
        string transform = rotate == 0 ? "" : $" transform=\"rotate({F(rotate)} {F(x)} {F(y)})\"";
        _body.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(x)}\" y=\"{F(y)}\" font-size=\"{F(size)}\" text-anchor=\"{anchor}\" fill=\"{fill}\" font-family=\"sans-serif\"{transform}>{Escape(text)}</text>\n");
    }

    /// <summary>The document.</summary>
    public override string ToString() =>
        $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{F(Width)}\" height=\"{F(Height)}\" viewBox=\"0 0 {F(Width)} {F(Height)}\">\n" +
        $"<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{_body}</svg>\n";

    /// <summary>XML-escapes text.</summary>
    public static string Escape(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal).Replace("\"", "&quot;", StringComparison.Ordinal);
}
