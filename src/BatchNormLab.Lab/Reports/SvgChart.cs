using System.Xml.Linq;
using BatchNormLab.IO;

namespace BatchNormLab.Reports;

/// <summary>
/// A chart that renders itself as one SVG document: inline in a report, or saved as a .svg file.
/// Width and Height are the natural size in px (the viewBox); the SVG scales down to fit its container.
/// </summary>
public abstract class SvgChart
{
    public string? Title { get; set; }
    public double Width { get; set; } = 640;
    public double Height { get; set; } = 400;

    internal abstract XElement Render();

    public string ToSvg() => Render().ToString(SaveOptions.DisableFormatting);

    public void Save(string path) => AtomicFile.WriteAllText(path, ToSvg());
}
