namespace BatchNormLab;

/// <summary>Element type of a tensor: float32 for training, float64 for gradient checks and Hessian analyses.</summary>
public enum DType
{
    /// <summary>32-bit IEEE 754 floating point.</summary>
    Float32,
    /// <summary>64-bit IEEE 754 floating point.</summary>
    Float64,
}
