namespace BatchNormLab.Experiments;

/// <summary>What a sub-claim states about a measure of one setting (a) against another's (b) or a constant.</summary>
public enum Claimed
{
    /// <summary>a exceeds b by more than the margin.</summary>
    Greater,
    /// <summary>a falls below b by more than the margin.</summary>
    Less,
    /// <summary>a and b agree within ± the margin (an equivalence claim: "about as well").</summary>
    Same,
    /// <summary>a is not below b by more than the margin ("does not reduce").</summary>
    NotLess,
    /// <summary>a is not above b by more than the margin.</summary>
    NotGreater,
}

/// <summary>How two values are compared: by their difference, or by their ratio (measures that span decades; the margin is then a factor).</summary>
public enum Scale
{
    /// <summary>d = a − b; the margin is in the values' own unit.</summary>
    Difference,
    /// <summary>d = ln(a / b); the margin is the log of a factor, and values must be positive.</summary>
    Ratio,
}

/// <summary>
/// A decision rule, fixed in the experiment's code and description before any run. Over the seeds
/// s = 1…n, d_s = a_s − b_s (or ln(a_s/b_s) on the ratio scale; b may be a constant), paired by seed;
/// d̄ is their mean, SE = sd(d)/√n, and the noise band is d̄ ± 2·SE. With m the margin (ln of the factor on the ratio scale):
/// <list type="bullet">
/// <item>Greater: agrees when d̄ &gt; m and d̄ − 2SE &gt; 0; does not agree when d̄ + 2SE &lt; m (the effect is absent, too small, or reversed). Less mirrors it.</item>
/// <item>Same: agrees when |d̄| + 2SE ≤ m; does not agree when |d̄| − 2SE &gt; m.</item>
/// <item>NotLess: agrees when d̄ − 2SE &gt; −m; does not agree when d̄ + 2SE &lt; −m. NotGreater mirrors it.</item>
/// </list>
/// Anything else is inconclusive, and so is a single seed (no noise estimate) or a value that is not
/// finite (or not positive, on the ratio scale). Every outcome is reachable: the tests feed each.
/// </summary>
public sealed record Rule(Claimed Claimed, double Margin, Scale Scale = Scale.Difference)
{
    /// <summary>Values are shown multiplied by this (100 for accuracies in points).</summary>
    public double DisplayFactor { get; init; } = 1;
    /// <summary>The unit shown after differences ("points"), empty for none.</summary>
    public string Unit { get; init; } = "";
    /// <summary>What the values are one per: "seeds" (training runs), or e.g. "draws" of a random input.</summary>
    public string Over { get; init; } = "seeds";

    /// <summary>A difference in accuracy (fractions), shown in percentage points; <paramref name="points"/> is the margin in points.</summary>
    public static Rule Accuracy(Claimed claimed, double points) => new(claimed, points / 100) { DisplayFactor = 100, Unit = "points" };

    /// <summary>A ratio with the margin as a factor (e.g. 2: "at least twice"; 1.25: "within 25%").</summary>
    public static Rule Factor(Claimed claimed, double factor) => new(claimed, Math.Log(factor), Scale.Ratio);

    /// <summary>The smallest number of seeds a comparison can be judged on.</summary>
    public const int MinimumSeeds = 2;

    /// <summary>The rule in words, with the compared quantities named: "paired by seed, d = ln(BN/standard); agrees when …".</summary>
    public string Describe(string a, string b)
    {
        string d = Scale == Scale.Ratio ? $"d = ln({a} / {b})" : $"d = {a} − {b}";
        string m = MarginText();
        string rule = Claimed switch
        {
            Claimed.Greater => $"agrees when mean d > {m} and mean d − 2 SE > 0; does not agree when mean d + 2 SE < {m}",
            Claimed.Less => $"agrees when mean d < −{m} and mean d + 2 SE < 0; does not agree when mean d − 2 SE > −{m}",
            Claimed.Same => $"agrees when |mean d| + 2 SE ≤ {m}; does not agree when |mean d| − 2 SE > {m}",
            Claimed.NotLess => $"agrees when mean d − 2 SE > −{m}; does not agree when mean d + 2 SE < −{m}",
            _ => $"agrees when mean d + 2 SE < {m}; does not agree when mean d − 2 SE > {m}",
        };
        return $"{d} per {Over.TrimEnd('s')} (SE: standard error of the mean over {Over}); {rule}; inconclusive otherwise";
    }

    string MarginText() => Scale == Scale.Ratio
        ? $"ln {Math.Exp(Margin).ToString("0.###", CultureInfo.InvariantCulture)}"
        : (Margin * DisplayFactor).ToString("0.####", CultureInfo.InvariantCulture) + (Unit.Length > 0 ? " " + Unit : "");

    /// <summary>Judges <paramref name="claim"/> from per-seed values of a and b (paired: the same seeds in the same order).</summary>
    public Judgement Judge(string claim, SeedValues a, SeedValues b)
    {
        if (a.Values.Count != b.Values.Count) throw new ArgumentException($"'{a.Label}' has {a.Values.Count} seeds, '{b.Label}' {b.Values.Count}: a paired comparison needs the same seeds");
        return Decide(claim, Describe(a.Label, b.Label), [a, b], a.Values.Zip(b.Values, Delta).ToArray());
    }

    /// <summary>Judges <paramref name="claim"/> from per-seed values of a against a constant.</summary>
    public Judgement Judge(string claim, SeedValues a, double constant, string constantName)
    {
        string name = $"{constantName} ({Show(constant)})";
        return Decide(claim, Describe(a.Label, name), [a], a.Values.Select(v => Delta(v, constant)).ToArray());
    }

    double Delta(double a, double b) => Scale == Scale.Ratio ? (a > 0 && b > 0 ? Math.Log(a / b) : double.NaN) : a - b;

    Judgement Decide(string claim, string rule, IReadOnlyList<SeedValues> values, double[] d)
    {
        var (mean, se) = MeanAndError(d);
        string result = Scale == Scale.Ratio
            ? $"mean d = {G(mean)} ± {G(se)} (ratio ×{G(Math.Exp(mean))}, band ×{G(Math.Exp(mean - 2 * se))} to ×{G(Math.Exp(mean + 2 * se))}) over {d.Length} {Over}"
            : $"mean d = {Signed(mean)} ± {Show(se)}{(Unit.Length > 0 ? " " + Unit : "")} over {d.Length} {Over}";
        VerdictKind kind;
        if (d.Any(v => !double.IsFinite(v))) (kind, result) = (VerdictKind.Inconclusive, $"not every seed gave a finite {(Scale == Scale.Ratio ? "positive " : "")}value ({result})");
        else if (d.Length < MinimumSeeds) (kind, result) = (VerdictKind.Inconclusive, $"one value: no noise estimate ({result})");
        else kind = Outcome(mean, 2 * se);
        return new Judgement(claim, rule, kind, result) { Values = values, Mean = mean, StandardError = se };
    }

    /// <summary>The three-way decision from the mean difference and the noise band's half-width (2 SE).</summary>
    internal VerdictKind Outcome(double mean, double band)
    {
        double m = Margin;
        return Claimed switch
        {
            Claimed.Greater => mean > m && mean - band > 0 ? VerdictKind.Agrees : mean + band < m ? VerdictKind.DoesNotAgree : VerdictKind.Inconclusive,
            Claimed.Less => mean < -m && mean + band < 0 ? VerdictKind.Agrees : mean - band > -m ? VerdictKind.DoesNotAgree : VerdictKind.Inconclusive,
            Claimed.Same => Math.Abs(mean) + band <= m ? VerdictKind.Agrees : Math.Abs(mean) - band > m ? VerdictKind.DoesNotAgree : VerdictKind.Inconclusive,
            Claimed.NotLess => mean - band > -m ? VerdictKind.Agrees : mean + band < -m ? VerdictKind.DoesNotAgree : VerdictKind.Inconclusive,
            _ => mean + band < m ? VerdictKind.Agrees : mean - band > m ? VerdictKind.DoesNotAgree : VerdictKind.Inconclusive,
        };
    }

    /// <summary>The mean and its standard error sd/√n (NaN for one value).</summary>
    public static (double Mean, double StandardError) MeanAndError(IReadOnlyList<double> values)
    {
        double mean = values.Average();
        if (values.Count < 2) return (mean, double.NaN);
        double variance = values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1);
        return (mean, Math.Sqrt(variance / values.Count));
    }

    string Show(double v) => RunFigures.Cell(v * DisplayFactor, "G4");
    string Signed(double v) => double.IsNaN(v) ? "-" : (v < 0 ? "−" : "+") + Math.Abs(v * DisplayFactor).ToString("G4", CultureInfo.InvariantCulture);
    static string G(double v) => RunFigures.Cell(v, "G3");
}
