namespace Lora.Autograd;

public static partial class Ops
{
    /// <summary>The scalar y = (1/N)·Σᵢ xᵢ over all N elements.</summary>
    /// <remarks>Backward: dxᵢ += dy/N for every i.</remarks>
    public static Tensor Mean(Tensor x)
    {
        RequireNotNull("Mean", x);
        return Reduce("Mean", x, x.Length == 0 ? float.NaN : 1f / x.Length);
    }
}
