using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using BatchNormLab.Reports;

namespace BatchNormLab.Tests.Reports;

/// <summary>Reads rendered charts back: parses the SVG and finds elements by class, coordinates by attribute.</summary>
internal static partial class SvgProbe
{
    public static readonly XNamespace Ns = "http://www.w3.org/2000/svg";

    public static XDocument Parse(SvgChart chart) => XDocument.Parse(chart.ToSvg());

    public static IEnumerable<XElement> ByClass(XContainer root, string name) =>
        root.Descendants().Where(e => ((string?)e.Attribute("class"))?.Split(' ').Contains(name) == true);

    public static double Num(XElement e, string attribute) => double.Parse((string)e.Attribute(attribute)!, CultureInfo.InvariantCulture);

    public static (double X, double Y, double W, double H) PlotArea(XDocument doc)
    {
        var rect = ByClass(doc, "plot-area").Single();
        return (Num(rect, "x"), Num(rect, "y"), Num(rect, "width"), Num(rect, "height"));
    }

    /// <summary>The vertices of an "M x,y L x,y …" path or a "x,y x,y …" polygon.</summary>
    public static List<(double X, double Y)> Points(string text) =>
        PointPattern().Matches(text).Select(m => (double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture))).ToList();

    /// <summary>Labelled ticks of one axis ("x-axis" or "y-axis"): value and text.</summary>
    public static List<(double Value, string Text)> TickLabels(XDocument doc, string axis) =>
        ByClass(ByClass(doc, axis).Single(), "tick-label").Select(t => (Num(t, "data-value"), t.Value)).ToList();

    [GeneratedRegex(@"(-?[0-9.]+),(-?[0-9.]+)")]
    private static partial Regex PointPattern();
}
