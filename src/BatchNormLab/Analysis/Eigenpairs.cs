namespace BatchNormLab.Analysis;

/// <summary>
/// Leading eigenvalues of a Hessian, largest magnitude first (PyHessian's "top" eigenvalues: what
/// power iteration converges to), with their unit eigenvectors (flat, in the group's order).
/// </summary>
/// <param name="Products">Hessian-vector products spent.</param>
public sealed record Eigenpairs(HessianMode Mode, string Group, double[] Values, double[][] Vectors, int Products);
