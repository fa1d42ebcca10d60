using System;
using Microsoft.FSharp.Core;

namespace Snn.CSharp;

/// <summary>What happens to the membrane potential after a spike.</summary>
public enum ResetMode
{
    /// <summary>The potential is set to the reset potential.</summary>
    Hard,
    /// <summary>The threshold is subtracted from the potential.</summary>
    Soft,
    /// <summary>The potential is left as it is.</summary>
    None,
}

/// <summary>How the leak ODE is discretised over one step.</summary>
public enum Integration
{
    /// <summary>Exact exponential decay (the default).</summary>
    ExactExponential,
    /// <summary>Forward Euler, v ← v + (dt/τ)(…).</summary>
    ForwardEuler,
}

/// <summary>Conversions shared by the facade's parameter records.</summary>
internal static class Core
{
    public static global::Snn.Neurons.ResetMode Reset(ResetMode mode) => mode switch
    {
        ResetMode.Hard => global::Snn.Neurons.ResetMode.Hard,
        ResetMode.Soft => global::Snn.Neurons.ResetMode.Soft,
        ResetMode.None => global::Snn.Neurons.ResetMode.NoReset,
        _ => throw new ArgumentException($"unknown reset mode {mode}", nameof(mode)),
    };

    public static global::Snn.Neurons.Integration Scheme(Integration scheme) => scheme switch
    {
        Integration.ExactExponential => global::Snn.Neurons.Integration.ExactExponential,
        Integration.ForwardEuler => global::Snn.Neurons.Integration.ForwardEuler,
        _ => throw new ArgumentException($"unknown integration scheme {scheme}", nameof(scheme)),
    };

    public static global::Snn.Neurons.InputCoupling Coupling(double? reversal) =>
        reversal is double u ? global::Snn.Neurons.InputCoupling.NewConductance(u) : global::Snn.Neurons.InputCoupling.Direct;

    public static global::Snn.Surrogate Surrogate(Surrogate? surrogate) => (surrogate ?? CSharp.Surrogate.ATan()).Core;
}

/// <summary>
/// Parameters of the leaky integrate-and-fire neuron, τ_m dv/dt = -(v - v_rest) + g(v)·x, integrated over each step
/// of <paramref name="Dt"/> ms. Times are in milliseconds.
/// </summary>
/// <param name="TauMem">Membrane time constant τ_m in ms (&gt; 0).</param>
/// <param name="Dt">Integration step in ms (&gt; 0).</param>
/// <param name="VRest">Resting potential.</param>
/// <param name="VReset">Potential after a hard reset.</param>
/// <param name="VThreshold">Firing threshold θ.</param>
/// <param name="Reset">Reset rule after a spike.</param>
/// <param name="DetachReset">Whether the reset is excluded from the gradient.</param>
/// <param name="Surrogate">Surrogate gradient of the spike; <c>null</c> means ATan(α = 2).</param>
/// <param name="RefractorySteps">Steps without integration or spikes after each spike.</param>
/// <param name="Scheme">Discretisation of the leak.</param>
/// <param name="ConductanceReversal">When set, the input is a conductance with this reversal potential.</param>
public sealed record LifParameters(
    double TauMem = 10.0,
    double Dt = 1.0,
    double VRest = 0.0,
    double VReset = 0.0,
    double VThreshold = 1.0,
    ResetMode Reset = ResetMode.Hard,
    bool DetachReset = false,
    Surrogate? Surrogate = null,
    int RefractorySteps = 0,
    Integration Scheme = Integration.ExactExponential,
    double? ConductanceReversal = null)
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
    internal global::Snn.Neurons.LifParameters ToCore() =>
        global::Snn.Neurons.Lif.validate(new global::Snn.Neurons.LifParameters(
            TauMem, Dt, VRest, VReset, VThreshold, Core.Reset(Reset), DetachReset, RefractorySteps,
            Core.Scheme(Scheme), Core.Coupling(ConductanceReversal), Core.Surrogate(Surrogate)));
}
