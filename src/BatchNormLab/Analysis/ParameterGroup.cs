using BatchNormLab.Nn;

namespace BatchNormLab.Analysis;

/// <summary>
/// The parameters a Hessian is taken with respect to, by state-dict name (names, not tensors, so a
/// group survives <see cref="Module.To"/>). The Hessian of a group is the diagonal block of the full
/// Hessian for those parameters, the others held fixed.
/// </summary>
/// <param name="Name">The group's name in results (<see cref="AllName"/>, or a module path).</param>
/// <param name="Parameters">State-dict names of the group's parameters, in order.</param>
public sealed record ParameterGroup(string Name, IReadOnlyList<string> Parameters)
{
    /// <summary>Name of the group of every parameter.</summary>
    public const string AllName = "all";

    /// <summary>Every parameter of <paramref name="model"/>, in <see cref="Module.Parameters"/> order.</summary>
    public static ParameterGroup All(Module model) => new(AllName, model.NamedParameters().Select(p => p.Name).ToList());

    /// <summary>
    /// One group per module that owns parameters (a Linear's or Conv2d's weight and bias, a
    /// BatchNorm's γ and β), named by the module's path (e.g. <c>features.0</c>), in forward order.
    /// </summary>
    public static IReadOnlyList<ParameterGroup> Layers(Module model) =>
        model.NamedParameters()
            .Select(p => p.Name)
            .GroupBy(name => name.LastIndexOf('.') is int dot and >= 0 ? name[..dot] : "")
            .Select(g => new ParameterGroup(g.Key, g.ToList()))
            .ToList();

    /// <summary>The group's tensors in <paramref name="model"/>, in the group's order.</summary>
    public IReadOnlyList<Tensor> Resolve(Module model)
    {
        var byName = model.NamedParameters().ToDictionary(p => p.Name, p => p.Tensor);
        if (Parameters.Count == 0) throw new ArgumentException($"parameter group '{Name}' is empty");
        return Parameters.Select(name => byName.TryGetValue(name, out var t) ? t
            : throw new ArgumentException($"parameter group '{Name}': the model has no parameter '{name}'")).ToList();
    }
}
