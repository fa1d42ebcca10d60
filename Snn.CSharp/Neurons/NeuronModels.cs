using System;
using System.Collections.Generic;
using System.Linq;

namespace Snn.CSharp;

/// <summary>
/// Parameters of the integrate-and-fire neuron (no leak): h = v + x, spike when h ≥ θ. Every omitted argument takes
/// the F# core's <c>Snn.Neurons.IfParameters.Default</c> (v_reset = 0, θ = 1, hard reset, ATan(2) surrogate).
/// </summary>
public sealed record IfParameters
{
    private static global::Snn.Neurons.IfParameters D => global::Snn.Neurons.IfParameters.Default;

    /// <summary>Creates the parameters; <c>null</c> (or an omitted argument) means the F# default of that field.</summary>
    /// <param name="VReset">Potential after a hard reset and at start.</param>
    /// <param name="VThreshold">Firing threshold θ.</param>
    /// <param name="Reset">Reset rule after a spike.</param>
    /// <param name="DetachReset">Whether the reset is excluded from the gradient.</param>
    /// <param name="Surrogate">Surrogate gradient; <c>null</c> means the F# default (ATan, α = 2).</param>
    public IfParameters(double? VReset = null, double? VThreshold = null, ResetMode? Reset = null,
                        bool? DetachReset = null, Surrogate? Surrogate = null)
    {
        var d = D;
        this.VReset = VReset ?? d.VReset;
        this.VThreshold = VThreshold ?? d.VThreshold;
        this.Reset = Reset ?? Core.Reset(d.Reset);
        this.DetachReset = DetachReset ?? d.DetachReset;
        this.Surrogate = Surrogate;
    }

    /// <summary>Potential after a hard reset and at start.</summary>
    public double VReset { get; init; }
    /// <summary>Firing threshold θ.</summary>
    public double VThreshold { get; init; }
    /// <summary>Reset rule after a spike.</summary>
    public ResetMode Reset { get; init; }
    /// <summary>Whether the reset is excluded from the gradient.</summary>
    public bool DetachReset { get; init; }
    /// <summary>Surrogate gradient; <c>null</c> means the F# default (ATan, α = 2).</summary>
    public Surrogate? Surrogate { get; init; }

    internal global::Snn.Neurons.IfParameters ToCore() =>
        global::Snn.Neurons.If.validate(new(
            vReset: VReset, vThreshold: VThreshold, reset: Core.Reset(Reset), detachReset: DetachReset,
            surrogate: Core.Surrogate(Surrogate, D.Surrogate)));
}

/// <summary>
/// Parameters of the parametric LIF (learnable τ = dt/σ(w), Fang et al. 2021). Every omitted argument takes the F#
/// core's <c>Snn.Neurons.PlifParameters.Default</c> (initial τ = 2 ms, dt = 1 ms, v_rest = v_reset = 0, θ = 1, hard
/// reset, ATan(2) surrogate).
/// </summary>
public sealed record PlifParameters
{
    private static global::Snn.Neurons.PlifParameters D => global::Snn.Neurons.PlifParameters.Default;

    /// <summary>Creates the parameters; <c>null</c> (or an omitted argument) means the F# default of that field.</summary>
    /// <param name="InitialTau">Initial time constant in ms (&gt; dt).</param>
    /// <param name="Dt">Step in ms.</param>
    /// <param name="VRest">Resting potential.</param>
    /// <param name="VReset">Potential after a hard reset.</param>
    /// <param name="VThreshold">Firing threshold θ.</param>
    /// <param name="Reset">Reset rule.</param>
    /// <param name="DetachReset">Whether the reset is excluded from the gradient.</param>
    /// <param name="Surrogate">Surrogate gradient; <c>null</c> means the F# default (ATan, α = 2).</param>
    public PlifParameters(double? InitialTau = null, double? Dt = null, double? VRest = null, double? VReset = null,
                          double? VThreshold = null, ResetMode? Reset = null, bool? DetachReset = null,
                          Surrogate? Surrogate = null)
    {
        var d = D;
        this.InitialTau = InitialTau ?? d.InitialTau;
        this.Dt = Dt ?? d.Dt;
        this.VRest = VRest ?? d.VRest;
        this.VReset = VReset ?? d.VReset;
        this.VThreshold = VThreshold ?? d.VThreshold;
        this.Reset = Reset ?? Core.Reset(d.Reset);
        this.DetachReset = DetachReset ?? d.DetachReset;
        this.Surrogate = Surrogate;
    }

    /// <summary>Initial time constant in ms (&gt; dt).</summary>
    public double InitialTau { get; init; }
    /// <summary>Step in ms.</summary>
    public double Dt { get; init; }
    /// <summary>Resting potential.</summary>
    public double VRest { get; init; }
    /// <summary>Potential after a hard reset.</summary>
    public double VReset { get; init; }
    /// <summary>Firing threshold θ.</summary>
    public double VThreshold { get; init; }
    /// <summary>Reset rule.</summary>
    public ResetMode Reset { get; init; }
    /// <summary>Whether the reset is excluded from the gradient.</summary>
    public bool DetachReset { get; init; }
    /// <summary>Surrogate gradient; <c>null</c> means the F# default (ATan, α = 2).</summary>
    public Surrogate? Surrogate { get; init; }

    internal global::Snn.Neurons.PlifParameters ToCore() =>
        global::Snn.Neurons.Plif.validate(new(
            initialTau: InitialTau, dt: Dt, vRest: VRest, vReset: VReset, vThreshold: VThreshold,
            reset: Core.Reset(Reset), detachReset: DetachReset, surrogate: Core.Surrogate(Surrogate, D.Surrogate)));
}

/// <summary>
/// Parameters of the current-based LIF: i ← α i + x, v ← v_rest + β(v - v_rest) + (1 - β) i. Every omitted argument
/// takes the F# core's <c>Snn.Neurons.CuLifParameters.Default</c> (τ_syn = 5 ms, τ_mem = 10 ms, dt = 1 ms,
/// v_rest = v_reset = 0, θ = 1, hard reset, ATan(2) surrogate).
/// </summary>
public sealed record CuLifParameters
{
    private static global::Snn.Neurons.CuLifParameters D => global::Snn.Neurons.CuLifParameters.Default;

    /// <summary>Creates the parameters; <c>null</c> (or an omitted argument) means the F# default of that field.</summary>
    /// <param name="TauSyn">Synaptic time constant in ms.</param>
    /// <param name="TauMem">Membrane time constant in ms.</param>
    /// <param name="Dt">Step in ms.</param>
    /// <param name="VRest">Resting potential.</param>
    /// <param name="VReset">Potential after a hard reset.</param>
    /// <param name="VThreshold">Firing threshold θ.</param>
    /// <param name="Reset">Reset rule.</param>
    /// <param name="DetachReset">Whether the reset is excluded from the gradient.</param>
    /// <param name="Surrogate">Surrogate gradient; <c>null</c> means the F# default (ATan, α = 2).</param>
    public CuLifParameters(double? TauSyn = null, double? TauMem = null, double? Dt = null, double? VRest = null,
                           double? VReset = null, double? VThreshold = null, ResetMode? Reset = null,
                           bool? DetachReset = null, Surrogate? Surrogate = null)
    {
        var d = D;
        this.TauSyn = TauSyn ?? d.TauSyn;
        this.TauMem = TauMem ?? d.TauMem;
        this.Dt = Dt ?? d.Dt;
        this.VRest = VRest ?? d.VRest;
        this.VReset = VReset ?? d.VReset;
        this.VThreshold = VThreshold ?? d.VThreshold;
        this.Reset = Reset ?? Core.Reset(d.Reset);
        this.DetachReset = DetachReset ?? d.DetachReset;
        this.Surrogate = Surrogate;
    }

    /// <summary>Synaptic time constant in ms.</summary>
    public double TauSyn { get; init; }
    /// <summary>Membrane time constant in ms.</summary>
    public double TauMem { get; init; }
    /// <summary>Step in ms.</summary>
    public double Dt { get; init; }
    /// <summary>Resting potential.</summary>
    public double VRest { get; init; }
    /// <summary>Potential after a hard reset.</summary>
    public double VReset { get; init; }
    /// <summary>Firing threshold θ.</summary>
    public double VThreshold { get; init; }
    /// <summary>Reset rule.</summary>
    public ResetMode Reset { get; init; }
    /// <summary>Whether the reset is excluded from the gradient.</summary>
    public bool DetachReset { get; init; }
    /// <summary>Surrogate gradient; <c>null</c> means the F# default (ATan, α = 2).</summary>
    public Surrogate? Surrogate { get; init; }

    internal global::Snn.Neurons.CuLifParameters ToCore() =>
        global::Snn.Neurons.CuLif.validate(new(
            tauSyn: TauSyn, tauMem: TauMem, dt: Dt, vRest: VRest, vReset: VReset, vThreshold: VThreshold,
            reset: Core.Reset(Reset), detachReset: DetachReset, surrogate: Core.Surrogate(Surrogate, D.Surrogate)));
}

/// <summary>
/// Parameters of the LIF with an adaptive threshold (thesis eq. 2.16). Every omitted argument takes the F# core's
/// <c>Snn.Neurons.AdaptiveThresholdParameters.Default</c> (the default LIF with a soft reset, τ_θ = 100 ms,
/// increment 0.2).
/// </summary>
public sealed record AdaptiveThresholdParameters
{
    private static global::Snn.Neurons.AdaptiveThresholdParameters D => global::Snn.Neurons.AdaptiveThresholdParameters.Default;

    /// <summary>Creates the parameters; <c>null</c> (or an omitted argument) means the F# default of that field.</summary>
    /// <param name="Membrane">The membrane part; its threshold is the offset θ₀; <c>null</c> means the F# default
    /// membrane (the default LIF with a soft reset).</param>
    /// <param name="TauThreshold">Threshold time constant in ms.</param>
    /// <param name="Increment">Threshold increment per spike.</param>
    public AdaptiveThresholdParameters(LifParameters? Membrane = null, double? TauThreshold = null, double? Increment = null)
    {
        var d = D;
        this.Membrane = Membrane;
        this.TauThreshold = TauThreshold ?? d.TauThreshold;
        this.Increment = Increment ?? d.Increment;
    }

    /// <summary>The membrane part; <c>null</c> means the F# default membrane (the default LIF with a soft reset).</summary>
    public LifParameters? Membrane { get; init; }
    /// <summary>Threshold time constant in ms.</summary>
    public double TauThreshold { get; init; }
    /// <summary>Threshold increment per spike.</summary>
    public double Increment { get; init; }

    internal global::Snn.Neurons.AdaptiveThresholdParameters ToCore() =>
        global::Snn.Neurons.AdaptiveThreshold.validate(new(
            membrane: Membrane?.ToCore() ?? D.Membrane, tauThreshold: TauThreshold, increment: Increment));
}

/// <summary>Which potential drives the AdLIF adaptation current.</summary>
public enum AdLifAdaptation
{
    /// <summary>w_t = ρ w_{t-1} + (1 - ρ)(a u_{t-1} + b z_{t-1}), u after the reset (the default).</summary>
    Filtered,
    /// <summary>w_t = ρ w_{t-1} + a h_{t-1} + b z_{t-1}, h before the reset (seed 003's repository).</summary>
    Unfiltered,
}

/// <summary>
/// Parameters of the adaptive LIF (AdLIF, Bittar &amp; Garner 2022). Every omitted argument takes the F# core's
/// <c>Snn.Neurons.AdLifParameters.Default</c> (τ_mem = 20 ms, τ_adapt = 150 ms, a = 0.5, b = 1, dt = 1 ms, θ = 1,
/// soft reset, filtered adaptation, ATan(2) surrogate).
/// </summary>
public sealed record AdLifParameters
{
    private static global::Snn.Neurons.AdLifParameters D => global::Snn.Neurons.AdLifParameters.Default;

    /// <summary>Creates the parameters; <c>null</c> (or an omitted argument) means the F# default of that field.</summary>
    /// <param name="TauMem">Membrane time constant in ms.</param>
    /// <param name="TauAdapt">Adaptation time constant in ms.</param>
    /// <param name="A">Sub-threshold coupling a in [-1, 1].</param>
    /// <param name="B">Spike-triggered adaptation b in [0, 2].</param>
    /// <param name="Dt">Step in ms.</param>
    /// <param name="VThreshold">Firing threshold θ.</param>
    /// <param name="Surrogate">Surrogate gradient; <c>null</c> means the F# default (ATan, α = 2).</param>
    /// <param name="Reset">Reset rule after a spike (default: soft, θ subtracted).</param>
    /// <param name="VReset">Potential after a hard reset.</param>
    /// <param name="DetachReset">Whether the reset is excluded from the gradient.</param>
    /// <param name="Adaptation">Form of the adaptation update.</param>
    public AdLifParameters(double? TauMem = null, double? TauAdapt = null, double? A = null, double? B = null,
                           double? Dt = null, double? VThreshold = null, Surrogate? Surrogate = null,
                           ResetMode? Reset = null, double? VReset = null, bool? DetachReset = null,
                           AdLifAdaptation? Adaptation = null)
    {
        var d = D;
        this.TauMem = TauMem ?? d.TauMem;
        this.TauAdapt = TauAdapt ?? d.TauAdapt;
        this.A = A ?? d.A;
        this.B = B ?? d.B;
        this.Dt = Dt ?? d.Dt;
        this.VThreshold = VThreshold ?? d.VThreshold;
        this.Surrogate = Surrogate;
        this.Reset = Reset ?? Core.Reset(d.Reset);
        this.VReset = VReset ?? d.VReset;
        this.DetachReset = DetachReset ?? d.DetachReset;
        this.Adaptation = Adaptation ?? Of(d.Adaptation);
    }

    /// <summary>Membrane time constant in ms.</summary>
    public double TauMem { get; init; }
    /// <summary>Adaptation time constant in ms.</summary>
    public double TauAdapt { get; init; }
    /// <summary>Sub-threshold coupling a in [-1, 1].</summary>
    public double A { get; init; }
    /// <summary>Spike-triggered adaptation b in [0, 2].</summary>
    public double B { get; init; }
    /// <summary>Step in ms.</summary>
    public double Dt { get; init; }
    /// <summary>Firing threshold θ.</summary>
    public double VThreshold { get; init; }
    /// <summary>Surrogate gradient; <c>null</c> means the F# default (ATan, α = 2).</summary>
    public Surrogate? Surrogate { get; init; }
    /// <summary>Reset rule after a spike.</summary>
    public ResetMode Reset { get; init; }
    /// <summary>Potential after a hard reset.</summary>
    public double VReset { get; init; }
    /// <summary>Whether the reset is excluded from the gradient.</summary>
    public bool DetachReset { get; init; }
    /// <summary>Form of the adaptation update.</summary>
    public AdLifAdaptation Adaptation { get; init; }

    /// <summary>Seed 003's default AdLIF neuron (Liu et al. 2023), read from the F# core's
    /// <c>AdLifParameters.Liu2023</c> (hard reset to 0, reset detached, unfiltered adaptation); the time constants
    /// and couplings are given by the model.</summary>
    /// <param name="tauMem">Membrane time constant in ms (the repository's tau_mem in steps times <paramref name="dt"/>).</param>
    /// <param name="tauAdapt">Adaptation time constant in ms (the repository's tau_osc in steps times <paramref name="dt"/>).</param>
    /// <param name="a">Sub-threshold coupling a.</param>
    /// <param name="b">Spike-triggered adaptation b.</param>
    /// <param name="dt">Step in ms; <c>null</c> means the F# default.</param>
    /// <returns>The parameters.</returns>
    public static AdLifParameters Liu2023(double tauMem, double tauAdapt, double a, double b, double? dt = null)
    {
        var l = global::Snn.Neurons.AdLifParameters.Liu2023;
        return new(TauMem: tauMem, TauAdapt: tauAdapt, A: a, B: b, Dt: dt ?? l.Dt, VThreshold: l.VThreshold,
                   Reset: Core.Reset(l.Reset), VReset: l.VReset, DetachReset: l.DetachReset, Adaptation: Of(l.Adaptation));
    }

    private static AdLifAdaptation Of(global::Snn.Neurons.AdLifAdaptation adaptation) =>
        adaptation.IsFiltered ? AdLifAdaptation.Filtered : AdLifAdaptation.Unfiltered;

    internal global::Snn.Neurons.AdLifParameters ToCore() =>
        global::Snn.Neurons.AdLif.validate(new(
            tauMem: TauMem, tauAdapt: TauAdapt, a: A, b: B, dt: Dt, vThreshold: VThreshold,
            surrogate: Core.Surrogate(Surrogate, D.Surrogate), reset: Core.Reset(Reset), vReset: VReset, detachReset: DetachReset,
            adaptation: Adaptation switch
            {
                AdLifAdaptation.Filtered => global::Snn.Neurons.AdLifAdaptation.Filtered,
                AdLifAdaptation.Unfiltered => global::Snn.Neurons.AdLifAdaptation.Unfiltered,
                _ => throw new System.ArgumentException($"unknown AdLIF adaptation {Adaptation}", nameof(Adaptation)),
            }));
}

/// <summary>
/// Parameters of the quadratic (f2) or exponential (f3) integrate-and-fire neuron in mV and ms, integrated by
/// forward Euler. Create them with <see cref="Quadratic"/> or <see cref="Exponential"/>; every omitted argument
/// takes the F# core's <c>NonlinearIfParameters.DefaultQuadratic</c> / <c>DefaultExponential</c> (τ = 10 ms,
/// dt = 0.1 ms, v_r = -65, v_reset = -68, v_peak = -30 mV; a₀ = 0.04 /mV, v_c = -50 mV; Δ_T = 2 mV, ϑ_rh = -50 mV).
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
    public static NonlinearIfParameters Quadratic(double? a0 = null, double? vCritical = null, double? tauMem = null, double? dt = null,
                                                  double? vRest = null, double? vReset = null, double? vPeak = null)
    {
        var d = global::Snn.Neurons.NonlinearIfParameters.DefaultQuadratic;
        var shape = (global::Snn.Neurons.Nonlinearity.Quadratic)d.Shape;
        return Create(d, global::Snn.Neurons.Nonlinearity.NewQuadratic(a0 ?? shape.a0, vCritical ?? shape.vCritical),
                      tauMem, dt, vRest, vReset, vPeak);
    }

    /// <summary>Exponential IF: τ dv/dt = -(v - v_r) + Δ_T exp((v - ϑ_rh)/Δ_T) + x.</summary>
    /// <param name="deltaT">Sharpness Δ_T &gt; 0 (mV).</param>
    /// <param name="rheobase">Rheobase potential ϑ_rh (mV).</param>
    /// <param name="tauMem">Time constant in ms.</param>
    /// <param name="dt">Step in ms.</param>
    /// <param name="vRest">Resting potential v_r.</param>
    /// <param name="vReset">Potential after a spike.</param>
    /// <param name="vPeak">Spike cut-off.</param>
    /// <returns>Validated parameters.</returns>
    public static NonlinearIfParameters Exponential(double? deltaT = null, double? rheobase = null, double? tauMem = null, double? dt = null,
                                                    double? vRest = null, double? vReset = null, double? vPeak = null)
    {
        var d = global::Snn.Neurons.NonlinearIfParameters.DefaultExponential;
        var shape = (global::Snn.Neurons.Nonlinearity.Exponential)d.Shape;
        return Create(d, global::Snn.Neurons.Nonlinearity.NewExponential(deltaT ?? shape.deltaT, rheobase ?? shape.rheobase),
                      tauMem, dt, vRest, vReset, vPeak);
    }

    private static NonlinearIfParameters Create(global::Snn.Neurons.NonlinearIfParameters d, global::Snn.Neurons.Nonlinearity shape,
                                                double? tauMem, double? dt, double? vRest, double? vReset, double? vPeak) =>
        new(new global::Snn.Neurons.NonlinearIfParameters(
            shape: shape, tauMem: tauMem ?? d.TauMem, dt: dt ?? d.Dt, vRest: vRest ?? d.VRest, vReset: vReset ?? d.VReset,
            vPeak: vPeak ?? d.VPeak, coupling: d.Coupling, detachReset: d.DetachReset, surrogate: d.Surrogate,
            surrogateScale: d.SurrogateScale));
}

/// <summary>
/// Parameters of the Izhikevich neuron (thesis eq. 2.17-2.20). Every omitted argument takes the F# core's
/// <c>Snn.Neurons.IzhikevichParameters.Default</c> (regular spiking: a = 0.02, b = 0.2, c = -65 mV, d = 8, dt = 1 ms
/// in 2 sub-steps, unbounded rate, ATan(2) surrogate at a 10 mV scale).
/// </summary>
public sealed record IzhikevichParameters
{
    private static global::Snn.Neurons.IzhikevichParameters Dflt => global::Snn.Neurons.IzhikevichParameters.Default;

    /// <summary>Creates the parameters; <c>null</c> (or an omitted argument) means the F# default of that field.</summary>
    /// <param name="A">Recovery time scale a.</param>
    /// <param name="B">Recovery sensitivity b.</param>
    /// <param name="C">After-spike reset of v (mV).</param>
    /// <param name="D">After-spike increment of u.</param>
    /// <param name="Dt">Step in ms.</param>
    /// <param name="Substeps">Euler sub-steps per step.</param>
    /// <param name="MinInterval">Minimum inter-spike interval in ms (0 = unbounded rate).</param>
    /// <param name="Surrogate">Surrogate gradient; <c>null</c> means the F# default (ATan, α = 2).</param>
    /// <param name="SurrogateScale">Voltage scale in mV of the surrogate's argument.</param>
    public IzhikevichParameters(double? A = null, double? B = null, double? C = null, double? D = null, double? Dt = null,
                                int? Substeps = null, double? MinInterval = null, Surrogate? Surrogate = null,
                                double? SurrogateScale = null)
    {
        var d = Dflt;
        this.A = A ?? d.A;
        this.B = B ?? d.B;
        this.C = C ?? d.C;
        this.D = D ?? d.D;
        this.Dt = Dt ?? d.Dt;
        this.Substeps = Substeps ?? d.Substeps;
        this.MinInterval = MinInterval ?? d.MinInterval;
        this.Surrogate = Surrogate;
        this.SurrogateScale = SurrogateScale ?? d.SurrogateScale;
    }

    /// <summary>Recovery time scale a.</summary>
    public double A { get; init; }
    /// <summary>Recovery sensitivity b.</summary>
    public double B { get; init; }
    /// <summary>After-spike reset of v (mV).</summary>
    public double C { get; init; }
    /// <summary>After-spike increment of u.</summary>
    public double D { get; init; }
    /// <summary>Step in ms.</summary>
    public double Dt { get; init; }
    /// <summary>Euler sub-steps per step.</summary>
    public int Substeps { get; init; }
    /// <summary>Minimum inter-spike interval in ms (0 = unbounded rate).</summary>
    public double MinInterval { get; init; }
    /// <summary>Surrogate gradient; <c>null</c> means the F# default (ATan, α = 2).</summary>
    public Surrogate? Surrogate { get; init; }
    /// <summary>Voltage scale in mV of the surrogate's argument.</summary>
    public double SurrogateScale { get; init; }

    /// <summary>The preset names: RS, IB, CH, FS, LTS, TC, RZ.</summary>
    public static IReadOnlyList<string> PresetNames => global::Snn.Neurons.Izhikevich.presets.Select(p => p.Item1).ToList();

    /// <summary>The parameters of a named preset of Izhikevich (2003).</summary>
    /// <param name="name">RS, IB, CH, FS, LTS, TC or RZ (case-insensitive).</param>
    /// <returns>The preset's a, b, c, d with the default step.</returns>
    /// <exception cref="ArgumentException">Unknown name.</exception>
    public static IzhikevichParameters Preset(string name)
    {
        var p = global::Snn.Neurons.Izhikevich.preset(name);
        return new IzhikevichParameters(A: p.A, B: p.B, C: p.C, D: p.D, Dt: p.Dt, Substeps: p.Substeps,
                                        MinInterval: p.MinInterval, SurrogateScale: p.SurrogateScale);
    }

    internal global::Snn.Neurons.IzhikevichParameters ToCore() =>
        global::Snn.Neurons.Izhikevich.validate(new(
            a: A, b: B, c: C, d: D, dt: Dt, substeps: Substeps, minInterval: MinInterval,
            surrogate: Core.Surrogate(Surrogate, Dflt.Surrogate), surrogateScale: SurrogateScale));
}

/// <summary>
/// Parameters of the Hodgkin-Huxley neuron (mV, ms, µA/cm², mS/cm², µF/cm²) with the squid-axon constants of the F#
/// core. Every omitted argument takes <c>Snn.Neurons.HodgkinHuxleyParameters.Default</c> (dt = 0.1 ms in 5
/// sub-steps, θ = 0 mV, ATan(2) surrogate at a 10 mV scale).
/// </summary>
public sealed record HodgkinHuxleyParameters
{
    private static global::Snn.Neurons.HodgkinHuxleyParameters D => global::Snn.Neurons.HodgkinHuxleyParameters.Default;

    /// <summary>Creates the parameters; <c>null</c> (or an omitted argument) means the F# default of that field.</summary>
    /// <param name="Dt">Step in ms.</param>
    /// <param name="Substeps">Integration sub-steps per step (dt/Substeps ≤ 0.05 ms).</param>
    /// <param name="SpikeThreshold">Upward-crossing level in mV.</param>
    /// <param name="Surrogate">Surrogate gradient; <c>null</c> means the F# default (ATan, α = 2).</param>
    /// <param name="SurrogateScale">Voltage scale in mV of the surrogate's argument.</param>
    public HodgkinHuxleyParameters(double? Dt = null, int? Substeps = null, double? SpikeThreshold = null,
                                   Surrogate? Surrogate = null, double? SurrogateScale = null)
    {
        var d = D;
        this.Dt = Dt ?? d.Dt;
        this.Substeps = Substeps ?? d.Substeps;
        this.SpikeThreshold = SpikeThreshold ?? d.SpikeThreshold;
        this.Surrogate = Surrogate;
        this.SurrogateScale = SurrogateScale ?? d.SurrogateScale;
    }

    /// <summary>Step in ms.</summary>
    public double Dt { get; init; }
    /// <summary>Integration sub-steps per step.</summary>
    public int Substeps { get; init; }
    /// <summary>Upward-crossing level in mV.</summary>
    public double SpikeThreshold { get; init; }
    /// <summary>Surrogate gradient; <c>null</c> means the F# default (ATan, α = 2).</summary>
    public Surrogate? Surrogate { get; init; }
    /// <summary>Voltage scale in mV of the surrogate's argument.</summary>
    public double SurrogateScale { get; init; }

    internal global::Snn.Neurons.HodgkinHuxleyParameters ToCore()
    {
        var d = D;
        return global::Snn.Neurons.HodgkinHuxley.validate(new(
            capacitance: d.Capacitance, gNa: d.GNa, gK: d.GK, gLeak: d.GLeak, eNa: d.ENa, eK: d.EK, eLeak: d.ELeak,
            dt: Dt, substeps: Substeps, spikeThreshold: SpikeThreshold, surrogate: Core.Surrogate(Surrogate, d.Surrogate),
            surrogateScale: SurrogateScale));
    }
}
