/// Quadratic and exponential integrate-and-fire neurons, thesis eq. 2.12 with f2 (eq. 2.14) and f3 (eq. 2.15):
///
///     τ dv/dt = f(v) + g(v)·x
///     f2(v) = a₀ (v - v_r)(v - v_c)                       (quadratic; a₀ > 0, v_c > v_r)
///     f3(v) = -(v - v_r) + Δ_T exp((v - ϑ_rh)/Δ_T)         (exponential; rheobase ϑ_rh, sharpness Δ_T > 0)
///
/// integrated by forward Euler, v ← v + (dt/τ)(f(v) + g(v)·x), because the upswing has no closed form; a spike is
/// emitted when v reaches the cut-off v_peak, then v ← v_reset. The exponential's argument is capped so a
/// diverging upswing stays finite within a step. Units: mV and ms. Tensors time-first ([T; B; ...]).
/// Reference: Gerstner et al., Neuronal Dynamics (2014), ch. 5; Fourcaud-Trocmé et al. 2003 (EIF).
namespace Snn.Neurons

open System
open TorchSharp
open Snn
open Snn.Tensors

/// The non-linearity f(v) of the membrane equation.
type Nonlinearity =
    /// f2(v) = a₀ (v - v_r)(v - v_c).
    | Quadratic of a0: float * vCritical: float
    /// f3(v) = -(v - v_r) + Δ_T exp((v - ϑ_rh)/Δ_T).
    | Exponential of deltaT: float * rheobase: float

/// Parameters of a quadratic or exponential IF neuron (mV, ms).
type NonlinearIfParameters =
    { /// The non-linearity.
      Shape: Nonlinearity
      /// Membrane time constant τ in ms (> 0).
      TauMem: float
      /// Step dt in ms (> 0, ≤ τ for a stable Euler step).
      Dt: float
      /// Resting potential v_r.
      VRest: float
      /// Potential after a spike.
      VReset: float
      /// Spike cut-off v_peak (the "threshold" of the spike condition; a modulation threshold replaces it).
      VPeak: float
      /// Input coupling g(v).
      Coupling: InputCoupling
      /// Exclude the reset from the gradient.
      DetachReset: bool
      /// Surrogate gradient of the spike at v_peak, applied to (v - v_peak)/SurrogateScale.
      Surrogate: Surrogate
      /// Voltage scale in mV of the surrogate's argument.
      SurrogateScale: float }

    /// An EIF with τ = 10 ms, dt = 0.1 ms, v_r = -65, v_reset = -68, v_peak = -30 mV, Δ_T = 2 mV, ϑ_rh = -50 mV.
    static member DefaultExponential =
        { Shape = Exponential (2.0, -50.0); TauMem = 10.0; Dt = 0.1; VRest = -65.0; VReset = -68.0; VPeak = -30.0
          Coupling = Direct; DetachReset = false; Surrogate = Surrogate.defaultSurrogate; SurrogateScale = 5.0 }

    /// A QIF with a₀ = 0.04 /mV, v_c = -50 mV, τ = 10 ms, dt = 0.1 ms, v_r = -65, v_reset = -68, v_peak = -30 mV.
    static member DefaultQuadratic =
        { NonlinearIfParameters.DefaultExponential with Shape = Quadratic (0.04, -50.0) }

/// The quadratic / exponential IF neurons as pure functions.
[<RequireQualifiedAccess>]
module NonlinearIf =

    /// Checks the parameters; raises ArgumentException naming the offending parameter.
    let validate (p: NonlinearIfParameters) : NonlinearIfParameters =
        Neuron.positive "TauMem" p.TauMem
        Neuron.positive "Dt" p.Dt
        if p.Dt > p.TauMem then invalidArg "Dt" $"forward Euler needs dt <= tau_mem, got dt = {p.Dt}, tau_mem = {p.TauMem}"
        Neuron.finite "VRest" p.VRest
        Neuron.finite "VReset" p.VReset
        Neuron.finite "VPeak" p.VPeak
        Neuron.positive "SurrogateScale" p.SurrogateScale
        match p.Shape with
        | Quadratic (a0, vc) ->
            Neuron.positive "a0" a0
            if not (vc > p.VRest) then invalidArg "vCritical" $"must exceed VRest = {p.VRest}, got {vc}"
        | Exponential (deltaT, rheobase) ->
            Neuron.positive "deltaT" deltaT
            Neuron.finite "rheobase" rheobase
        Surrogate.validate p.Surrogate |> ignore
        p

    /// f(v) of the chosen shape.
    let nonlinearity (p: NonlinearIfParameters) (v: Tensor) : Tensor =
        match p.Shape with
        | Quadratic (a0, vc) -> (v - p.VRest) * (v - vc) * a0
        | Exponential (deltaT, rheobase) ->
            // Cap the exponent: beyond it the neuron spikes within the step anyway.
            (v - p.VRest) * -1.0 + torch.exp (((v - rheobase) / deltaT).clamp_max (20.0)) * deltaT

    /// Rest: v = v_r.
    let initialState (p: NonlinearIfParameters) (like: Tensor) : IfState = { V = torch.full_like (like, p.VRest) }

    /// One forward-Euler step under a modulation (a modulation threshold replaces v_peak).
    let stepWith (m: Modulation) (p: NonlinearIfParameters) (state: IfState) (input: Tensor) : IfState * Tensor =
        let drive = Neuron.couple p.Coupling state.V (Neuron.drive m input)
        let h = state.V + (nonlinearity p state.V + drive) * (p.Dt / p.TauMem)
        let z = Surrogate.spike p.Surrogate (Neuron.aboveThreshold m p.VPeak h / p.SurrogateScale)
        let zr = if p.DetachReset then z.detach () else z
        { V = h * (1.0 - zr) + zr * p.VReset }, z

    /// Runs from rest over time dimension 0 of `inputs` ([T; B; ...]); spikes and final state; `record` sees each state.
    let run (m: Modulation) (p: NonlinearIfParameters) (record: int -> IfState -> unit) (inputs: Tensor) : Tensor * IfState =
        if isNull (box inputs) || inputs.dim () < 1 || inputs.shape.[0] = 0L then
            invalidArg "inputs" "must have a non-empty time dimension 0 ([T; B; ...])"
        Neuron.runRecorded (stepWith m p) record (initialState p inputs.[0]) inputs

    /// Runs from rest; spikes [T; B; ...].
    let unroll (p: NonlinearIfParameters) (inputs: Tensor) : Tensor = fst (run Modulation.None p (fun _ _ -> ()) inputs)
