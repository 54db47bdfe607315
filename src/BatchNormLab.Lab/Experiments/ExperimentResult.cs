using System.Text.Json.Serialization;

namespace BatchNormLab.Experiments;

/// <summary>A curve: y over x, e.g. training loss over steps. NaN marks a gap (a diverged run stops).</summary>
public sealed record Series(string Label, double[] X, double[] Y)
{
    /// <summary>Optional lower/upper curves drawn as a band (percentile bands of a distribution).</summary>
    public double[]? Lower { get; init; }
    /// <summary>The band's upper curve, with <see cref="Lower"/>; null: no band.</summary>
    public double[]? Upper { get; init; }
    /// <summary>An x where the run diverged, marked on the plot.</summary>
    public double? DivergedAt { get; init; }
    /// <summary>A prediction or theoretical curve, drawn thin, dashed and dark grey over the measurements (an empty label keeps it out of the legend).</summary>
    public bool Theory { get; init; }
    /// <summary>A circle at every point: measurements at a few x, such as a sweep.</summary>
    public bool Markers { get; init; }
}

/// <summary>A labelled line across a figure at a value of x (or of y when horizontal): a threshold such as η = 2/λmax.</summary>
public sealed record ReferenceLine(double Value, string Label, bool Horizontal = false);

/// <summary>What one figure shows: panels of series with axis labels and scales.</summary>
public sealed record FigureData(string Title, string Caption, string XLabel, string YLabel, IReadOnlyList<Series> Series, bool LogX = false, bool LogY = false)
{
    /// <summary>Labelled lines drawn across the figure, such as η = 2/λmax; empty for none.</summary>
    public IReadOnlyList<ReferenceLine> References { get; init; } = [];
}

/// <summary>A table: header and rows of text cells.</summary>
public sealed record TableData(string Title, IReadOnlyList<string> Header, IReadOnlyList<IReadOnlyList<string>> Rows);

/// <summary>
/// The key of one of a result's numbers: what it is about (a run group, network, layer or case) and what was measured of it.
/// Its text, "Subject: Measure", is the number's name in result.json, the run store and the report; experiments make their keys
/// with small static methods (such as <see cref="SeededRuns.TestAccuracyKey"/>) that the tests call too.
/// </summary>
/// <param name="Subject">What the number is about, e.g. "DLN standard, layer #9"; without ": ", so that the text reads back (<see cref="Parse"/>).</param>
/// <param name="Measure">What was measured, e.g. "mean ‖G−G′‖"; may contain ": ".</param>
[JsonConverter(typeof(ResultKeyJsonConverter))]
public readonly record struct ResultKey(string Subject, string Measure)
{
    /// <summary>The key's text: "Subject: Measure".</summary>
    public override string ToString() => $"{Subject}: {Measure}";

    /// <summary>The key whose text is <paramref name="text"/> (<see cref="ToString"/>), split at its first ": "; a <see cref="FormatException"/> naming the text when it has none.</summary>
    public static ResultKey Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int colon = text.IndexOf(": ", StringComparison.Ordinal);
        if (colon < 0) throw new FormatException($"result number name \"{text}\" has no \": \" between its subject and its measure");
        return new(text[..colon], text[(colon + 2)..]);
    }
}

/// <summary>Everything an experiment produced: its verdict with the numbers behind it, figures, tables, files written.</summary>
public sealed record ExperimentResult(
    string Name, string Figure, string Claim, string Settings, string Deviations,
    Verdict Verdict, IReadOnlyList<FigureData> Figures, IReadOnlyList<TableData> Tables,
    IReadOnlyDictionary<ResultKey, double> Numbers, IReadOnlyList<string> Files, double Seconds)
{
    /// <summary>Where the claim comes from (paper, section or figure; seed file).</summary>
    public string Source { get; init; } = "";
    /// <summary>The seeds every comparison was judged over.</summary>
    public IReadOnlyList<ulong> Seeds { get; init; } = [];
}
