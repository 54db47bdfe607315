namespace BatchNormLab.Analysis;

/// <summary>
/// Leading eigenvalues of a Hessian, largest magnitude first (PyHessian's "top" eigenvalues: what
/// power iteration converges to), with their unit eigenvectors (flat, in the group's order).
/// </summary>
/// <param name="Mode">BatchNorm's mode while the Hessian was taken.</param>
/// <param name="Group">Name of the parameter group the Hessian is over.</param>
/// <param name="Values">The eigenvalues, largest magnitude first.</param>
/// <param name="Vectors">The unit eigenvector of each value, flat in the group's order.</param>
/// <param name="Products">Hessian-vector products spent.</param>
public sealed record Eigenpairs(HessianMode Mode, string Group, double[] Values, double[][] Vectors, int Products);
