using System.Xml.Linq;
using BatchNormLab.IO;

namespace BatchNormLab.Reports;

/// <summary>
/// A chart that renders itself as one SVG document: inline in a report, or saved as a .svg file.
/// Width and Height are the natural size in px (the viewBox); the SVG scales down to fit its container.
/// </summary>
public abstract class SvgChart
{
    /// <summary>The title drawn above the plot, also the SVG's &lt;title&gt; element; null for none.</summary>
    public string? Title { get; set; }
    /// <summary>The natural width in px (640 unless set).</summary>
    public double Width { get; set; } = 640;
    /// <summary>The natural height in px (400 unless set).</summary>
    public double Height { get; set; } = 400;

    internal abstract XElement Render();

    /// <summary>The chart as one unindented SVG document.</summary>
    public string ToSvg() => Render().ToString(SaveOptions.DisableFormatting);

    /// <summary>Writes <see cref="ToSvg"/> to <paramref name="path"/>, replacing any file there atomically.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToSvg());
}
