using System.Net;
using System.Text;

namespace Wasserflow.Reports;

/// <summary>Small helpers for the self-contained HTML report.</summary>
public static class Html
{
    /// <summary>A complete page with a title and body HTML.</summary>
    public static string Page(string title, string body) =>
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\n<title>" + WebUtility.HtmlEncode(title) + "</title>\n" +
        "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:1em 0}" +
        "td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}th{background:#f3f3f3}img{max-width:100%}figure{display:inline-block;margin:0.5em 1em 1em 0;vertical-align:top;max-width:640px}figcaption{font-size:0.85em;color:#555}</style>\n" +
        "</head><body>\n<h1>" + WebUtility.HtmlEncode(title) + "</h1>\n" + body + "\n</body></html>\n";

    /// <summary>An image with a caption under it saying how to read it (both HTML-encoded).</summary>
    public static string Figure(string source, string caption) =>
        "<figure><img src=\"" + WebUtility.HtmlEncode(source) + "\" alt=\"" + WebUtility.HtmlEncode(caption) + "\"/><figcaption>"
        + WebUtility.HtmlEncode(caption) + "</figcaption></figure>\n";

    /// <summary>A table; cells are HTML-encoded.</summary>
    public static string Table(IReadOnlyList<string> header, IReadOnlyList<string[]> rows)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(rows);
        var sb = new StringBuilder("<table>\n<tr>");
        foreach (string h in header) sb.Append("<th>").Append(WebUtility.HtmlEncode(h)).Append("</th>");
        sb.Append("</tr>\n");
        foreach (string[] row in rows)
        {
            sb.Append("<tr>");
            foreach (string cell in row) sb.Append("<td>").Append(WebUtility.HtmlEncode(cell)).Append("</td>");
            sb.Append("</tr>\n");
        }
        return sb.Append("</table>\n").ToString();
    }
}
