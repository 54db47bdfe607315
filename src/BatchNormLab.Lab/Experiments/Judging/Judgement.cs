using System.Text.Json.Serialization;

namespace BatchNormLab.Experiments;

/// <summary>One setting's measure, one value per seed (in the order of the experiment's seeds).</summary>
[method: JsonConstructor]
public sealed record SeedValues(string Label, IReadOnlyList<double> Values)
{
    /// <summary>One setting's values, copied from any sequence, one per seed in seed order.</summary>
    public SeedValues(string label, IEnumerable<double> values) : this(label, values.ToArray()) { }

    /// <summary>"0.123, 0.131, 0.118" (scaled by <paramref name="factor"/>).</summary>
    public string Format(double factor = 1) => string.Join(", ", Values.Select(v => RunFigures.Cell(v * factor, "G4")));
}

/// <summary>
/// One sub-claim judged: its statement, the rule that decides it (fixed before the run), the per-seed
/// values it was decided on, the statistic and the outcome. A precondition (e.g. "BN trains at all")
/// that does not hold makes the experiment inconclusive rather than a disagreement.
/// </summary>
public sealed record Judgement(string Claim, string Rule, VerdictKind Kind, string Result)
{
    /// <summary>The per-seed values the rule compared (a, then b when not a constant); empty for a <see cref="Check"/>.</summary>
    public IReadOnlyList<SeedValues> Values { get; init; } = [];
    /// <summary>The mean paired difference d̄ over seeds (a log ratio on the ratio scale); NaN for a <see cref="Check"/>.</summary>
    public double Mean { get; init; } = double.NaN;
    /// <summary>The standard error of <see cref="Mean"/>, sd(d)/√n; NaN for one value or a <see cref="Check"/>.</summary>
    public double StandardError { get; init; } = double.NaN;
    /// <summary>Whether this judgement is a precondition: if it does not agree, the verdict is inconclusive rather than a disagreement.</summary>
    public bool Precondition { get; init; }

    /// <summary>A check that is not a comparison over seeds (an exact identity, a closed form): agrees or does not.</summary>
    public static Judgement Check(string claim, string rule, bool holds, string result) =>
        new(claim, rule, holds ? VerdictKind.Agrees : VerdictKind.DoesNotAgree, result);

    /// <summary>This judgement as a precondition of the others.</summary>
    public Judgement AsPrecondition() => this with { Precondition = true };

    /// <summary>"agrees", "does not agree", "inconclusive".</summary>
    public static string Name(VerdictKind kind) => kind switch
    {
        VerdictKind.Agrees => "agrees",
        VerdictKind.DoesNotAgree => "does not agree",
        _ => "inconclusive",
    };
}

public sealed partial record Verdict
{
    /// <summary>The sub-claims this verdict is the conjunction of (empty for verdicts stated in words only).</summary>
    public IReadOnlyList<Judgement> Parts { get; init; } = [];

    /// <summary>
    /// The conjunction of <paramref name="parts"/>: inconclusive when a precondition does not hold; else
    /// does not agree when any sub-claim does not agree, agrees when every one agrees, inconclusive otherwise.
    /// The reason lists each sub-claim's outcome and numbers.
    /// </summary>
    public static Verdict Of(IReadOnlyList<Judgement> parts, string? note = null)
    {
        if (parts.Count == 0) throw new ArgumentException("a verdict needs at least one sub-claim");
        var failed = parts.Where(p => p.Precondition && p.Kind != VerdictKind.Agrees).ToList();
        VerdictKind kind = failed.Count > 0 ? VerdictKind.Inconclusive
            : parts.Any(p => p.Kind == VerdictKind.DoesNotAgree) ? VerdictKind.DoesNotAgree
            : parts.All(p => p.Kind == VerdictKind.Agrees) ? VerdictKind.Agrees
            : VerdictKind.Inconclusive;
        string tally = failed.Count > 0 ? $"precondition not met: {string.Join("; ", failed.Select(p => p.Claim))}. "
            : string.Create(CultureInfo.InvariantCulture, $"{parts.Count(p => p.Kind == VerdictKind.Agrees && !p.Precondition)} of {parts.Count(p => !p.Precondition)} sub-claims agree. ");
        string reason = tally + string.Join("; ", parts.Where(p => !p.Precondition || p.Kind != VerdictKind.Agrees)
            .Select(p => $"{p.Claim}: {Judgement.Name(p.Kind)} ({p.Result})")) + (note is null ? "" : $". {note}");
        return new Verdict(kind, reason) { Parts = parts };
    }
}
