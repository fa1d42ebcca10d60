using System;
using Snn.Neurons;

namespace Snn.CSharp;

/// <summary>What happens to the membrane potential after a spike.</summary>
public enum ResetMode
{
    /// <summary>The potential is set to <see cref="LifParameters.VReset"/>.</summary>
    Hard,
    /// <summary>The threshold is subtracted from the potential.</summary>
    Soft,
    /// <summary>The potential is left as it is.</summary>
    None,
}

/// <summary>
/// Parameters of the leaky integrate-and-fire neuron, τ_m dv/dt = -(v - v_rest) + x, integrated exactly over each
/// step of <paramref name="Dt"/> ms. Times are in milliseconds.
/// </summary>
/// <param name="TauMem">Membrane time constant τ_m in ms (&gt; 0).</param>
/// <param name="Dt">Integration step in ms (&gt; 0).</param>
/// <param name="VRest">Resting potential.</param>
/// <param name="VReset">Potential after a hard reset.</param>
/// <param name="VThreshold">Firing threshold θ.</param>
/// <param name="Reset">Reset rule after a spike.</param>
/// <param name="DetachReset">Whether the reset is excluded from the gradient.</param>
/// <param name="Surrogate">Surrogate gradient of the spike; <c>null</c> means ATan(α = 2).</param>
public sealed record LifParameters(
    double TauMem = 10.0,
    double Dt = 1.0,
    double VRest = 0.0,
    double VReset = 0.0,
    double VThreshold = 1.0,
    ResetMode Reset = ResetMode.Hard,
    bool DetachReset = false,
    Surrogate? Surrogate = null)
{
    /// <summary>Checks every parameter.</summary>
    /// <returns>This instance.</returns>
    /// <exception cref="ArgumentException">A parameter is out of range; the message names it.</exception>
    public LifParameters Validate()
    {
        ToCore();
        return this;
    }

    /// <summary>The F# core's validated parameters.</summary>
    internal Snn.Neurons.LifParameters ToCore()
    {
        var reset = Reset switch
        {
            ResetMode.Hard => Snn.Neurons.ResetMode.Hard,
            ResetMode.Soft => Snn.Neurons.ResetMode.Soft,
            ResetMode.None => Snn.Neurons.ResetMode.NoReset,
            _ => throw new ArgumentException($"unknown reset mode {Reset}", nameof(Reset)),
        };
        var core = new Snn.Neurons.LifParameters(
            TauMem, Dt, VRest, VReset, VThreshold, reset, DetachReset,
            (Surrogate ?? CSharp.Surrogate.ATan()).ToCore());
        return global::Snn.Neurons.Lif.validate(core);
    }
}
