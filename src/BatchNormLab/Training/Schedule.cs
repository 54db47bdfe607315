namespace BatchNormLab.Training;

/// <summary>Which learning-rate schedule a run follows.</summary>
public enum ScheduleKind
{
    /// <summary>The base rate throughout.</summary>
    Constant,
    /// <summary>The base rate times γ every <see cref="Schedule.StepEvery"/> steps.</summary>
    Step,
    /// <summary>Cosine decay from the base rate to the minimum rate over the steps after warm-up.</summary>
    Cosine
}

/// <summary>
/// The learning rate at step t (0-based) of a run of <see cref="TotalSteps"/> steps:
/// <code>
/// constant: η
/// step:     η·γ^⌊t / every⌋
/// cosine:   η_min + (η − η_min)·(1 + cos(π·t'/T'))/2,   t' = t − warm-up, T' = total − warm-up
/// warm-up:  for t &lt; W the rate above times (t+1)/W (linear from η/W up to η)
/// </code>
/// </summary>
/// <param name="Kind">The schedule's shape.</param>
/// <param name="BaseRate">η, the peak learning rate; finite and ≥ 0.</param>
/// <param name="TotalSteps">The run's length in steps (the cosine's end).</param>
/// <param name="WarmupSteps">W, steps of linear warm-up (0: none).</param>
/// <param name="StepEvery">Steps between decays of a step schedule; ≥ 1 for <see cref="ScheduleKind.Step"/>.</param>
/// <param name="Gamma">γ, the step schedule's decay factor (default 0.1); &gt; 0.</param>
/// <param name="MinRate">η_min, the cosine schedule's final rate (default 0).</param>
public sealed record Schedule(ScheduleKind Kind, double BaseRate, int TotalSteps, int WarmupSteps = 0, int StepEvery = 0, double Gamma = 0.1, double MinRate = 0)
{
    /// <summary>The learning rate at 0-based step <paramref name="step"/>.</summary>
    public double At(int step)
    {
        double rate = Kind switch
        {
            ScheduleKind.Constant => BaseRate,
            ScheduleKind.Step => BaseRate * Math.Pow(Gamma, step / Math.Max(1, StepEvery)),
            ScheduleKind.Cosine => MinRate + (BaseRate - MinRate) * (1 + Math.Cos(Math.PI * Progress(step))) / 2,
            _ => throw new ArgumentOutOfRangeException(nameof(Kind), Kind, null),
        };
        return step < WarmupSteps ? rate * (step + 1) / WarmupSteps : rate;
    }

    double Progress(int step)
    {
        int span = TotalSteps - WarmupSteps;
        return span <= 0 ? 1 : Math.Clamp((double)(step - WarmupSteps) / span, 0, 1);
    }

    /// <summary>Throws with a message naming the bad setting.</summary>
    public void Validate()
    {
        if (!(BaseRate >= 0) || double.IsInfinity(BaseRate)) throw new ArgumentOutOfRangeException("lr", BaseRate, "the learning rate must be a finite number ≥ 0");
        if (WarmupSteps < 0) throw new ArgumentOutOfRangeException("warmup", WarmupSteps, "warm-up steps must be ≥ 0");
        if (Kind == ScheduleKind.Step && StepEvery < 1) throw new ArgumentOutOfRangeException("step-every", StepEvery, "a step schedule needs --step-every ≥ 1");
        if (!(Gamma > 0)) throw new ArgumentOutOfRangeException("gamma", Gamma, "gamma must be > 0");
        if (!(MinRate >= 0)) throw new ArgumentOutOfRangeException("min-lr", MinRate, "the minimum learning rate must be ≥ 0");
    }
}
