using System.Xml.Linq;

namespace BatchNormLab.Reports;

/// <summary>The shape drawn at a data point or an annotation.</summary>
public enum MarkerShape
{
    /// <summary>No marker.</summary>
    None,
    /// <summary>A filled circle.</summary>
    Circle,
    /// <summary>A filled square.</summary>
    Square,
    /// <summary>A filled diamond.</summary>
    Diamond,
    /// <summary>A filled triangle, point up.</summary>
    Triangle,
    /// <summary>An × of two strokes (unfilled); annotations' default, e.g. where a run diverged.</summary>
    Cross,
}

internal static class Markers
{
    /// <summary>A marker of radius r centred on (x, y). Filled shapes get a white rim so that overlapping markers stay apart.</summary>
    public static XElement Draw(MarkerShape shape, double x, double y, double r, string color)
    {
        var e = shape switch
        {
            MarkerShape.Circle => Svg.El("circle", ("cx", x), ("cy", y), ("r", r)),
            MarkerShape.Square => Svg.El("rect", ("x", x - r * 0.9), ("y", y - r * 0.9), ("width", r * 1.8), ("height", r * 1.8)),
            MarkerShape.Diamond => Svg.El("polygon", ("points", Svg.Points([(x, y - r * 1.2), (x + r, y), (x, y + r * 1.2), (x - r, y)]))),
            MarkerShape.Triangle => Svg.El("polygon", ("points", Svg.Points([(x, y - r * 1.2), (x + r * 1.1, y + r * 0.8), (x - r * 1.1, y + r * 0.8)]))),
            MarkerShape.Cross => Svg.El("path", ("d", $"M{Svg.Num(x - r)},{Svg.Num(y - r)}L{Svg.Num(x + r)},{Svg.Num(y + r)}M{Svg.Num(x - r)},{Svg.Num(y + r)}L{Svg.Num(x + r)},{Svg.Num(y - r)}"),
                ("fill", "none"), ("stroke", color), ("stroke-width", Math.Max(1.5, r * 0.45)), ("stroke-linecap", "round")),
            _ => throw new ArgumentOutOfRangeException(nameof(shape), shape, "no marker to draw"),
        };
        if (shape != MarkerShape.Cross)
        {
            e.SetAttributeValue("fill", color);
            e.SetAttributeValue("stroke", "#ffffff");
            e.SetAttributeValue("stroke-width", "0.8");
        }
        e.SetAttributeValue("class", "marker");
        return e;
    }
}
