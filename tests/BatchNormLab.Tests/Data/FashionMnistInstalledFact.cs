using BatchNormLab.Data;

namespace BatchNormLab.Tests;

/// <summary>A fact that runs only where the Debian package dataset-fashion-mnist is installed (as on CI); skipped, not passed, elsewhere.</summary>
sealed class FashionMnistInstalledFactAttribute : FactAttribute
{
    public FashionMnistInstalledFactAttribute()
    {
        if (!Directory.Exists(DataDirectory.DebianFashionMnist)) Skip = $"{DataDirectory.DebianFashionMnist} not installed";
    }
}
