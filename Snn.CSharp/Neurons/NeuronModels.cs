using System;
using System.Collections.Generic;
using System.Linq;

namespace Snn.CSharp;

/// <summary>Parameters of the integrate-and-fire neuron (no leak): h = v + x, spike when h ≥ θ.</summary>
/// <param name="VReset">Potential after a hard reset and at start.</param>
/// <param name="VThreshold">Firing threshold θ.</param>
/// <param name="Reset">Reset rule after a spike.</param>
/// <param name="DetachReset">Whether the reset is excluded from the gradient.</param>
/// <param name="Surrogate">Surrogate gradient; <c>null</c> means ATan(2).</param>
public sealed record IfParameters(double VReset = 0.0, double VThreshold = 1.0, ResetMode Reset = ResetMode.Hard,
                                  bool DetachReset = false, Surrogate? Surrogate = null)
{
    internal global::Snn.Neurons.IfParameters ToCore() =>
        global::Snn.Neurons.If.validate(new(VReset, VThreshold, Core.Reset(Reset), DetachReset, Core.Surrogate(Surrogate)));
}

/// <summary>Parameters of the parametric LIF (learnable τ = dt/σ(w), Fang et al. 2021).</summary>
/// <param name="InitialTau">Initial time constant in ms (&gt; dt).</param>
/// <param name="Dt">Step in ms.</param>
/// <param name="VRest">Resting potential.</param>
/// <param name="VReset">Potential after a hard reset.</param>
/// <param name="VThreshold">Firing threshold θ.</param>
/// <param name="Reset">Reset rule.</param>
/// <param name="DetachReset">Whether the reset is excluded from the gradient.</param>
/// <param name="Surrogate">Surrogate gradient; <c>null</c> means ATan(2).</param>
public sealed record PlifParameters(double InitialTau = 2.0, double Dt = 1.0, double VRest = 0.0, double VReset = 0.0,
                                    double VThreshold = 1.0, ResetMode Reset = ResetMode.Hard, bool DetachReset = false,
                                    Surrogate? Surrogate = null)
{
    internal global::Snn.Neurons.PlifParameters ToCore() =>
        global::Snn.Neurons.Plif.validate(new(InitialTau, Dt, VRest, VReset, VThreshold, Core.Reset(Reset), DetachReset, Core.Surrogate(Surrogate)));
}

/// <summary>Parameters of the current-based LIF: i ← α i + x, v ← v_rest + β(v - v_rest) + (1 - β) i.</summary>
/// <param name="TauSyn">Synaptic time constant in ms.</param>
/// <param name="TauMem">Membrane time constant in ms.</param>
/// <param name="Dt">Step in ms.</param>
/// <param name="VRest">Resting potential.</param>
/// <param name="VReset">Potential after a hard reset.</param>
/// <param name="VThreshold">Firing threshold θ.</param>
/// <param name="Reset">Reset rule.</param>
/// <param name="DetachReset">Whether the reset is excluded from the gradient.</param>
/// <param name="Surrogate">Surrogate gradient; <c>null</c> means ATan(2).</param>
public sealed record CuLifParameters(double TauSyn = 5.0, double TauMem = 10.0, double Dt = 1.0, double VRest = 0.0,
                                     double VReset = 0.0, double VThreshold = 1.0, ResetMode Reset = ResetMode.Hard,
                                     bool DetachReset = false, Surrogate? Surrogate = null)
{
    internal global::Snn.Neurons.CuLifParameters ToCore() =>
        global::Snn.Neurons.CuLif.validate(new(TauSyn, TauMem, Dt, VRest, VReset, VThreshold, Core.Reset(Reset), DetachReset, Core.Surrogate(Surrogate)));
}

/// <summary>Parameters of the LIF with an adaptive threshold (thesis eq. 2.16).</summary>
/// <param name="Membrane">The membrane part; its threshold is the offset θ₀.</param>
/// <param name="TauThreshold">Threshold time constant in ms.</param>
/// <param name="Increment">Threshold increment per spike.</param>
public sealed record AdaptiveThresholdParameters(LifParameters? Membrane = null, double TauThreshold = 100.0, double Increment = 0.2)
{
    internal global::Snn.Neurons.AdaptiveThresholdParameters ToCore() =>
        global::Snn.Neurons.AdaptiveThreshold.validate(new((Membrane ?? new LifParameters(Reset: ResetMode.Soft)).ToCore(), TauThreshold, Increment));
}

/// <summary>Which potential drives the AdLIF adaptation current.</summary>
public enum AdLifAdaptation
{
    /// <summary>w_t = ρ w_{t-1} + (1 - ρ)(a u_{t-1} + b z_{t-1}), u after the reset (the default).</summary>
    Filtered,
    /// <summary>w_t = ρ w_{t-1} + a h_{t-1} + b z_{t-1}, h before the reset (seed 003's repository).</summary>
    Unfiltered,
}

/// <summary>Parameters of the adaptive LIF (AdLIF, Bittar &amp; Garner 2022).</summary>
/// <param name="TauMem">Membrane time constant in ms.</param>
/// <param name="TauAdapt">Adaptation time constant in ms.</param>
/// <param name="A">Sub-threshold coupling a in [-1, 1].</param>
/// <param name="B">Spike-triggered adaptation b in [0, 2].</param>
/// <param name="Dt">Step in ms.</param>
/// <param name="VThreshold">Firing threshold θ.</param>
/// <param name="Surrogate">Surrogate gradient; <c>null</c> means ATan(2).</param>
/// <param name="Reset">Reset rule after a spike (default: soft, θ subtracted).</param>
/// <param name="VReset">Potential after a hard reset.</param>
/// <param name="DetachReset">Whether the reset is excluded from the gradient.</param>
/// <param name="Adaptation">Form of the adaptation update.</param>
public sealed record AdLifParameters(double TauMem = 20.0, double TauAdapt = 150.0, double A = 0.5, double B = 1.0,
                                     double Dt = 1.0, double VThreshold = 1.0, Surrogate? Surrogate = null,
                                     ResetMode Reset = ResetMode.Soft, double VReset = 0.0, bool DetachReset = false,
                                     AdLifAdaptation Adaptation = AdLifAdaptation.Filtered)
{
    /// <summary>Seed 003's default AdLIF neuron (Liu et al. 2023): hard reset to 0, reset detached, unfiltered
    /// adaptation; the time constants and couplings are given by the model.</summary>
    /// <param name="tauMem">Membrane time constant in ms (the repository's tau_mem in steps times <paramref name="dt"/>).</param>
    /// <param name="tauAdapt">Adaptation time constant in ms (the repository's tau_osc in steps times <paramref name="dt"/>).</param>
    /// <param name="a">Sub-threshold coupling a.</param>
    /// <param name="b">Spike-triggered adaptation b.</param>
    /// <param name="dt">Step in ms.</param>
    /// <returns>The parameters.</returns>
    public static AdLifParameters Liu2023(double tauMem, double tauAdapt, double a, double b, double dt = 1.0) =>
        new(TauMem: tauMem, TauAdapt: tauAdapt, A: a, B: b, Dt: dt, Reset: ResetMode.Hard, VReset: 0.0, DetachReset: true,
            Adaptation: AdLifAdaptation.Unfiltered);

    internal global::Snn.Neurons.AdLifParameters ToCore() =>
        global::Snn.Neurons.AdLif.validate(new(
            tauMem: TauMem, tauAdapt: TauAdapt, a: A, b: B, dt: Dt, vThreshold: VThreshold,
            surrogate: Core.Surrogate(Surrogate), reset: Core.Reset(Reset), vReset: VReset, detachReset: DetachReset,
            adaptation: Adaptation switch
            {
                AdLifAdaptation.Filtered => global::Snn.Neurons.AdLifAdaptation.Filtered,
                AdLifAdaptation.Unfiltered => global::Snn.Neurons.AdLifAdaptation.Unfiltered,
                _ => throw new System.ArgumentException($"unknown AdLIF adaptation {Adaptation}", nameof(Adaptation)),
            }));
}

/// <summary>
/// Parameters of the quadratic (f2) or exponential (f3) integrate-and-fire neuron in mV and ms, integrated by
/// forward Euler. Create them with <see cref="Quadratic"/> or <see cref="Exponential"/>.
/// </summary>
public sealed record NonlinearIfParameters
{
    private NonlinearIfParameters(global::Snn.Neurons.NonlinearIfParameters core) => Value = global::Snn.Neurons.NonlinearIf.validate(core);

    internal global::Snn.Neurons.NonlinearIfParameters Value { get; }

    /// <summary>Quadratic IF: τ dv/dt = a₀ (v - v_r)(v - v_c) + x.</summary>
    /// <param name="a0">Curvature a₀ &gt; 0 (1/mV).</param>
    /// <param name="vCritical">Critical potential v_c &gt; v_r (mV).</param>
    /// <param name="tauMem">Time constant in ms.</param>
    /// <param name="dt">Step in ms.</param>
    /// <param name="vRest">Resting potential v_r.</param>
    /// <param name="vReset">Potential after a spike.</param>
    /// <param name="vPeak">Spike cut-off.</param>
    /// <returns>Validated parameters.</returns>
    public static NonlinearIfParameters Quadratic(double a0 = 0.04, double vCritical = -50.0, double tauMem = 10.0, double dt = 0.1,
                                                  double vRest = -65.0, double vReset = -68.0, double vPeak = -30.0) =>
        Create(global::Snn.Neurons.Nonlinearity.NewQuadratic(a0, vCritical), tauMem, dt, vRest, vReset, vPeak);

    /// <summary>Exponential IF: τ dv/dt = -(v - v_r) + Δ_T exp((v - ϑ_rh)/Δ_T) + x.</summary>
    /// <param name="deltaT">Sharpness Δ_T &gt; 0 (mV).</param>
    /// <param name="rheobase">Rheobase potential ϑ_rh (mV).</param>
    /// <param name="tauMem">Time constant in ms.</param>
    /// <param name="dt">Step in ms.</param>
    /// <param name="vRest">Resting potential v_r.</param>
    /// <param name="vReset">Potential after a spike.</param>
    /// <param name="vPeak">Spike cut-off.</param>
    /// <returns>Validated parameters.</returns>
    public static NonlinearIfParameters Exponential(double deltaT = 2.0, double rheobase = -50.0, double tauMem = 10.0, double dt = 0.1,
                                                    double vRest = -65.0, double vReset = -68.0, double vPeak = -30.0) =>
        Create(global::Snn.Neurons.Nonlinearity.NewExponential(deltaT, rheobase), tauMem, dt, vRest, vReset, vPeak);

    private static NonlinearIfParameters Create(global::Snn.Neurons.Nonlinearity shape, double tauMem, double dt, double vRest, double vReset, double vPeak)
    {
        var d = global::Snn.Neurons.NonlinearIfParameters.DefaultExponential;
        return new(new global::Snn.Neurons.NonlinearIfParameters(shape, tauMem, dt, vRest, vReset, vPeak, d.Coupling, d.DetachReset, d.Surrogate, d.SurrogateScale));
    }
}

/// <summary>Parameters of the Izhikevich neuron (thesis eq. 2.17-2.20).</summary>
/// <param name="A">Recovery time scale a.</param>
/// <param name="B">Recovery sensitivity b.</param>
/// <param name="C">After-spike reset of v (mV).</param>
/// <param name="D">After-spike increment of u.</param>
/// <param name="Dt">Step in ms.</param>
/// <param name="Substeps">Euler sub-steps per step.</param>
/// <param name="MinInterval">Minimum inter-spike interval in ms (0 = unbounded rate).</param>
/// <param name="Surrogate">Surrogate gradient; <c>null</c> means ATan(2).</param>
/// <param name="SurrogateScale">Voltage scale in mV of the surrogate's argument.</param>
public sealed record IzhikevichParameters(double A = 0.02, double B = 0.2, double C = -65.0, double D = 8.0, double Dt = 1.0,
                                          int Substeps = 2, double MinInterval = 0.0, Surrogate? Surrogate = null,
                                          double SurrogateScale = 10.0)
{
    /// <summary>The preset names: RS, IB, CH, FS, LTS, TC, RZ.</summary>
    public static IReadOnlyList<string> PresetNames => global::Snn.Neurons.Izhikevich.presets.Select(p => p.Item1).ToList();

    /// <summary>The parameters of a named preset of Izhikevich (2003).</summary>
    /// <param name="name">RS, IB, CH, FS, LTS, TC or RZ (case-insensitive).</param>
    /// <returns>The preset's a, b, c, d with the default step.</returns>
    /// <exception cref="ArgumentException">Unknown name.</exception>
    public static IzhikevichParameters Preset(string name)
    {
        var p = global::Snn.Neurons.Izhikevich.preset(name);
        return new IzhikevichParameters(p.A, p.B, p.C, p.D);
    }

    internal global::Snn.Neurons.IzhikevichParameters ToCore() =>
        global::Snn.Neurons.Izhikevich.validate(new(A, B, C, D, Dt, Substeps, MinInterval, Core.Surrogate(Surrogate), SurrogateScale));
}

/// <summary>Parameters of the Hodgkin-Huxley neuron (mV, ms, µA/cm², mS/cm², µF/cm²).</summary>
/// <param name="Dt">Step in ms.</param>
/// <param name="Substeps">Integration sub-steps per step (dt/Substeps ≤ 0.05 ms).</param>
/// <param name="SpikeThreshold">Upward-crossing level in mV.</param>
/// <param name="Surrogate">Surrogate gradient; <c>null</c> means ATan(2).</param>
/// <param name="SurrogateScale">Voltage scale in mV of the surrogate's argument.</param>
public sealed record HodgkinHuxleyParameters(double Dt = 0.1, int Substeps = 5, double SpikeThreshold = 0.0,
                                             Surrogate? Surrogate = null, double SurrogateScale = 10.0)
{
    internal global::Snn.Neurons.HodgkinHuxleyParameters ToCore() =>
        Squid(global::Snn.Neurons.HodgkinHuxleyParameters.Default);

    private global::Snn.Neurons.HodgkinHuxleyParameters Squid(global::Snn.Neurons.HodgkinHuxleyParameters d) =>
        global::Snn.Neurons.HodgkinHuxley.validate(new(d.Capacitance, d.GNa, d.GK, d.GLeak, d.ENa, d.EK, d.ELeak,
                                                       Dt, Substeps, SpikeThreshold, Core.Surrogate(Surrogate), SurrogateScale));
}
