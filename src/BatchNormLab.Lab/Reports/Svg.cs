using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace BatchNormLab.Reports;

/// <summary>
/// Element helpers shared by the charts. Everything goes through System.Xml.Linq, so text and
/// attributes are escaped by construction and every chart is well-formed XML.
/// </summary>
internal static class Svg
{
    public static readonly XNamespace Ns = "http://www.w3.org/2000/svg";
    public const double TickFont = 12, LabelFont = 13, TitleFont = 15, NoteFont = 11;
    public const string Ink = "#333333", Muted = "#666666", GridLine = "#e3e3e3", MinorGridLine = "#f3f3f3", Missing = "#d9d9d9";
    const string FontFamily = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif";

    /// <summary>
    /// The document element: scales to its container's width (never above its natural size), with a
    /// white background so a saved .svg reads the same in a dark viewer.
    /// </summary>
    public static XElement Root(double width, double height, string? title)
    {
        var root = El("svg", ("viewBox", $"0 0 {Num(width)} {Num(height)}"), ("width", "100%"),
            ("style", $"max-width:{Num(width)}px;height:auto"), ("font-family", FontFamily), ("font-size", TickFont), ("role", "img"));
        if (title is not null) root.Add(new XElement(Ns + "title", Clean(title)));
        root.Add(El("rect", ("width", "100%"), ("height", "100%"), ("fill", "#ffffff")));
        return root;
    }

    public static XElement El(string name, params (string Name, object Value)[] attributes)
    {
        var e = new XElement(Ns + name);
        foreach (var (n, v) in attributes)
            e.SetAttributeValue(n, v switch { double d => Num(d), string s => Clean(s), _ => Convert.ToString(v, CultureInfo.InvariantCulture) });
        return e;
    }

    public static XElement Text(double x, double y, string text, double size, string anchor = "start", string fill = Ink)
    {
        var e = El("text", ("x", x), ("y", y), ("font-size", size), ("text-anchor", anchor), ("fill", fill));
        e.Add(Clean(text));
        return e;
    }

    /// <summary>A white outline under the glyphs, so labels stay legible over lines and cells.</summary>
    public static XElement WithHalo(XElement text)
    {
        text.SetAttributeValue("stroke", "#ffffff");
        text.SetAttributeValue("stroke-width", "3");
        text.SetAttributeValue("stroke-linejoin", "round");
        text.SetAttributeValue("paint-order", "stroke");
        return text;
    }

    /// <summary>
    /// A coordinate to 0.01 px (enough for any screen, and files stay small). Far-off points are
    /// clamped so that renderers never see 1e300; NaN never gets here, the charts drop it first.
    /// </summary>
    public static string Num(double v)
    {
        if (double.IsNaN(v)) throw new InvalidOperationException("a NaN coordinate reached the SVG writer");
        double r = Math.Round(Math.Clamp(v, -1e6, 1e6), 2);
        return (r == 0 ? 0 : r).ToString("0.##", CultureInfo.InvariantCulture);
    }

    public static string Points(IEnumerable<(double X, double Y)> points) => string.Join(' ', points.Select(p => $"{Num(p.X)},{Num(p.Y)}"));

    /// <summary>Drops characters XML 1.0 cannot carry (control characters, lone surrogates), which would make the writer throw.</summary>
    public static string Clean(string s)
    {
        int i = 0;
        while (i < s.Length && Valid(s, i, out int width)) i += width;
        if (i == s.Length) return s;
        var sb = new StringBuilder(s.Length);
        for (i = 0; i < s.Length;)
        {
            if (Valid(s, i, out int width)) sb.Append(s, i, width); else width = 1;
            i += width;
        }
        return sb.ToString();
    }

    static bool Valid(string s, int i, out int width)
    {
        width = 1;
        if (XmlConvert.IsXmlChar(s[i])) return true;
        if (i + 1 < s.Length && XmlConvert.IsXmlSurrogatePair(s[i + 1], s[i])) { width = 2; return true; }
        return false;
    }

    /// <summary>Layout needs widths before a browser measures anything: 0.6 em a character is close for sans-serif digits and text.</summary>
    public static double TextWidth(string s, double size) => s.Length * 0.6 * size;
}
