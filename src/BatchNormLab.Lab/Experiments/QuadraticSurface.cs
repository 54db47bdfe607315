using BatchNormLab.Analysis;
using BatchNormLab.QuadraticTheory;

namespace BatchNormLab.Experiments;

/// <summary>R's spectrum for one case of inputs, measured on each of several draws, beside the theory.</summary>
/// <param name="Case">The case's label: the input treatment ("raw", "centred", "standardised") or the p &lt; N case.</param>
/// <param name="Inputs">The inputs' distribution: N, p, mean and variance.</param>
/// <param name="Law">The Marchenko–Pastur law the bulk is compared with, at the inputs' α and variance.</param>
/// <param name="OutlierTheory">N·m² + v, or its finite-α value when p &lt; N; NaN without an outlier.</param>
/// <param name="Outliers">Per draw, the top eigenvalue when the theory has an outlier (m ≠ 0, uncentred); empty otherwise.</param>
/// <param name="Overlaps">Per draw, |u_max·(1, …, 1)/√N| for the outlier's eigenvector; empty without an outlier.</param>
/// <param name="BulkLows">Per draw, the smallest eigenvalue that is neither zero nor the outlier.</param>
/// <param name="BulkHighs">Per draw, the largest such eigenvalue.</param>
/// <param name="Zeros">Per draw, the zero eigenvalues' count.</param>
/// <param name="TotalVariation">½·Σ_bins |measured share − Marchenko–Pastur share| of the bulk's eigenvalues over all draws, over evenly spaced bins.</param>
public sealed record QuadraticSpectrum(string Case, IidInputs Inputs, MarchenkoPastur Law, double OutlierTheory, double[] Outliers, double[] Overlaps,
    double[] BulkLows, double[] BulkHighs, int[] Zeros, double TotalVariation)
{
    /// <summary>The mean over draws of the outlier (NaN without one).</summary>
    public double Outlier => Mean(Outliers);
    /// <summary>The mean over draws of the outlier eigenvector's overlap with (1, …, 1)/√N (NaN without an outlier).</summary>
    public double Overlap => Mean(Overlaps);
    /// <summary>The mean over draws of the bulk's lower edge.</summary>
    public double BulkLow => Mean(BulkLows);
    /// <summary>The mean over draws of the bulk's upper edge.</summary>
    public double BulkHigh => Mean(BulkHighs);
    /// <summary>The mean over draws of the zero eigenvalues' count (N − p when p &lt; N, else 0, by theory).</summary>
    public double MeanZeros => Zeros.Average();
    /// <summary>The relative error |<see cref="Outlier"/> / <see cref="OutlierTheory"/> − 1| (NaN without an outlier).</summary>
    public double OutlierError => Math.Abs(Outlier / OutlierTheory - 1);
    /// <summary>The relative error of <see cref="BulkLow"/> against the law's lower edge λ−.</summary>
    public double LowError => Math.Abs(BulkLow / Law.Lower - 1);
    /// <summary>The relative error of <see cref="BulkHigh"/> against the law's upper edge λ+.</summary>
    public double HighError => Math.Abs(BulkHigh / Law.Upper - 1);

    static double Mean(double[] values) => values.Length == 0 ? double.NaN : values.Average();
}

/// <summary>Gradient descent on one treatment of the inputs at η = 1/λmax: measured, by the closed form and by the rough rule.</summary>
public sealed record QuadraticDescent(string Treatment, double LambdaMax, double LambdaMin, DescentTrace Measured, int? ClosedFormSteps, double[] ClosedFormLosses, double RuleSteps)
{
    /// <summary>The relative error of the measured steps to tolerance against the closed form's; NaN when either did not reach the tolerance.</summary>
    public double StepsError => Measured.StepsToTolerance is int k && ClosedFormSteps is int c ? Math.Abs((double)k / c - 1) : double.NaN;
}

/// <summary>
/// Seed 004 (LeCun, Kanter &amp; Solla 1991): one linear unit with squared error, whose
/// Hessian is the input correlation matrix R. Its spectrum against the theory (Marchenko–Pastur bulk,
/// zeros when p &lt; N, the outlier N·m² + v of uncentred inputs), and gradient descent on raw,
/// centred, standardised and BatchNorm-normalised inputs against the closed form along R's eigenvectors.
/// </summary>
public sealed class QuadraticSurface : Experiment
{
    /// <inheritdoc/>
    public override string Name => "quadratic";
    /// <inheritdoc/>
    public override string Figure => "LeCun, Kanter & Solla 1991 (seed 004): the quadratic error surface of a linear unit";
    /// <inheritdoc/>
    public override string Source => "LeCun, Kanter & Solla 1991, as seed 004 presents it (the Hessian of a linear unit is the input correlation matrix)";
    /// <inheritdoc/>
    public override string Claim => "The Hessian of a linear unit's squared error is the input correlation matrix R: a Marchenko–Pastur bulk, and for uncentred inputs (mean m) one outlier eigenvalue ≈ N·m² + v along (1, …, 1). " +
                                    "The outlier forces η < 2/λmax and slows gradient descent (about λmax/λmin steps); centring removes it, standardising (what BN does) also equalises the inputs' scales, and GD then needs many times fewer steps.";

    /// <summary>GD runs until E(W_k) ≤ this·E(W_0).</summary>
    public const double Tolerance = 1e-6;

    /// <summary>The verdict's bounds: outlier (relative) and its overlap with (1, …, 1)/√N against the theory, bulk edges against the theory, measured steps against the closed form, raw over standardised/BN steps, raw steps against the rough rule (a factor).</summary>
    public const double OutlierBound = 0.02, OverlapBound = 0.05, EdgeBound = 0.05, StepsBound = 0.10, SlowdownBound = 10, RoughRuleFactor = 2;

    /// <summary>The η of the stability test, as multiples of 2/λmax.</summary>
    public static readonly double[] EdgeFactors = [0.99, 1.01];

    static readonly InputTreatment[] Treatments = [InputTreatment.Raw, InputTreatment.Centred, InputTreatment.Standardised];
    const string BatchNormLabel = "BN-normalised";

    /// <param name="Inputs">The main case (p &gt; N).</param>
    /// <param name="FewSamples">The case p &lt; N, for the zero eigenvalues.</param>
    /// <param name="Draws">Independent draws of the inputs whose spectra are averaged; GD runs on the first.</param>
    /// <param name="MaxSteps">Gradient descent's step limit: a run that has not reached the tolerance by then stops.</param>
    /// <param name="EtasPerDecade">The η sweep's density, from 1e-3 to 10^0.5.</param>
    public sealed record Setting(IidInputs Inputs, IidInputs FewSamples, int Draws, int MaxSteps, int EtasPerDecade)
    {
        /// <summary>The η sweep: <see cref="EtasPerDecade"/> log-spaced values per decade from 1e-3 to 10^0.5.</summary>
        public double[] Etas => Enumerable.Range(0, 3 * EtasPerDecade + EtasPerDecade / 2 + 1).Select(i => Math.Pow(10, -3 + (double)i / EtasPerDecade)).ToArray();
    }

    /// <summary>Tiny: N = 20 for tests. Quick and paper: N = 100, p = 1000 (it takes seconds, so paper needs nothing bigger).</summary>
    public static Setting SettingOf(Preset preset) => preset == Preset.Tiny
        ? new(new IidInputs(20, 200, 1, 1), new IidInputs(20, 10, 1, 1), Draws: 3, MaxSteps: 20_000, EtasPerDecade: 2)
        : new(new IidInputs(100, 1000, 1, 1), new IidInputs(100, 50, 1, 1), Draws: 10, MaxSteps: 50_000, EtasPerDecade: 6);

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null)
    {
        var s = SettingOf(preset);
        var (a, f) = (s.Inputs, s.FewSamples);
        var etas = s.Etas;
        return ($"One linear unit y = W·x with E(W) = (1/2p)·Σ(y − W·x)². Inputs: N = {a.Dimension}, p = {a.Samples} (α = {G(a.Ratio)}), i.i.d. Gaussian with mean m = {G(a.Mean)} and variance v = {G(a.Variance)}; " +
                $"a second case with p = {f.Samples} < N (α = {G(f.Ratio)}). Spectra of R over {s.Draws} independent draws for raw, centred and standardised inputs (per input, the sample mean and the biased sample standard deviation over the p samples); " +
                $"bulk edges are each draw's smallest and largest eigenvalue that is neither zero nor the outlier. Targets from a teacher W* with N(0, 1/N) weights on the inputs the unit sees, without noise, so the minimum loss is 0. " +
                $"Gradient descent from W = 0 on the full batch at η = 1/λmax of each treatment until E ≤ {ToleranceText}·E(W₀) (at most {Count(s.MaxSteps)} steps), on every draw (figures and tables: the first); " +
                $"BN-normalised: BatchNorm1d (training mode, affine off, ε = 1e-5) over the full batch, then Linear(N, 1) without bias, trained with our autodiff and SGD. With the full batch BN's statistics are those of the whole fixed input set, so it equals standardisation up to ε. " +
                $"Closed form: E(W_k) = ½·Σ_j λ_j·(u_jᵀW*)²·(1 − ηλ_j)^2k from R's eigenpairs; rough rule: ln(1/tolerance)/2·λmax/λmin steps. " +
                $"Stability: raw inputs at η = {string.Join(" and ", EdgeFactors.Select(G))} × 2/λmax (first draw). η sweep: {etas.Length} log-spaced η from {G(etas[0])} to {G(etas[^1])} for raw, centred and standardised inputs (first draw). " +
                $"Rules over the {s.Draws} draws (the draws' spread is the noise; paired by draw where two treatments are compared): outlier: {OutlierRule.Describe("λmax(raw)", "N·m² + v")}; along (1, …, 1): {AlongOnes.Describe("overlap", "1")}; " +
                $"centred bulk edges: {EdgeRule.Describe("edge", "Marchenko–Pastur's edge")}; about λmax/λmin steps: {AboutTheRoughRule.Describe("steps(raw)", "ln(1/tolerance)/2·λmax/λmin")}; " +
                $"many times fewer steps: {Slowdown.Describe("steps(raw)", "steps(standardised or BN-normalised)")}. Exact checks: every draw with p < N has N − p zero eigenvalues; every draw's and treatment's steps within {RunFigures.Cell(StepsBound, "P0")} of the closed form's; " +
                $"raw GD converges at {G(EdgeFactors[0])}·2/λmax and diverges at {G(EdgeFactors[1])}·2/λmax.",
            $"LeCun, Kanter & Solla derive the spectrum for N → ∞; at N = {a.Dimension} the extreme eigenvalues of one draw lie a few percent inside the Marchenko–Pastur edges (Tracy–Widom fluctuations of order N^(−2/3)), hence {s.Draws} draws. " +
            "The seed writes the outlier as N·m + v (m a product of two means); we use N·m² + v, and for p < N its finite-α value (N·m² + v)(1 + v/(α·N·m²)). " +
            "The paper leaves the targets general; ours are a noise-free teacher's (targets change Q, not R, so the dynamics of the excess loss are the same). The inputs are Gaussian; the theory needs only i.i.d. inputs.");
    }

    /// <summary>The label of the p &lt; N case drawn from <paramref name="inputs"/> (a spectrum's <see cref="QuadraticSpectrum.Case"/>): "raw, p = P &lt; N".</summary>
    public static string FewSamplesCase(IidInputs inputs) => $"raw, p = {inputs.Samples} < N";

    /// <summary>The key of the outlier eigenvalue of R in case <paramref name="case"/> (e.g. "raw"), mean over draws: "raw: outlier eigenvalue".</summary>
    public static ResultKey OutlierKey(string @case) => new(@case, "outlier eigenvalue");

    /// <summary>The key of the outlier's theoretical value in case <paramref name="case"/>: "raw: outlier theory".</summary>
    public static ResultKey OutlierTheoryKey(string @case) => new(@case, "outlier theory");

    /// <summary>The key of the outlier eigenvector's overlap with (1, …, 1)/√N in case <paramref name="case"/>, mean over draws: "raw: outlier overlap with (1,…,1)/√N".</summary>
    public static ResultKey OverlapKey(string @case) => new(@case, "outlier overlap with (1,…,1)/√N");

    /// <summary>The key of the bulk's lower edge in case <paramref name="case"/>, mean over draws, beside Marchenko–Pastur's <paramref name="law"/>: "centred: bulk low (MP λ₋)", λ₋ to 4 significant digits.</summary>
    public static ResultKey BulkLowKey(string @case, double law) => new(@case, $"bulk low (MP {G(law)})");

    /// <summary>The key of the bulk's upper edge in case <paramref name="case"/>, mean over draws, beside Marchenko–Pastur's <paramref name="law"/>: "centred: bulk high (MP λ₊)", λ₊ to 4 significant digits.</summary>
    public static ResultKey BulkHighKey(string @case, double law) => new(@case, $"bulk high (MP {G(law)})");

    /// <summary>The key of the number of zero eigenvalues per draw in case <paramref name="case"/>, beside the <paramref name="expected"/> N − p: "raw, p = P &lt; N: zero eigenvalues (N − p = K)".</summary>
    public static ResultKey ZeroEigenvaluesKey(string @case, int expected) => new(@case, $"zero eigenvalues (N − p = {expected})");

    /// <summary>The key of λmax of R for input treatment <paramref name="treatment"/> (e.g. "raw", "BN-normalised"), first draw: "raw: λmax".</summary>
    public static ResultKey LambdaMaxKey(string treatment) => new(treatment, "λmax");

    /// <summary>The key of gradient descent's measured steps to tolerance at η = 1/λmax for <paramref name="treatment"/>, first draw: "raw: steps at η = 1/λmax".</summary>
    public static ResultKey StepsKey(string treatment) => new(treatment, "steps at η = 1/λmax");

    /// <summary>The key of the closed form's steps to tolerance at η = 1/λmax for <paramref name="treatment"/>, first draw: "raw: closed-form steps".</summary>
    public static ResultKey ClosedFormStepsKey(string treatment) => new(treatment, "closed-form steps");

    /// <summary>The key of the rough rule's steps, ln(1/tolerance)/2·λmax/λmin, for <paramref name="treatment"/>, first draw: "raw: rough-rule steps".</summary>
    public static ResultKey RuleStepsKey(string treatment) => new(treatment, "rough-rule steps");

    /// <summary>The key of raw inputs' gradient descent at η = <paramref name="factor"/>·2/λmax: the step it diverged at, or its steps to tolerance: "raw at 1.01·2/λmax: diverged at step".</summary>
    public static ResultKey EdgeKey(double factor, bool diverged) => new($"raw at {G(factor)}·2/λmax", diverged ? "diverged at step" : "steps to tolerance");

    /// <inheritdoc/>
    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var setting = SettingOf(context.Preset);
        var rng = new Rng(context.Seed);
        var csvEigen = new List<string> { "case,draw,index,eigenvalue" };

        context.Progress.Message(Name, $"spectra of R over {setting.Draws} draws, N = {setting.Inputs.Dimension}, p = {setting.Inputs.Samples}");
        var draws = Enumerable.Range(0, setting.Draws).Select(_ => (Inputs: setting.Inputs.Draw(rng), Teacher: LinearUnitQuadratic.RandomTeacher(rng, setting.Inputs.Dimension))).ToList();
        var quadratics = Treatments.ToDictionary(t => t, t => draws.Select(d => new LinearUnitQuadratic(t.Apply(d.Inputs), d.Teacher)).ToList());
        var fewDraws = Enumerable.Range(0, setting.Draws).Select(_ =>
        {
            var x = setting.FewSamples.Draw(rng);
            return new LinearUnitQuadratic(x, LinearUnitQuadratic.RandomTeacher(rng, setting.FewSamples.Dimension));
        }).ToList();
        var spectra = new List<QuadraticSpectrum>();
        foreach (var t in Treatments)
        {
            spectra.Add(Summarise(Label(t), setting.Inputs, quadratics[t], hasOutlier: t == InputTreatment.Raw && setting.Inputs.Mean != 0, setting.Inputs.Outlier));
            AddEigenvalues(csvEigen, Label(t), quadratics[t]);
        }
        string fewLabel = FewSamplesCase(setting.FewSamples);
        spectra.Add(Summarise(fewLabel, setting.FewSamples, fewDraws, hasOutlier: setting.FewSamples.Mean != 0, setting.FewSamples.OutlierAtRatio));
        AddEigenvalues(csvEigen, fewLabel, fewDraws);

        context.Progress.Message(Name, $"gradient descent at η = 1/λmax per treatment, on each of the {setting.Draws} draws");
        var perDraw = Treatments.ToDictionary(Label, t => quadratics[t].Select(q => Descent(Label(t), q, setting.MaxSteps)).ToList());
        perDraw[BatchNormLabel] = draws.Select(d => DescentThroughBatchNorm(d.Inputs, d.Teacher, setting.MaxSteps)).ToList();
        var descents = perDraw.Values.Select(d => d[0]).ToList();

        var raw = quadratics[InputTreatment.Raw][0];
        var edgeRuns = EdgeFactors.Select(f => raw.Descend(f * 2 / raw.LambdaMax, Tolerance, setting.MaxSteps)).ToList();

        context.Progress.Message(Name, $"steps to tolerance over {setting.Etas.Length} learning rates");
        var sweep = Treatments.Select(t =>
        {
            var q = quadratics[t][0];
            return (Treatment: t, Quadratic: q,
                Runs: setting.Etas.Select(eta => (Measured: q.Descend(eta, Tolerance, setting.MaxSteps), ClosedForm: q.PredictedSteps(eta, Tolerance, setting.MaxSteps))).ToList());
        }).ToList();

        var files = new List<string>
        {
            WriteCsv(context, "quadratic-eigenvalues.csv", csvEigen),
            WriteCsv(context, "quadratic-descent.csv", DescentCsv(descents, raw, edgeRuns)),
            WriteCsv(context, "quadratic-eta-sweep.csv", ["treatment,eta,measured_steps,closed_form_steps,diverged",
                .. sweep.SelectMany(s => s.Runs.Select(r => string.Create(CultureInfo.InvariantCulture,
                    $"{Label(s.Treatment)},{r.Measured.LearningRate:R},{r.Measured.StepsToTolerance},{r.ClosedForm},{r.Measured.Diverged}")))]),
        };

        var figures = new List<FigureData>
        {
            SpectrumFigure(spectra[0], quadratics[InputTreatment.Raw], logX: true),
            SpectrumFigure(spectra[1], quadratics[InputTreatment.Centred], logX: false),
            SpectrumFigure(spectra[3], fewDraws, logX: true),
            LossFigure(descents),
            EdgeFigure(raw, edgeRuns),
            SweepFigure(setting.Etas, sweep.Select(s => (Label(s.Treatment), s.Quadratic, s.Runs)).ToList()),
        };
        var numbers = Numbers(spectra, descents, edgeRuns);
        var tables = new List<TableData> { SpectrumTable(spectra), DescentTable(descents), EdgeTable(raw, edgeRuns, setting.MaxSteps) };
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, Judge(Evidence.Of(spectra, perDraw, edgeRuns)), figures, tables, numbers, files, clock.Elapsed.TotalSeconds);
    }

    static string Label(InputTreatment t) => t switch
    {
        InputTreatment.Raw => "raw",
        InputTreatment.Centred => "centred",
        _ => "standardised",
    };

    static string G(double v) => RunFigures.Cell(v, "G4");
    static readonly string ToleranceText = Tolerance.ToString("0e0", CultureInfo.InvariantCulture);
    static string Percent(double v) => RunFigures.Cell(v, "P1");
    static string Count(int v) => v.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>Zeros and the outlier set apart; per draw, the bulk's extremes; the bulk's distance from the law over all draws.</summary>
    static QuadraticSpectrum Summarise(string label, IidInputs inputs, IReadOnlyList<LinearUnitQuadratic> draws, bool hasOutlier, double outlierTheory)
    {
        var bulks = draws.Select(q => Bulk(q, hasOutlier)).ToList();
        double[] outliers = hasOutlier ? draws.Select(q => q.LambdaMax).ToArray() : [];
        double[] overlaps = hasOutlier ? draws.Select(q => Math.Abs(q.Eigenvector(q.Dimension - 1).Sum()) / Math.Sqrt(q.Dimension)).ToArray() : [];
        var law = inputs.Bulk;
        // bins over the law's support widened by a quarter, where every bulk eigenvalue falls
        var edges = Reports.Histogram.EvenEdges(Math.Max(0, law.Lower - 0.25 * (law.Upper - law.Lower)), law.Upper + 0.25 * (law.Upper - law.Lower), 24);
        double count = bulks.Sum(b => b.Length);
        double distance = 0;
        for (int i = 0; i + 1 < edges.Length; i++)
        {
            double measured = bulks.Sum(b => b.Count(l => l >= edges[i] && l < edges[i + 1])) / count;
            distance += Math.Abs(measured - law.Fraction(edges[i], edges[i + 1]) / Math.Min(1, law.Ratio));
        }
        return new QuadraticSpectrum(label, inputs, law, hasOutlier ? outlierTheory : double.NaN, outliers, overlaps,
            bulks.Select(b => b[0]).ToArray(), bulks.Select(b => b[^1]).ToArray(), draws.Select(q => q.ZeroEigenvalues).ToArray(), distance / 2);
    }

    /// <summary>The ascending eigenvalues without the zeros and, if there is one, the outlier (the top one).</summary>
    static double[] Bulk(LinearUnitQuadratic q, bool hasOutlier) => q.Eigenvalues.Skip(q.ZeroEigenvalues).SkipLast(hasOutlier ? 1 : 0).ToArray();

    static void AddEigenvalues(List<string> csv, string label, IReadOnlyList<LinearUnitQuadratic> draws)
    {
        for (int d = 0; d < draws.Count; d++)
            csv.AddRange(draws[d].Eigenvalues.Select((l, i) => string.Create(CultureInfo.InvariantCulture, $"{label},{d},{i},{l:R}")));
    }

    static QuadraticDescent Descent(string label, LinearUnitQuadratic q, int maxSteps)
    {
        double eta = 1 / q.LambdaMax;
        var trace = q.Descend(eta, Tolerance, maxSteps);
        return new QuadraticDescent(label, q.LambdaMax, q.SmallestNonzeroEigenvalue, trace, q.PredictedSteps(eta, Tolerance, maxSteps),
            q.PredictedLosses(eta, trace.Losses.Length - 1), q.RuleOfThumbSteps(Tolerance));
    }

    /// <summary>Gradient descent through BatchNorm1d (<see cref="DescendThroughBatchNorm"/>) beside the closed form of the inputs BN passes on.</summary>
    static QuadraticDescent DescentThroughBatchNorm(double[,] inputs, double[] teacher, int maxSteps)
    {
        var (seen, trace) = DescendThroughBatchNorm(inputs, teacher, Tolerance, maxSteps);
        return new QuadraticDescent(BatchNormLabel, seen.LambdaMax, seen.SmallestNonzeroEigenvalue, trace, seen.PredictedSteps(trace.LearningRate, Tolerance, maxSteps),
            seen.PredictedLosses(trace.LearningRate, trace.Losses.Length - 1), seen.RuleOfThumbSteps(Tolerance));
    }

    /// <summary>
    /// Gradient descent on the linear unit behind a BatchNorm1d layer (training mode, affine off) that
    /// normalises the full batch of <paramref name="inputs"/> (p×N) on every step, trained with autodiff
    /// and SGD in float64 at η = 1/λmax of R of BN's output, from W = 0. The targets are the teacher's on
    /// BN's output. Returns that output's quadratic (for the closed form) and the losses autodiff computed.
    /// </summary>
    public static (LinearUnitQuadratic Seen, DescentTrace Trace) DescendThroughBatchNorm(double[,] inputs, double[] teacher, double tolerance, int maxSteps)
    {
        int p = inputs.GetLength(0), n = inputs.GetLength(1);
        var x = Tensor.FromArray(inputs.Cast<double>().ToArray(), p, n);
        var norm = new BatchNorm1d(n, affine: false);
        var unit = new Linear(n, 1, bias: false);
        var model = new Sequential(norm, unit);
        model.To(DType.Float64);
        for (int i = 0; i < n; i++) unit.Weight.SetFlat(i, 0);

        Tensor normalised;
        using (Autograd.NoGrad()) normalised = norm.Forward(x);
        var flat = normalised.ToDoubleArray();
        var seenInputs = new double[p, n];
        for (int u = 0; u < p; u++)
            for (int i = 0; i < n; i++) seenInputs[u, i] = flat[u * n + i];
        var seen = new LinearUnitQuadratic(seenInputs, teacher);
        var targets = Tensor.FromArray(seen.Targets, p, 1);

        double eta = 1 / seen.LambdaMax;
        var sgd = new Sgd(model.Parameters(), eta);
        var losses = new List<double>();
        for (int k = 0; ; k++)
        {
            model.ZeroGrad();
            Tensor loss;
            using (Autograd.EnableGrad()) loss = model.Forward(x).MseLoss(targets) * 0.5;
            double value = loss.Item();
            losses.Add(value);
            if (k > 0 && !(value <= LinearUnitQuadratic.DivergenceFactor * losses[0])) return (seen, new DescentTrace(eta, tolerance, [.. losses], null, Diverged: true));
            if (k > 0 && value <= tolerance * losses[0]) return (seen, new DescentTrace(eta, tolerance, [.. losses], k, Diverged: false));
            if (k == maxSteps) return (seen, new DescentTrace(eta, tolerance, [.. losses], null, Diverged: false));
            loss.Backward();
            sgd.Step();
        }
    }

    static IEnumerable<string> DescentCsv(IEnumerable<QuadraticDescent> descents, LinearUnitQuadratic raw, IReadOnlyList<DescentTrace> edgeRuns)
    {
        yield return "run,eta,step,loss,closed_form_loss";
        var runs = descents.Select(d => ($"{d.Treatment} at 1/λmax", d.Measured, d.ClosedFormLosses))
            .Concat(edgeRuns.Select((t, i) => ($"raw at {G(EdgeFactors[i])}·2/λmax", t, raw.PredictedLosses(t.LearningRate, t.Losses.Length - 1))));
        foreach (var (run, trace, closedForm) in runs)
            for (int k = 0; k < trace.Losses.Length; k++)
                yield return string.Create(CultureInfo.InvariantCulture, $"{run},{trace.LearningRate:R},{k},{trace.Losses[k]:R},{closedForm[k]:R}");
    }

    /// <summary>
    /// Eigenvalues per bin (mean over draws, filled) with the Marchenko–Pastur law's expected count
    /// N·ρ(λ)·(bin width) over them; log-spaced bins on a log axis, so a far outlier and the bulk both show.
    /// </summary>
    static FigureData SpectrumFigure(QuadraticSpectrum spectrum, IReadOnlyList<LinearUnitQuadratic> draws, bool logX)
    {
        var inputs = spectrum.Inputs;
        var law = spectrum.Law;
        var nonzero = draws.SelectMany(q => q.Eigenvalues.Skip(q.ZeroEigenvalues)).ToList();
        double lo = logX ? 0.8 * Math.Min(nonzero.Min(), law.Lower) : 0;
        double hi = 1.15 * Math.Max(nonzero.Max(), law.Upper);
        const int linearBins = 30;
        const int binsPerDecade = 25;
        int bins = logX ? (int)Math.Ceiling(binsPerDecade * Math.Log10(hi / lo)) : linearBins;
        var edges = logX
            ? Enumerable.Range(0, bins + 1).Select(i => lo * Math.Pow(hi / lo, (double)i / bins)).ToArray()
            : Reports.Histogram.EvenEdges(lo, hi, bins);
        var counts = new double[bins];
        foreach (double l in nonzero)
        {
            int i = Array.BinarySearch(edges, l);
            counts[Math.Clamp(i >= 0 ? i : ~i - 1, 0, bins - 1)] += 1.0 / draws.Count;
        }
        var (x, y) = (new List<double>(), new List<double>());
        for (int i = 0; i < bins; i++)
        {
            x.AddRange([edges[i], edges[i + 1]]);
            y.AddRange([counts[i], counts[i]]);
        }
        var measured = new Series($"measured ({draws.Count} draws)", [edges[0], .. x, edges[^1]], [0, .. y, 0])
        {
            Lower = new double[2 * bins + 2],
            Upper = [0, .. y, 0],
        };
        // the width of the bin around λ: constant, or λ·(r^½ − r^−½) for log bins of ratio r
        double ratio = Math.Pow(hi / lo, 1.0 / bins);
        double Width(double l) => logX ? l * (Math.Sqrt(ratio) - 1 / Math.Sqrt(ratio)) : edges[1] - edges[0];
        var grid = Enumerable.Range(0, 201).Select(i => law.Lower + (law.Upper - law.Lower) * i / 200.0).Where(l => l > 0).ToArray();
        var theory = new Series("Marchenko–Pastur", grid, grid.Select(l => inputs.Dimension * law.Density(l) * Width(l)).ToArray()) { Theory = true };
        var references = new List<ReferenceLine>();
        if (!double.IsNaN(spectrum.OutlierTheory))
            references.Add(new ReferenceLine(spectrum.OutlierTheory, $"outlier theory {G(spectrum.OutlierTheory)}"));
        string zeros = inputs.ZeroEigenvalues > 0
            ? $" The {inputs.ZeroEigenvalues} = N − p zero eigenvalues (measured: {G(spectrum.MeanZeros)} per draw) cannot sit on the log axis and are left out."
            : "";
        string outlier = double.IsNaN(spectrum.Outlier) ? ""
            : $" The lone bar far right is the outlier (mean {G(spectrum.Outlier)}); the dashed line marks the theory, {(inputs.ZeroEigenvalues > 0 ? "(N·m² + v)(1 + v/(α·N·m²)) at this α" : "N·m² + v")}.";
        return new FigureData($"Eigenvalues of R: {spectrum.Case} (N = {inputs.Dimension}, p = {inputs.Samples})",
            $"Eigenvalues per {(logX ? "log-spaced " : "")}bin, mean over {draws.Count} draws, with the Marchenko–Pastur law's expected count (α = {G(inputs.Ratio)}, v = {G(inputs.Variance)}).{outlier}{zeros}",
            $"eigenvalue λ{(logX ? " (log scale)" : "")}", "eigenvalues per bin", [measured, theory], LogX: logX) { References = references };
    }

    static FigureData LossFigure(IReadOnlyList<QuadraticDescent> descents)
    {
        var (raw, standardised) = (descents.Single(d => d.Treatment == Label(InputTreatment.Raw)), descents.Single(d => d.Treatment == Label(InputTreatment.Standardised)));
        var series = new List<Series>();
        foreach (var d in descents)
            series.Add(new Series($"{d.Treatment} (η = {G(d.Measured.LearningRate)})", Steps(d.Measured.Losses.Length), Relative(d.Measured.Losses)));
        series.AddRange(descents.Select((d, i) => new Series(i == 0 ? "closed form" : "", Steps(d.ClosedFormLosses.Length), Relative(d.ClosedFormLosses)) { Theory = true }));
        return new FigureData("GD at η = 1/λmax, per input treatment",
            $"E(W_k)/E(W₀) measured (BN-normalised: computed by autodiff through BatchNorm1d) and by the closed form (dashed, on top), until {ToleranceText}; centred, standardised and BN-normalised inputs coincide. " +
            $"The raw inputs' outlier makes their η = 1/λmax {G(raw.LambdaMax / standardised.LambdaMax)} times smaller than the standardised inputs', so their slowest mode (λmin = {G(raw.LambdaMin)}) decays that much more slowly.",
            "step k (log scale)", "E(W_k)/E(W₀)", series, LogX: true, LogY: true) { References = [new ReferenceLine(Tolerance, "tolerance", Horizontal: true)] };
    }

    static FigureData EdgeFigure(LinearUnitQuadratic raw, IReadOnlyList<DescentTrace> runs)
    {
        var series = runs.Select((t, i) => new Series($"η = {G(EdgeFactors[i])}·2/λmax", Steps(t.Losses.Length), Relative(t.Losses))
        {
            DivergedAt = t.Diverged ? t.Losses.Length - 1 : null,
        }).ToList();
        series.AddRange(runs.Select((t, i) => new Series(i == 0 ? "closed form" : "", Steps(t.Losses.Length), Relative(raw.PredictedLosses(t.LearningRate, t.Losses.Length - 1))) { Theory = true }));
        return new FigureData("Raw inputs just below and above η = 2/λmax",
            $"E(W_k)/E(W₀) on raw inputs (λmax = {G(raw.LambdaMax)}): the top mode's factor |1 − ηλmax| is {string.Join(" and ", runs.Select(t => G(Math.Abs(1 - t.LearningRate * raw.LambdaMax))))}, so GD converges slowly below 2/λmax and diverges above (× where the loss passed {G(LinearUnitQuadratic.DivergenceFactor)}·E(W₀)).",
            "step k", "E(W_k)/E(W₀)", series, LogY: true) { References = [new ReferenceLine(Tolerance, "tolerance", Horizontal: true)] };
    }

    static FigureData SweepFigure(double[] etas, IReadOnlyList<(string Label, LinearUnitQuadratic Quadratic, List<(DescentTrace Measured, int? ClosedForm)> Runs)> sweep)
    {
        static double Steps(int? k) => k is int v ? v : double.NaN;
        var series = sweep.Select(s => new Series(s.Label, etas, s.Runs.Select(r => Steps(r.Measured.StepsToTolerance)).ToArray())
        {
            Markers = true,
            DivergedAt = s.Runs.FirstOrDefault(r => r.Measured.Diverged).Measured?.LearningRate,
        }).ToList();
        series.AddRange(sweep.Select((s, i) => new Series(i == 0 ? "closed form" : "", etas, s.Runs.Select(r => Steps(r.ClosedForm)).ToArray()) { Theory = true }));
        // thresholds closer than 15% share one line: centred and standardised nearly coincide when v = 1
        var references = new List<ReferenceLine>();
        foreach (var group in sweep.Select(s => (s.Label, Edge: 2 / s.Quadratic.LambdaMax)).OrderBy(e => e.Edge)
                     .Aggregate(new List<List<(string Label, double Edge)>>(), (groups, e) =>
                     {
                         if (groups.Count > 0 && e.Edge < 1.15 * groups[^1][0].Edge) groups[^1].Add(e);
                         else groups.Add([e]);
                         return groups;
                     }))
            references.Add(new ReferenceLine(group[0].Edge, $"2/λmax: {string.Join(", ", group.Select(e => e.Label))}"));
        return new FigureData("Steps to tolerance against η",
            $"GD steps until E ≤ {ToleranceText}·E(W₀), measured (markers) and by the closed form (dashed); where the treatments converge they need the same steps, set by the same slowest mode. " +
            "Beyond 2/λmax (grey lines) GD diverges: × marks the first diverging η, and no point is drawn. " +
            $"Steps fall as 1/η until η nears 2/λmax, which the raw inputs' outlier puts {G(sweep.Max(s => s.Quadratic.LambdaMax) / sweep.Min(s => s.Quadratic.LambdaMax))} times lower.",
            "learning rate η (log scale)", "steps to tolerance", series, LogX: true, LogY: true) { References = references };
    }

    static double[] Steps(int count) => Enumerable.Range(0, count).Select(k => (double)k).ToArray();
    static double[] Relative(double[] losses) => losses.Select(l => l / losses[0]).ToArray();

    static TableData SpectrumTable(IReadOnlyList<QuadraticSpectrum> spectra) => new(
        "Spectrum of R (means over draws; bulk: the eigenvalues that are neither zero nor the outlier; distance: total variation between the bulk's histogram and the law's, 24 bins)",
        ["inputs (N, p)", "outlier (theory)", "error", "overlap with (1,…,1)/√N", "bulk low (MP λ−)", "error", "bulk high (MP λ+)", "error", "distance to MP", "zeros (N − p)"],
        spectra.Select(s => (IReadOnlyList<string>)[$"{s.Case} ({s.Inputs.Dimension}, {s.Inputs.Samples})",
            double.IsNaN(s.Outlier) ? "none" : $"{G(s.Outlier)} ({G(s.OutlierTheory)})", Percent(s.OutlierError), RunFigures.Cell(s.Overlap, "F4"),
            $"{G(s.BulkLow)} ({G(s.Law.Lower)})", Percent(s.LowError), $"{G(s.BulkHigh)} ({G(s.Law.Upper)})", Percent(s.HighError),
            RunFigures.Cell(s.TotalVariation, "F3"), $"{G(s.MeanZeros)} ({s.Inputs.ZeroEigenvalues})"]).ToList());

    static TableData DescentTable(IReadOnlyList<QuadraticDescent> descents)
    {
        double standardised = descents.Single(d => d.Treatment == Label(InputTreatment.Standardised)).Measured.StepsToTolerance ?? double.NaN;
        return new($"Gradient descent at η = 1/λmax until E ≤ {ToleranceText}·E(W₀) (rough rule: ln(1/tolerance)/2·λmax/λmin)",
            ["inputs", "λmax", "λmin (nonzero)", "λmax/λmin", "measured steps", "closed form", "difference", "rough rule", "× standardised"],
            descents.Select(d => (IReadOnlyList<string>)[d.Treatment, G(d.LambdaMax), G(d.LambdaMin), G(d.LambdaMax / d.LambdaMin),
                d.Measured.StepsToTolerance?.ToString(CultureInfo.InvariantCulture) ?? "not reached", d.ClosedFormSteps?.ToString(CultureInfo.InvariantCulture) ?? "not reached",
                Percent(d.StepsError), RunFigures.Cell(d.RuleSteps, "F0"), G((d.Measured.StepsToTolerance ?? double.NaN) / standardised)]).ToList());
    }

    static TableData EdgeTable(LinearUnitQuadratic raw, IReadOnlyList<DescentTrace> runs, int maxSteps) => new(
        $"Raw inputs at the stability limit 2/λmax = {G(2 / raw.LambdaMax)}",
        ["η / (2/λmax)", "η", "|1 − ηλmax|", "measured", "closed form"],
        runs.Select((t, i) => (IReadOnlyList<string>)[G(EdgeFactors[i]), G(t.LearningRate), G(Math.Abs(1 - t.LearningRate * raw.LambdaMax)), Outcome(t),
            raw.PredictedSteps(t.LearningRate, Tolerance, maxSteps) is int k ? $"converges in {k} steps" : $"does not converge in {Count(maxSteps)} steps"]).ToList());

    static string Outcome(DescentTrace t) =>
        t.Diverged ? $"diverges (loss above {G(LinearUnitQuadratic.DivergenceFactor)}·E(W₀) at step {t.Losses.Length - 1})"
        : t.StepsToTolerance is int k ? $"converges in {k} steps" : $"not converged after {t.Losses.Length - 1} steps";

    static Dictionary<ResultKey, double> Numbers(IReadOnlyList<QuadraticSpectrum> spectra, IReadOnlyList<QuadraticDescent> descents, IReadOnlyList<DescentTrace> edgeRuns)
    {
        var numbers = new Dictionary<ResultKey, double>();
        foreach (var s in spectra)
        {
            if (!double.IsNaN(s.Outlier))
            {
                numbers[OutlierKey(s.Case)] = s.Outlier;
                numbers[OutlierTheoryKey(s.Case)] = s.OutlierTheory;
                numbers[OverlapKey(s.Case)] = s.Overlap;
            }
            numbers[BulkLowKey(s.Case, s.Law.Lower)] = s.BulkLow;
            numbers[BulkHighKey(s.Case, s.Law.Upper)] = s.BulkHigh;
            if (s.Inputs.ZeroEigenvalues > 0) numbers[ZeroEigenvaluesKey(s.Case, s.Inputs.ZeroEigenvalues)] = s.MeanZeros;
        }
        foreach (var d in descents)
        {
            numbers[LambdaMaxKey(d.Treatment)] = d.LambdaMax;
            numbers[StepsKey(d.Treatment)] = d.Measured.StepsToTolerance ?? double.NaN;
            numbers[ClosedFormStepsKey(d.Treatment)] = d.ClosedFormSteps ?? double.NaN;
            numbers[RuleStepsKey(d.Treatment)] = d.RuleSteps;
        }
        for (int i = 0; i < edgeRuns.Count; i++)
            numbers[EdgeKey(EdgeFactors[i], edgeRuns[i].Diverged)] = edgeRuns[i].Diverged ? edgeRuns[i].Losses.Length - 1 : edgeRuns[i].StepsToTolerance ?? double.NaN;
        return numbers;
    }

    /// <summary>
    /// What the verdict is decided on: per draw (in draw order, paired across treatments), the raw inputs'
    /// outlier and its eigenvector's overlap with (1, …, 1)/√N, the centred bulk's edges, and GD's steps at
    /// η = 1/λmax; the theory's values; and the exact checks (zero count, closed-form steps, stability edge).
    /// </summary>
    public sealed record Evidence(SeedValues Outliers, double OutlierTheory, SeedValues Overlaps, SeedValues CentredLow, double LawLower, SeedValues CentredHigh, double LawUpper,
        IReadOnlyList<int> FewZeros, int ExpectedZeros, double WorstStepsError, DescentTrace BelowEdge, DescentTrace AboveEdge,
        SeedValues RawSteps, SeedValues StandardisedSteps, SeedValues BatchNormSteps, SeedValues RawRoughRule)
    {
        /// <summary>The evidence from the measured spectra (raw, centred, standardised, few samples, in that order), the descents per draw and the two runs at the stability edge.</summary>
        internal static Evidence Of(IReadOnlyList<QuadraticSpectrum> spectra, IReadOnlyDictionary<string, List<QuadraticDescent>> perDraw, IReadOnlyList<DescentTrace> edgeRuns)
        {
            var (raw, centred, few) = (spectra[0], spectra[1], spectra[^1]);
            SeedValues Steps(string treatment) => new($"steps, {treatment} (per draw)", perDraw[treatment].Select(d => d.Measured.StepsToTolerance is int k ? k : double.NaN));
            double worst = perDraw.Values.SelectMany(d => d).Max(d => double.IsNaN(d.StepsError) ? double.PositiveInfinity : d.StepsError);
            return new Evidence(new("λmax, raw (per draw)", raw.Outliers), raw.OutlierTheory, new("overlap with (1,…,1)/√N (per draw)", raw.Overlaps),
                new("centred bulk low (per draw)", centred.BulkLows), centred.Law.Lower, new("centred bulk high (per draw)", centred.BulkHighs), centred.Law.Upper,
                few.Zeros, few.Inputs.ZeroEigenvalues, worst, edgeRuns[0], edgeRuns[1],
                Steps(Label(InputTreatment.Raw)), Steps(Label(InputTreatment.Standardised)), Steps(BatchNormLabel),
                new("rough rule ln(1/tolerance)/2·λmax/λmin, raw (per draw)", perDraw[Label(InputTreatment.Raw)].Select(d => d.RuleSteps)));
        }
    }

    /// <summary>The outlier ≈ N·m² + v: per draw within ±2% (ratio scale).</summary>
    public static readonly Rule OutlierRule = Rule.Factor(Claimed.Same, 1 + OutlierBound) with { Over = "draws" };

    /// <summary>The outlier along (1, …, 1): overlap within 0.05 of 1.</summary>
    public static readonly Rule AlongOnes = new(Claimed.Same, OverlapBound);

    /// <summary>The centred bulk's edges at Marchenko–Pastur's: per draw within ±5% (ratio scale).</summary>
    public static readonly Rule EdgeRule = Rule.Factor(Claimed.Same, 1 + EdgeBound) with { Over = "draws" };

    /// <summary>"Many times fewer steps": the raw inputs need more than 10× the steps of standardised or BN-normalised ones (ratio scale, paired by draw).</summary>
    public static readonly Rule Slowdown = Rule.Factor(Claimed.Greater, SlowdownBound) with { Over = "draws" };

    /// <summary>"About λmax/λmin steps": the raw inputs' steps within a factor of 2 of ln(1/tolerance)/2·λmax/λmin (the rough rule counts the slowest mode alone).</summary>
    public static readonly Rule AboutTheRoughRule = Rule.Factor(Claimed.Same, RoughRuleFactor) with { Over = "draws" };

    /// <summary>
    /// Each sub-claim of the claim: the outlier at N·m² + v and along (1, …, 1); the centred bulk (no outlier)
    /// within Marchenko–Pastur's edges; N − p zeros when p &lt; N (exact); GD's steps within 10% of the closed
    /// form on every draw and treatment, converging below 2/λmax and diverging above (exact checks); the raw
    /// inputs' steps about the rough rule's and more than 10× those of standardised and BN-normalised inputs.
    /// </summary>
    public static Verdict Judge(Evidence e) => Verdict.Of(
    [
        OutlierRule.Judge("uncentred inputs give one outlier eigenvalue ≈ N·m² + v", e.Outliers, e.OutlierTheory, "N·m² + v"),
        AlongOnes.Judge("the outlier's eigenvector lies along (1, …, 1)", e.Overlaps, 1, "1"),
        EdgeRule.Judge("centred inputs: the bulk's lower edge is Marchenko–Pastur's", e.CentredLow, e.LawLower, "λ−"),
        EdgeRule.Judge("centred inputs: the top eigenvalue is Marchenko–Pastur's upper edge (no outlier)", e.CentredHigh, e.LawUpper, "λ+"),
        Judgement.Check("p < N leaves N − p zero eigenvalues", $"every draw has exactly N − p = {e.ExpectedZeros}", e.FewZeros.All(z => z == e.ExpectedZeros),
            $"zero eigenvalues per draw: {string.Join(", ", e.FewZeros)}"),
        Judgement.Check("GD follows the closed form along R's eigenvectors", $"steps to tolerance within {RunFigures.Cell(StepsBound, "P0")} of the closed form's, every treatment and draw",
            e.WorstStepsError <= StepsBound, $"largest difference {Percent(e.WorstStepsError)}"),
        Judgement.Check("GD needs η < 2/λmax", $"raw inputs converge at {G(EdgeFactors[0])}·2/λmax and diverge at {G(EdgeFactors[1])}·2/λmax",
            e.BelowEdge.StepsToTolerance is not null && e.AboveEdge.Diverged, $"at {G(EdgeFactors[0])}·2/λmax {Outcome(e.BelowEdge)}; at {G(EdgeFactors[1])}·2/λmax {Outcome(e.AboveEdge)}"),
        AboutTheRoughRule.Judge("the outlier slows GD to about λmax/λmin steps", e.RawSteps, e.RawRoughRule),
        Slowdown.Judge("standardised inputs need many times fewer steps", e.RawSteps, e.StandardisedSteps),
        Slowdown.Judge("BN-normalised inputs need many times fewer steps", e.RawSteps, e.BatchNormSteps),
    ]);
}
