using BatchNormLab.Data;
using BatchNormLab.Nn;
using BatchNormLab.Training;

namespace BatchNormLab.Analysis;

/// <summary>Which statistics BatchNorm layers use while a Hessian is taken; every result says which.</summary>
public enum HessianMode
{
    /// <summary>Training mode: batch statistics, functions of the weights. The Hessian of what SGD optimises.</summary>
    Training,
    /// <summary>Eval mode: running (population) statistics, constants. What PyHessian computes.</summary>
    Eval,
}

/// <summary>One part of the loss: a mean loss over <paramref name="Count"/> samples, as a function of the model.</summary>
/// <param name="Loss">The mean loss as a function of the model.</param>
/// <param name="Count">Samples the mean is over: the term's weight in the total.</param>
public sealed record LossTerm(Func<Module, Tensor> Loss, int Count)
{
    /// <summary>The mean loss of <paramref name="kind"/> on <paramref name="batch"/>, its inputs and targets taken in the model's dtype.</summary>
    public static LossTerm On(Batch batch, LossKind kind) => new(m =>
    {
        var output = m.Forward(batch.Inputs.To(m.Parameters()[0].DType));
        return TrainingLoss.Of(kind, output, batch);
    }, batch.Count);
}

/// <summary>
/// The Hessian of a model's loss with respect to a parameter group, as an operator on float64
/// vectors of the group's flat length (<see cref="ParameterVector.Flatten"/> order). The loss is the
/// sample-weighted mean of its terms (one batch, or a dataset in batches: in training mode each batch
/// normalises with its own statistics). Products are exact (double backward) in the model's dtype.
/// Every call leaves the model as it found it: weights, grads, running statistics, modes.
/// </summary>
public sealed class HessianOperator
{
    readonly IReadOnlyList<LossTerm> terms;
    readonly int samples;

    /// <summary>The model whose loss is differentiated (left as it was after every call).</summary>
    public Module Model { get; }
    /// <summary>Batch or running statistics in BatchNorm layers.</summary>
    public HessianMode Mode { get; }
    /// <summary>The parameters the Hessian is taken with respect to.</summary>
    public ParameterGroup Group { get; }

    /// <summary>Length of the vectors this operator acts on: the group's parameter count.</summary>
    public int Dimension { get; }

    /// <summary>Hessian-vector products computed so far (each over every term).</summary>
    public int Products { get; private set; }

    /// <summary>The Hessian of the sample-weighted mean of <paramref name="terms"/> with respect to <paramref name="group"/>.</summary>
    /// <param name="model">The model whose loss is differentiated.</param>
    /// <param name="terms">The loss terms; at least one.</param>
    /// <param name="mode">The statistics BatchNorm layers use.</param>
    /// <param name="group">null: all parameters.</param>
    public HessianOperator(Module model, IReadOnlyList<LossTerm> terms, HessianMode mode, ParameterGroup? group = null)
    {
        if (terms.Count == 0) throw new ArgumentException("a Hessian needs at least one loss term", nameof(terms));
        (Model, this.terms, Mode, Group) = (model, terms, mode, group ?? ParameterGroup.All(model));
        samples = terms.Sum(t => t.Count);
        Dimension = Group.Resolve(model).Sum(p => p.Length);
    }

    /// <summary>The Hessian of the loss on one batch.</summary>
    public static HessianOperator OnBatch(Module model, Batch batch, LossKind loss, HessianMode mode, ParameterGroup? group = null) =>
        new(model, [LossTerm.On(batch, loss)], mode, group);

    /// <summary>The Hessian of the mean loss over <paramref name="data"/>, taken in consecutive batches of <paramref name="batchSize"/> (the last may be smaller).</summary>
    public static HessianOperator OnDataset(Module model, Dataset data, LossKind loss, int batchSize, HessianMode mode, ParameterGroup? group = null)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be at least 1");
        var terms = new List<LossTerm>();
        for (int start = 0; start < data.Count; start += batchSize)
        {
            int[] rows = Enumerable.Range(start, Math.Min(batchSize, data.Count - start)).ToArray();
            // The batch is copied when used, not held: a dataset-wide Hessian keeps one batch in memory.
            terms.Add(new LossTerm(m => LossTerm.On(Slice(data, rows), loss).Loss(m), rows.Length));
        }
        return new HessianOperator(model, terms, mode, group);
    }

    static Batch Slice(Dataset data, int[] rows)
    {
        var part = data.Subset(rows);
        return new Batch(part.Inputs, part.Labels, part.Targets, 0, 0);
    }

    /// <summary>The same loss and mode for another parameter group (e.g. one layer).</summary>
    public HessianOperator For(ParameterGroup group) => new(Model, terms, Mode, group);

    /// <summary>The same loss and group with BatchNorm in the other mode.</summary>
    public HessianOperator In(HessianMode mode) => new(Model, terms, mode, Group);

    /// <summary>H·v.</summary>
    public double[] Apply(ReadOnlySpan<double> v)
    {
        if (v.Length != Dimension) throw new ArgumentException($"a vector of {v.Length} values for a Hessian of dimension {Dimension}", nameof(v));
        var vector = Tensor.FromArray(v.ToArray(), v.Length);
        var product = Accumulate(parameters =>
        {
            var parts = ParameterVector.Split(vector, parameters);
            return term => Autograd.HessianVectorProduct(() => term.Loss(Model), parameters, parts);
        });
        Products++;
        return product;
    }

    /// <summary>The loss and its gradient with respect to the group (flat, float64), in this operator's mode.</summary>
    public (double Loss, double[] Gradient) LossAndGradient()
    {
        double loss = 0;
        var gradient = Accumulate(parameters => term =>
        {
            using (Autograd.EnableGrad())
            {
                var value = term.Loss(Model);
                loss += value.Item() * term.Count / samples;
                return Autograd.Grad(value, parameters);
            }
        });
        return (loss, gradient);
    }

    /// <summary>Σ over terms of (count/samples)·(what <paramref name="perTerm"/> gives), flattened, with the model set to this mode and restored afterwards.</summary>
    double[] Accumulate(Func<IReadOnlyList<Tensor>, Func<LossTerm, Tensor[]>> perTerm)
    {
        var saved = ModelState.Capture(Model);
        try
        {
            Model.Train(Mode == HessianMode.Training);
            var parameters = Group.Resolve(Model);
            var compute = perTerm(parameters);
            var sum = new double[Dimension];
            foreach (var term in terms)
            {
                var values = ParameterVector.Flatten(compute(term)).ToDoubleArray();
                Vectors.AddScaled(sum, (double)term.Count / samples, values);
            }
            return sum;
        }
        finally
        {
            saved.Restore();
        }
    }
}
