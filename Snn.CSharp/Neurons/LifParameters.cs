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

/// <summary>Conversions shared by the facade's parameter records, in both directions: the records resolve an
/// omitted argument against the F# core's <c>Default</c> and read its enum-like fields back through these.</summary>
internal static class Core
{
    public static global::Snn.Neurons.ResetMode Reset(ResetMode mode) => mode switch
    {
        ResetMode.Hard => global::Snn.Neurons.ResetMode.Hard,
        ResetMode.Soft => global::Snn.Neurons.ResetMode.Soft,
        ResetMode.None => global::Snn.Neurons.ResetMode.NoReset,
        _ => throw new ArgumentException($"unknown reset mode {mode}", nameof(mode)),
    };

    public static ResetMode Reset(global::Snn.Neurons.ResetMode mode) =>
        mode.IsHard ? ResetMode.Hard : mode.IsSoft ? ResetMode.Soft : ResetMode.None;

    public static global::Snn.Neurons.Integration Scheme(Integration scheme) => scheme switch
    {
        Integration.ExactExponential => global::Snn.Neurons.Integration.ExactExponential,
        Integration.ForwardEuler => global::Snn.Neurons.Integration.ForwardEuler,
        _ => throw new ArgumentException($"unknown integration scheme {scheme}", nameof(scheme)),
    };

    public static Integration Scheme(global::Snn.Neurons.Integration scheme) =>
        scheme.IsExactExponential ? Integration.ExactExponential : Integration.ForwardEuler;

    public static global::Snn.Neurons.InputCoupling Coupling(double? reversal) =>
        reversal is double u ? global::Snn.Neurons.InputCoupling.NewConductance(u) : global::Snn.Neurons.InputCoupling.Direct;

    public static double? Reversal(global::Snn.Neurons.InputCoupling coupling) =>
        coupling is global::Snn.Neurons.InputCoupling.Conductance c ? c.reversal : null;

    /// <summary>The chosen surrogate, or the F# family default <paramref name="fallback"/> when none was chosen.</summary>
    public static global::Snn.Surrogate Surrogate(Surrogate? surrogate, global::Snn.Surrogate fallback) => surrogate?.Core ?? fallback;
}

/// <summary>
/// Parameters of the leaky integrate-and-fire neuron, τ_m dv/dt = -(v - v_rest) + g(v)·x, integrated over each step
/// of <see cref="Dt"/> ms. Times are in milliseconds. Every omitted argument takes the F# core's
/// <c>Snn.Neurons.LifParameters.Default</c> (τ_m = 10 ms, dt = 1 ms, v_rest = v_reset = 0, θ = 1, hard reset,
/// exact integration, current input, ATan(2) surrogate), so the two sides cannot drift apart.
/// </summary>
public sealed record LifParameters
{
    private static global::Snn.Neurons.LifParameters D => global::Snn.Neurons.LifParameters.Default;

    /// <summary>Creates the parameters; <c>null</c> (or an omitted argument) means the F# default of that field.</summary>
    /// <param name="TauMem">Membrane time constant τ_m in ms (&gt; 0).</param>
    /// <param name="Dt">Integration step in ms (&gt; 0).</param>
    /// <param name="VRest">Resting potential.</param>
    /// <param name="VReset">Potential after a hard reset.</param>
    /// <param name="VThreshold">Firing threshold θ.</param>
    /// <param name="Reset">Reset rule after a spike.</param>
    /// <param name="DetachReset">Whether the reset is excluded from the gradient.</param>
    /// <param name="Surrogate">Surrogate gradient of the spike; <c>null</c> means the F# default (ATan, α = 2).</param>
    /// <param name="RefractorySteps">Steps without integration or spikes after each spike.</param>
    /// <param name="Scheme">Discretisation of the leak.</param>
    /// <param name="ConductanceReversal">When set, the input is a conductance with this reversal potential.</param>
    public LifParameters(double? TauMem = null, double? Dt = null, double? VRest = null, double? VReset = null,
                         double? VThreshold = null, ResetMode? Reset = null, bool? DetachReset = null,
                         Surrogate? Surrogate = null, int? RefractorySteps = null, Integration? Scheme = null,
                         double? ConductanceReversal = null)
    {
        var d = D;
        this.TauMem = TauMem ?? d.TauMem;
        this.Dt = Dt ?? d.Dt;
        this.VRest = VRest ?? d.VRest;
        this.VReset = VReset ?? d.VReset;
        this.VThreshold = VThreshold ?? d.VThreshold;
        this.Reset = Reset ?? Core.Reset(d.Reset);
        this.DetachReset = DetachReset ?? d.DetachReset;
        this.Surrogate = Surrogate;
        this.RefractorySteps = RefractorySteps ?? d.RefractorySteps;
        this.Scheme = Scheme ?? Core.Scheme(d.Scheme);
        this.ConductanceReversal = ConductanceReversal ?? Core.Reversal(d.Coupling);
    }

    /// <summary>Membrane time constant τ_m in ms (&gt; 0).</summary>
    public double TauMem { get; init; }
    /// <summary>Integration step in ms (&gt; 0).</summary>
    public double Dt { get; init; }
    /// <summary>Resting potential.</summary>
    public double VRest { get; init; }
    /// <summary>Potential after a hard reset.</summary>
    public double VReset { get; init; }
    /// <summary>Firing threshold θ.</summary>
    public double VThreshold { get; init; }
    /// <summary>Reset rule after a spike.</summary>
    public ResetMode Reset { get; init; }
    /// <summary>Whether the reset is excluded from the gradient.</summary>
    public bool DetachReset { get; init; }
    /// <summary>Surrogate gradient of the spike; <c>null</c> means the F# default (ATan, α = 2).</summary>
    public Surrogate? Surrogate { get; init; }
    /// <summary>Steps without integration or spikes after each spike.</summary>
    public int RefractorySteps { get; init; }
    /// <summary>Discretisation of the leak.</summary>
    public Integration Scheme { get; init; }
    /// <summary>When set, the input is a conductance with this reversal potential.</summary>
    public double? ConductanceReversal { get; init; }

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
            tauMem: TauMem, dt: Dt, vRest: VRest, vReset: VReset, vThreshold: VThreshold, reset: Core.Reset(Reset),
            detachReset: DetachReset, refractorySteps: RefractorySteps, scheme: Core.Scheme(Scheme),
            coupling: Core.Coupling(ConductanceReversal), surrogate: Core.Surrogate(Surrogate, D.Surrogate)));
}
