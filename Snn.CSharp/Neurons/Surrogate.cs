using System;
using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>
/// A surrogate-gradient family with its own parameters. The forward pass of every spike function is exactly the
/// Heaviside step (except ASGL's analog noise); the backward pass is the derivative of the family's primitive, and
/// double backward works.
/// </summary>
/// <remarks>Create instances with the static factories, e.g. <c>Surrogate.ATan(alpha: 2.0)</c>.</remarks>
public abstract class Surrogate
{
    private protected Surrogate(global::Snn.Surrogate core)
    {
        Core = global::Snn.SurrogateModule.validate(core);
    }

    /// <summary>The F# core's representation.</summary>
    internal global::Snn.Surrogate Core { get; }

    /// <summary>Logistic: g'(x) = α σ(αx)(1 - σ(αx)).</summary>
    /// <param name="alpha">Sharpness α &gt; 0.</param>
    public static SigmoidSurrogate Sigmoid(double alpha = 4.0) => new(alpha);

    /// <summary>Arc tangent: g'(x) = (α/2) / (1 + (π/2 · α x)²).</summary>
    /// <param name="alpha">Sharpness α &gt; 0.</param>
    /// <exception cref="ArgumentException"><paramref name="alpha"/> is not a finite positive number.</exception>
    public static ATanSurrogate ATan(double alpha = 2.0) => new(alpha);

    /// <summary>Fast sigmoid: g'(x) = α / (2 (1 + α|x|)²).</summary>
    /// <param name="alpha">Sharpness α &gt; 0.</param>
    public static FastSigmoidSurrogate FastSigmoid(double alpha = 10.0) => new(alpha);

    /// <summary>SuperSpike (Zenke &amp; Ganguli 2018): g'(x) = 1 / (1 + β|x|)², unnormalised.</summary>
    /// <param name="beta">Sharpness β &gt; 0.</param>
    public static SuperSpikeSurrogate SuperSpike(double beta = 10.0) => new(beta);

    /// <summary>Triangle: g'(x) = max(0, 1 - |x|/w) / w.</summary>
    /// <param name="halfWidth">Half-width w &gt; 0.</param>
    public static TriangleSurrogate Triangle(double halfWidth = 1.0) => new(halfWidth);

    /// <summary>Rectangle (boxcar): g'(x) = 1/w for |x| &lt; w/2.</summary>
    /// <param name="width">Width w &gt; 0.</param>
    public static RectangleSurrogate Rectangle(double width = 1.0) => new(width);

    /// <summary>Gaussian: g'(x) = N(x; 0, σ²).</summary>
    /// <param name="sigma">Standard deviation σ &gt; 0.</param>
    public static GaussianSurrogate Gaussian(double sigma = 0.5) => new(sigma);

    /// <summary>Piecewise exponential: g'(x) = (α/2) e^{-α|x|}.</summary>
    /// <param name="alpha">Sharpness α &gt; 0.</param>
    public static PiecewiseExpSurrogate PiecewiseExp(double alpha = 1.0) => new(alpha);

    /// <summary>SLAYER's exponential density: g'(x) = (scale / (2τ)) e^{-|x|/τ}.</summary>
    /// <param name="tau">Decay τ &gt; 0.</param>
    /// <param name="scale">Scale &gt; 0 (1 = normalised).</param>
    public static SlayerExpSurrogate SlayerExp(double tau = 1.0, double scale = 1.0) => new(tau, scale);

    /// <summary>
    /// Adaptive smoothing gradient learning (ASGL): the backward pass is the derivative of H_α with a learnable
    /// width α; with probability <paramref name="noise"/> an element outputs the analog H_α(x) instead of a spike.
    /// </summary>
    /// <param name="width">Width α: a scalar or per-neuron tensor, all &gt; 0; may require grad to be learned.</param>
    /// <param name="noise">Probability p in [0, 1] of the analog output (0 in evaluation).</param>
    /// <param name="linearRamp">Use the linear ramp clamp(x/α + 1/2, 0, 1) instead of the logistic σ(x/α).</param>
    public static AsglSurrogate Asgl(Tensor width, double noise = 0.0, bool linearRamp = false) => new(width, noise, linearRamp);
}

/// <summary>The logistic surrogate family.</summary>
public sealed class SigmoidSurrogate : Surrogate
{
    internal SigmoidSurrogate(double alpha) : base(global::Snn.Surrogate.NewSigmoid(alpha)) => Alpha = alpha;
    /// <summary>Sharpness α.</summary>
    public double Alpha { get; }
}

/// <summary>The arc-tangent surrogate family (Fang et al. 2021).</summary>
public sealed class ATanSurrogate : Surrogate
{
    internal ATanSurrogate(double alpha) : base(global::Snn.Surrogate.NewATan(alpha)) => Alpha = alpha;
    /// <summary>Sharpness α of the surrogate derivative (α/2) / (1 + (π/2 · α · x)²).</summary>
    public double Alpha { get; }
}

/// <summary>The fast-sigmoid surrogate family.</summary>
public sealed class FastSigmoidSurrogate : Surrogate
{
    internal FastSigmoidSurrogate(double alpha) : base(global::Snn.Surrogate.NewFastSigmoid(alpha)) => Alpha = alpha;
    /// <summary>Sharpness α.</summary>
    public double Alpha { get; }
}

/// <summary>The SuperSpike surrogate family.</summary>
public sealed class SuperSpikeSurrogate : Surrogate
{
    internal SuperSpikeSurrogate(double beta) : base(global::Snn.Surrogate.NewSuperSpike(beta)) => Beta = beta;
    /// <summary>Sharpness β.</summary>
    public double Beta { get; }
}

/// <summary>The triangle surrogate family.</summary>
public sealed class TriangleSurrogate : Surrogate
{
    internal TriangleSurrogate(double halfWidth) : base(global::Snn.Surrogate.NewTriangle(halfWidth)) => HalfWidth = halfWidth;
    /// <summary>Half-width w.</summary>
    public double HalfWidth { get; }
}

/// <summary>The rectangle (boxcar) surrogate family.</summary>
public sealed class RectangleSurrogate : Surrogate
{
    internal RectangleSurrogate(double width) : base(global::Snn.Surrogate.NewRectangle(width)) => Width = width;
    /// <summary>Width w.</summary>
    public double Width { get; }
}

/// <summary>The Gaussian surrogate family.</summary>
public sealed class GaussianSurrogate : Surrogate
{
    internal GaussianSurrogate(double sigma) : base(global::Snn.Surrogate.NewGaussian(sigma)) => Sigma = sigma;
    /// <summary>Standard deviation σ.</summary>
    public double Sigma { get; }
}

/// <summary>The piecewise-exponential surrogate family.</summary>
public sealed class PiecewiseExpSurrogate : Surrogate
{
    internal PiecewiseExpSurrogate(double alpha) : base(global::Snn.Surrogate.NewPiecewiseExp(alpha)) => Alpha = alpha;
    /// <summary>Sharpness α.</summary>
    public double Alpha { get; }
}

/// <summary>SLAYER's exponential-density surrogate family.</summary>
public sealed class SlayerExpSurrogate : Surrogate
{
    internal SlayerExpSurrogate(double tau, double scale) : base(global::Snn.Surrogate.NewSlayerExp(tau, scale))
    {
        Tau = tau;
        Scale = scale;
    }
    /// <summary>Decay τ.</summary>
    public double Tau { get; }
    /// <summary>Scale of the density.</summary>
    public double Scale { get; }
}

/// <summary>The ASGL surrogate (adaptive smoothing gradient learning) with a learnable width.</summary>
public sealed class AsglSurrogate : Surrogate
{
    internal AsglSurrogate(Tensor width, double noise, bool linearRamp)
        : base(global::Snn.Surrogate.NewAsgl(linearRamp ? global::Snn.AsglShape.LinearRamp : global::Snn.AsglShape.LogisticRamp,
                                             width ?? throw new ArgumentNullException(nameof(width)), noise))
    {
        Width = width;
        Noise = noise;
    }
    /// <summary>The width tensor α.</summary>
    public Tensor Width { get; }
    /// <summary>The analog-output probability p.</summary>
    public double Noise { get; }

    /// <summary>ASGL's schedule: p₀ · γ^m where m counts the milestones already reached at <paramref name="epoch"/>.</summary>
    /// <param name="p0">Initial probability.</param>
    /// <param name="gamma">Decay per milestone.</param>
    /// <param name="milestones">Epochs at which p decays.</param>
    /// <param name="epoch">The current epoch.</param>
    /// <returns>The probability for that epoch.</returns>
    public static double NoiseAt(double p0, double gamma, int[] milestones, int epoch) =>
        global::Snn.SurrogateModule.asglNoiseAt(p0, gamma, Microsoft.FSharp.Collections.ListModule.OfArray(milestones), epoch);
}
