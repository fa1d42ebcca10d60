using System;

namespace Snn.CSharp;

/// <summary>
/// A surrogate-gradient family with its own parameters. The forward pass of every spike function is exactly the
/// Heaviside step; the backward pass is the derivative of the family's smooth primitive, and double backward works.
/// </summary>
/// <remarks>Create instances with the static factories, e.g. <c>Surrogate.ATan(alpha: 2.0)</c>.</remarks>
public abstract class Surrogate
{
    private protected Surrogate() { }

    /// <summary>The arc-tangent surrogate: primitive 1/2 + arctan(π/2 · α · x) / π.</summary>
    /// <param name="alpha">Sharpness α, finite and &gt; 0.</param>
    /// <exception cref="ArgumentException"><paramref name="alpha"/> is not a finite positive number.</exception>
    public static ATanSurrogate ATan(double alpha = 2.0) => new(alpha);

    /// <summary>The F# core's representation.</summary>
    internal abstract Snn.Surrogate ToCore();
}

/// <summary>The arc-tangent surrogate family (Fang et al. 2021).</summary>
public sealed class ATanSurrogate : Surrogate
{
    internal ATanSurrogate(double alpha)
    {
        global::Snn.SurrogateModule.validate(Snn.Surrogate.NewATan(alpha));
        Alpha = alpha;
    }

    /// <summary>Sharpness α of the surrogate derivative (α/2) / (1 + (π/2 · α · x)²).</summary>
    public double Alpha { get; }

    internal override Snn.Surrogate ToCore() => Snn.Surrogate.NewATan(Alpha);
}
