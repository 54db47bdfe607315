using System.Text;
using BatchNormLab.Experiments;
using BatchNormLab.IO;

namespace BatchNormLab.Reports;

/// <summary>
/// One self-contained HTML file: title, contents, a summary of the claims and their verdicts, then
/// the sections. CSS is inline, charts are inline SVG, there is no script and nothing is fetched, so
/// it opens offline and prints. The markup is also well-formed XML.
/// </summary>
public sealed class HtmlReport
{
    readonly List<ReportSection> sections = [];

    /// <summary>An empty report titled <paramref name="title"/>.</summary>
    public HtmlReport(string title) => Title = title;

    /// <summary>The page's title and top heading.</summary>
    public string Title { get; }
    /// <summary>A line under the title: what was run, when, on what.</summary>
    public string? Subtitle { get; set; }
    /// <summary>The sections, in the order they were added (the page's order).</summary>
    public IReadOnlyList<ReportSection> Sections => sections;

    /// <summary>A new section, listed in the contents; its id is a slug of the heading, made unique.</summary>
    public ReportSection Section(string heading)
    {
        string slug = Slug(heading), id = slug;
        for (int n = 2; sections.Any(s => s.Id == id); n++) id = $"{slug}-{n}";
        var section = new ReportSection(id, heading);
        sections.Add(section);
        return section;
    }

    /// <summary>Writes <see cref="ToHtml"/> to <paramref name="path"/>, replacing any file there atomically.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToHtml());

    /// <summary>The whole report as one self-contained HTML document.</summary>
    public string ToHtml()
    {
        // the body first: it numbers figures, tables and claims in reading order for the summary above it
        var body = new StringBuilder();
        var claims = new List<(string Id, ReportSection Section, ClaimBlock Claim)>();
        int figures = 0, tables = 0;
        foreach (var section in sections)
        {
            body.Append($"<section id=\"{Escape(section.Id)}\">\n<h2>{Escape(section.Heading)}</h2>\n");
            foreach (var block in section.Blocks)
            {
                switch (block)
                {
                    case ParagraphBlock p:
                        body.Append($"<p>{Escape(p.Text)}</p>\n");
                        break;
                    case ClaimBlock c:
                        string id = $"claim-{claims.Count + 1}";
                        claims.Add((id, section, c));
                        WriteClaim(body, id, c);
                        break;
                    case TableBlock t:
                        WriteTable(body, t.Header, t.Rows, t.Caption is null ? null : $"Table {++tables}.", t.Caption, "data");
                        break;
                    case FigureBlock f:
                        WriteFigure(body, ++figures, f);
                        break;
                }
            }
            body.Append("</section>\n");
        }

        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n")
            .Append($"<title>{Escape(Title)}</title>\n<style>\n{Css}</style>\n</head>\n<body>\n<main>\n<header>\n<h1>{Escape(Title)}</h1>\n");
        if (Subtitle is not null) html.Append($"<p class=\"subtitle\">{Escape(Subtitle)}</p>\n");
        html.Append("</header>\n");
        if (sections.Count > 0)
        {
            html.Append("<nav class=\"toc\" aria-label=\"Contents\">\n<h2 class=\"toc-title\">Contents</h2>\n<ol>\n");
            foreach (var s in sections) html.Append($"<li><a href=\"#{Escape(s.Id)}\">{Escape(s.Heading)}</a></li>\n");
            html.Append("</ol>\n</nav>\n");
        }
        if (claims.Count > 0) WriteSummary(html, claims);
        html.Append(body).Append("</main>\n</body>\n</html>\n");
        return html.ToString();
    }

    static void WriteSummary(StringBuilder html, List<(string Id, ReportSection Section, ClaimBlock Claim)> claims)
    {
        html.Append("<section class=\"summary\" id=\"claims\">\n<h2>Claims at a glance</h2>\n<p class=\"tally\">");
        html.Append(string.Join(" · ", Enum.GetValues<VerdictKind>()
            .Select(v => (v, n: claims.Count(c => c.Claim.Verdict == v))).Where(x => x.n > 0)
            .Select(x => $"<span class=\"chip {Class(x.v)}\">{Symbol(x.v)} {x.n} {Escape(Name(x.v).ToLowerInvariant())}</span>")));
        html.Append("</p>\n<table class=\"claims\">\n<thead><tr><th>Claim</th><th>Verdict</th><th>Section</th></tr></thead>\n<tbody>\n");
        foreach (var (id, section, c) in claims)
            html.Append($"<tr><td><a href=\"#{id}\">{Escape(c.Claim)}</a></td><td><span class=\"chip {Class(c.Verdict)}\">{Symbol(c.Verdict)} {Name(c.Verdict)}</span></td>")
                .Append($"<td><a href=\"#{Escape(section.Id)}\">{Escape(section.Heading)}</a></td></tr>\n");
        html.Append("</tbody>\n</table>\n</section>\n");
    }

    static void WriteClaim(StringBuilder html, string id, ClaimBlock c)
    {
        html.Append($"<div class=\"claim {Class(c.Verdict)}\" id=\"{id}\">\n")
            .Append($"<div class=\"verdict\">{Symbol(c.Verdict)} {Name(c.Verdict)}</div>\n")
            .Append($"<p class=\"statement\">{Escape(c.Claim)}</p>\n");
        if (c.Evidence.Length > 0) html.Append($"<p class=\"evidence\">{Escape(c.Evidence)}</p>\n");
        if (c.Numbers.Count > 0)
            WriteTable(html, null, c.Numbers.Select(n => (IReadOnlyList<object?>)[n.Name, n.Value]).ToList(), null, null, "numbers");
        html.Append("</div>\n");
    }

    static void WriteTable(StringBuilder html, IReadOnlyList<string>? header, IReadOnlyList<IReadOnlyList<object?>> rows, string? number, string? caption, string cssClass)
    {
        var cells = rows.Select(r => r.Select(Cell).ToList()).ToList();
        // a column is numeric (right-aligned, header too) when every filled cell in it is a number
        bool Numeric(int col) => cells.Any(r => col < r.Count && r[col].Text.Length > 0)
            && cells.All(r => col >= r.Count || r[col].Text.Length == 0 || r[col].Numeric);
        // a table wider than the page scrolls sideways instead of running off its edge
        html.Append($"<div class=\"scroll\">\n<table class=\"{cssClass}\">\n");
        if (caption is not null) html.Append($"<caption><span class=\"label\">{number}</span> {Escape(caption)}</caption>\n");
        if (header is not null)
        {
            html.Append("<thead><tr>");
            for (int c = 0; c < header.Count; c++) html.Append(Numeric(c) ? "<th class=\"num\">" : "<th>").Append(Escape(header[c])).Append("</th>");
            html.Append("</tr></thead>\n");
        }
        html.Append("<tbody>\n");
        foreach (var row in cells)
        {
            html.Append("<tr>");
            foreach (var (text, numeric) in row) html.Append(numeric ? "<td class=\"num\">" : "<td>").Append(Escape(text)).Append("</td>");
            html.Append("</tr>\n");
        }
        html.Append("</tbody>\n</table>\n</div>\n");
    }

    static void WriteFigure(StringBuilder html, int number, FigureBlock f)
    {
        html.Append($"<figure id=\"figure-{number}\">\n");
        if (f.Columns > 1) html.Append($"<div class=\"grid\" style=\"grid-template-columns:repeat({f.Columns},minmax(0,1fr))\">\n");
        foreach (var chart in f.Charts) html.Append(chart.ToSvg()).Append('\n');
        if (f.Columns > 1) html.Append("</div>\n");
        html.Append($"<figcaption><span class=\"label\">Figure {number}.</span> {Escape(f.Caption)}</figcaption>\n</figure>\n");
    }

    /// <summary>Numbers are formatted (4 significant digits) and right-aligned; so are strings that read as numbers ("86.1%", "1.5×").</summary>
    static (string Text, bool Numeric) Cell(object? value) => value switch
    {
        null => ("", false),
        double d => (Format.Number(d), true),
        float f => (Format.Number(f), true),
        sbyte or byte or short or ushort or int or uint or long or ulong => (Format.Minus(((IFormattable)value).ToString("#,0", CultureInfo.InvariantCulture)), true),
        decimal m => (Format.Minus(m.ToString(CultureInfo.InvariantCulture)), true),
        _ => (value.ToString() ?? "", ReadsAsNumber(value.ToString() ?? "")),
    };

    static bool ReadsAsNumber(string s)
    {
        var t = s.Trim().TrimEnd('%', '×', 'x').Trim().Replace('−', '-');
        return t.Length > 0 && double.TryParse(t, NumberStyles.Float | NumberStyles.AllowThousands, CultureInfo.InvariantCulture, out _);
    }

    static string Class(VerdictKind v) => v switch { VerdictKind.Agrees => "agrees", VerdictKind.DoesNotAgree => "disagrees", _ => "inconclusive" };
    static string Name(VerdictKind v) => v switch { VerdictKind.Agrees => "Agrees", VerdictKind.DoesNotAgree => "Does not agree", _ => "Inconclusive" };
    // a symbol as well as a colour, for red–green colour blindness and greyscale prints
    static string Symbol(VerdictKind v) => ExperimentReport.Mark(v);

    internal static string Escape(string s) => Svg.Clean(s).Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;").Replace("'", "&#39;");

    static string Slug(string heading)
    {
        var sb = new StringBuilder();
        foreach (char ch in heading.ToLowerInvariant())
            if (char.IsAsciiLetterOrDigit(ch)) sb.Append(ch);
            else if (sb.Length > 0 && sb[^1] != '-') sb.Append('-');
        string slug = sb.ToString().TrimEnd('-');
        if (slug.Length == 0) return "section";
        return slug == "claims" ? "claims-section" : slug;  // "claims" is the summary's own id
    }

    const string Css = """
        :root { --ink: #1f2328; --muted: #59636e; --rule: #d1d9e0; --agree: #1a7f37; --agree-bg: #eaf6ed; --disagree: #c62828; --disagree-bg: #fdecec; --unsure: #6e7781; --unsure-bg: #f2f3f5; }
        * { box-sizing: border-box; }
        body { margin: 0; color: var(--ink); background: #fff; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
        main { max-width: 62rem; margin: 0 auto; padding: 2rem 1.25rem 4rem; }
        h1 { font-size: 1.9rem; line-height: 1.2; margin: 0 0 .3rem; }
        h2 { font-size: 1.35rem; margin: 2.5rem 0 .75rem; padding-bottom: .3rem; border-bottom: 1px solid var(--rule); }
        p { margin: .6rem 0; max-width: 46rem; }
        a { color: #0969da; }
        .subtitle { color: var(--muted); margin: 0 0 1.5rem; }
        nav.toc { background: #f6f8fa; border: 1px solid var(--rule); border-radius: 6px; padding: .75rem 1.25rem; margin: 1.5rem 0; }
        nav.toc .toc-title { font-size: 1rem; margin: 0 0 .25rem; padding: 0; border: 0; }
        nav.toc ol { margin: 0; padding-left: 1.5rem; }
        .claim { border-left: 6px solid var(--unsure); background: var(--unsure-bg); border-radius: 4px; padding: .75rem 1rem; margin: 1.25rem 0; }
        .claim.agrees { border-color: var(--agree); background: var(--agree-bg); }
        .claim.disagrees { border-color: var(--disagree); background: var(--disagree-bg); }
        .verdict { font-size: .8rem; font-weight: 700; letter-spacing: .05em; text-transform: uppercase; color: var(--unsure); }
        .claim.agrees .verdict { color: var(--agree); }
        .claim.disagrees .verdict { color: var(--disagree); }
        .claim .statement { font-weight: 600; margin: .2rem 0; }
        .claim .evidence { margin: .2rem 0; }
        .claim table.numbers { margin: .5rem 0 0; font-size: .9rem; background: transparent; }
        .chip { display: inline-block; padding: 0 .55rem; border-radius: 999px; font-size: .8rem; font-weight: 600; color: #fff; background: var(--unsure); white-space: nowrap; }
        .chip.agrees { background: var(--agree); }
        .chip.disagrees { background: var(--disagree); }
        .tally .chip { margin-right: .25rem; }
        table { border-collapse: collapse; margin: 1rem 0; font-size: .95rem; font-variant-numeric: tabular-nums; }
        .scroll { overflow-x: auto; max-width: 100%; }
        caption { caption-side: top; text-align: left; color: var(--muted); font-size: .9rem; padding-bottom: .4rem; }
        th, td { padding: .3rem .75rem; text-align: left; border-bottom: 1px solid var(--rule); vertical-align: top; }
        thead th { border-bottom: 2px solid var(--ink); }
        tbody tr:nth-child(even) { background: #f6f8fa; }
        .num { text-align: right; }
        figure { margin: 1.75rem 0; }
        figure svg { display: block; margin: 0 auto; }
        figcaption { color: var(--muted); font-size: .92rem; margin-top: .5rem; max-width: 46rem; }
        .label { font-weight: 600; color: var(--ink); }
        .grid { display: grid; gap: 1rem 1.25rem; align-items: start; }
        @media (max-width: 40rem) { .grid { grid-template-columns: 1fr !important; } }
        @media print {
          @page { margin: 15mm; }
          body { font-size: 10.5pt; }
          main { max-width: none; padding: 0; }
          a { color: inherit; text-decoration: none; }
          h2 { break-after: avoid; }
          figure, .claim, tr { break-inside: avoid; }
          * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
        }

        """;
}

/// <summary>A part of a report under one heading; blocks appear in the order they are added.</summary>
public sealed class ReportSection
{
    readonly List<Block> blocks = [];

    internal ReportSection(string id, string heading) => (Id, Heading) = (id, heading);

    /// <summary>The section's anchor id, unique in its report (the contents link to it).</summary>
    public string Id { get; }
    /// <summary>The section's heading, as given.</summary>
    public string Heading { get; }
    internal IReadOnlyList<Block> Blocks => blocks;

    /// <summary>Plain text; everything is escaped.</summary>
    public ReportSection Paragraph(string text) => Add(new ParagraphBlock(text));

    /// <summary>A claim from a paper, our verdict on it, and the evidence: a sentence and the numbers behind it.</summary>
    public ReportSection Claim(string claim, VerdictKind verdict, string evidence, params (string Name, object Value)[] numbers) =>
        Add(new ClaimBlock(claim, verdict, evidence, numbers));

    /// <summary>A table; number cells are formatted and right-aligned. With a caption it is numbered.</summary>
    public ReportSection Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<object?>> rows, string? caption = null) =>
        Add(new TableBlock(header, rows.ToList(), caption));

    /// <summary>One chart under a numbered caption.</summary>
    public ReportSection Figure(SvgChart chart, string caption) => Add(new FigureBlock([chart], caption, 1));

    /// <summary>Small multiples: charts in a grid of the given number of columns (one column on narrow screens), under one caption.</summary>
    public ReportSection Figures(IReadOnlyList<SvgChart> charts, string caption, int columns = 2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        return Add(new FigureBlock(charts.ToList(), caption, Math.Min(columns, Math.Max(1, charts.Count))));
    }

    ReportSection Add(Block block)
    {
        blocks.Add(block);
        return this;
    }
}

internal abstract record Block;
internal sealed record ParagraphBlock(string Text) : Block;
internal sealed record ClaimBlock(string Claim, VerdictKind Verdict, string Evidence, IReadOnlyList<(string Name, object Value)> Numbers) : Block;
internal sealed record TableBlock(IReadOnlyList<string> Header, IReadOnlyList<IReadOnlyList<object?>> Rows, string? Caption) : Block;
internal sealed record FigureBlock(IReadOnlyList<SvgChart> Charts, string Caption, int Columns) : Block;

