namespace BatchNormLab;

/// <summary>Element type of a tensor: float32 for training, float64 for gradient checks and Hessian analyses.</summary>
public enum DType
{
    Float32,
    Float64,
}
