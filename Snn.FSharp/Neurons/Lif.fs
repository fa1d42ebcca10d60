/// Leaky integrate-and-fire (LIF) neuron, thesis eq. 2.12 with f1(u) = -(u - u_r).
///
/// Membrane equation (units: milliseconds; membrane resistance folded into the input):
///
///     τ_m dv/dt = -(v - v_rest) + g(v)·x(t),       g(v) = 1 (current) or (u_i - v) (conductance)
///
/// integrated over one step of length dt with the input held constant. The exact exponential scheme (default) is
///
///     β = exp(-dt/τ_m)
///     h_t = v_rest + β (v_{t-1} - v_rest) + (1 - β) g·x_t                     (charge)
///     z_t = H(h_t - θ)                                                        (fire; surrogate in the backward)
///     v_t = h_t (1 - z_t) + v_reset z_t  |  h_t - θ z_t  |  h_t              (hard | soft | no reset)
///
/// and forward Euler replaces β by 1 - dt/τ_m. With a constant current x the membrane relaxes to v_rest + x, so the
/// neuron fires iff v_rest + x > θ (rheobase). An optional refractory period of R steps holds v and suppresses
/// spikes for R steps after each spike. Reference: Gerstner et al., Neuronal Dynamics (2014), ch. 1.3;
/// Fang et al. 2021 (detached reset). Tensors are time-first: `unroll` takes [T; B; ...].
namespace Snn.Neurons

open System
open TorchSharp
open Snn
open Snn.Tensors

/// Parameters of the LIF neuron. Times are in milliseconds.
type LifParameters =
    { /// Membrane time constant τ_m in ms (> 0).
      TauMem: float
      /// Integration step dt in ms (> 0).
      Dt: float
      /// Resting potential v_rest.
      VRest: float
      /// Potential after a hard reset.
      VReset: float
      /// Firing threshold θ (replaced per run by a `Modulation` threshold tensor when given).
      VThreshold: float
      /// Reset rule applied after a spike.
      Reset: ResetMode
      /// When true the spike used by the reset is detached from the graph (Zenke & Vogels 2021; SpikingJelly's
      /// `detach_reset`): gradients flow through charge and fire only.
      DetachReset: bool
      /// Refractory period in steps after a spike (0 = none).
      RefractorySteps: int
      /// Discretisation of the leak.
      Scheme: Integration
      /// Input coupling g(v).
      Coupling: InputCoupling
      /// Surrogate gradient of the spike function.
      Surrogate: Surrogate }

    /// τ_m = 10 ms, dt = 1 ms, v_rest = v_reset = 0, θ = 1, hard reset, no refractory period, exact integration,
    /// current input, ATan(2) surrogate.
    static member Default =
        { TauMem = 10.0; Dt = 1.0; VRest = 0.0; VReset = 0.0; VThreshold = 1.0; Reset = Hard
          DetachReset = false; RefractorySteps = 0; Scheme = ExactExponential; Coupling = Direct
          Surrogate = Surrogate.defaultSurrogate }

/// The state of a population of LIF neurons, shaped like one time step of input ([B; ...]).
type LifState =
    { /// Membrane potential v.
      V: Tensor
      /// Remaining refractory steps (0 when free); all zeros without a refractory period.
      Refractory: Tensor }

/// The LIF neuron as pure functions.
[<RequireQualifiedAccess>]
module Lif =

    /// Checks the parameters; raises ArgumentException naming the offending parameter.
    let validate (p: LifParameters) : LifParameters =
        Neuron.positive "TauMem" p.TauMem
        Neuron.positive "Dt" p.Dt
        Neuron.finite "VRest" p.VRest
        Neuron.finite "VReset" p.VReset
        Neuron.finite "VThreshold" p.VThreshold
        Neuron.nonNegative "RefractorySteps" p.RefractorySteps
        if p.Scheme = ForwardEuler && p.Dt > p.TauMem then
            invalidArg "Dt" $"forward Euler needs dt <= tau_mem to stay stable, got dt = {p.Dt} ms, tau_mem = {p.TauMem} ms"
        match p.Coupling with
        | Conductance reversal -> Neuron.finite "Coupling.reversal" reversal
        | Direct -> ()
        Surrogate.validate p.Surrogate |> ignore
        p

    /// The decay factor of one step: exp(-dt/τ_m) (exact) or 1 - dt/τ_m (Euler).
    let decay (p: LifParameters) : float =
        match p.Scheme with
        | ExactExponential -> Math.Exp (-p.Dt / p.TauMem)
        | ForwardEuler -> 1.0 - p.Dt / p.TauMem

    /// The resting state for one time step of input shaped like `like` ([B; ...]).
    let initialState (p: LifParameters) (like: Tensor) : LifState =
        { V = torch.full_like (like, p.VRest); Refractory = torch.zeros_like like }

    /// One step under a modulation: returns the new state and the spikes z_t ∈ {0, 1} ([B; ...]).
    let stepWith (m: Modulation) (p: LifParameters) (state: LifState) (input: Tensor) : LifState * Tensor =
        let x = Neuron.drive m input
        let h = Neuron.leak p.Scheme p.Dt p.TauMem p.VRest state.V (Neuron.couple p.Coupling state.V x)
        if p.RefractorySteps = 0 then
            let z = Surrogate.spike p.Surrogate (Neuron.aboveThreshold m p.VThreshold h)
            { state with V = Neuron.reset p.Reset p.DetachReset m p.VThreshold p.VReset h z }, z
        else
            // Refractory neurons keep their potential and cannot fire.
            let free = Neuron.free state.Refractory
            let h = h * free + state.V * (1.0 - free)
            let z = Surrogate.spike p.Surrogate (Neuron.aboveThreshold m p.VThreshold h) * free
            { V = Neuron.reset p.Reset p.DetachReset m p.VThreshold p.VReset h z
              Refractory = Neuron.countDown p.RefractorySteps state.Refractory z }, z

    /// One step without modulation.
    let step (p: LifParameters) (state: LifState) (input: Tensor) : LifState * Tensor =
        stepWith Modulation.None p state input

    /// Runs the neuron over time dimension 0 of `inputs` ([T; B; ...]) from `state` (None = rest) under a
    /// modulation; returns the spikes [T; B; ...] and the final state.
    let unrollWith (m: Modulation) (p: LifParameters) (state: LifState option) (inputs: Tensor) : Tensor * LifState =
        if isNull (box inputs) || inputs.dim () < 1 then invalidArg "inputs" "must have a time dimension 0 ([T; B; ...])"
        if inputs.shape.[0] = 0L then invalidArg "inputs" "has no time steps (dimension 0 is empty)"
        let s0 =
            match state with
            | Some s ->
                if s.V.shape <> inputs.shape.[1..] then
                    invalidArg "state" $"has shape %A{s.V.shape} but one step of the inputs has shape %A{inputs.shape.[1..]}"
                s
            | None -> initialState p inputs.[0]
        Neuron.run (stepWith m p) s0 inputs

    /// Runs the neuron from `state` (None = rest) over time dimension 0 of `inputs`; spikes and final state.
    let unrollFrom (p: LifParameters) (state: LifState option) (inputs: Tensor) : Tensor * LifState =
        unrollWith Modulation.None p state inputs

    /// Runs the neuron from rest over time dimension 0 of `inputs` ([T; B; ...]); returns spikes [T; B; ...].
    let unroll (p: LifParameters) (inputs: Tensor) : Tensor = fst (unrollFrom p None inputs)

    /// The recurrent LIF of thesis eq. 2.22-2.24: the input of step t is x_t + z_{t-1} Vᵀ, with recurrent weights
    /// V [N; N] over the neurons of the last dimension. Inputs [T; B; N]; returns spikes [T; B; N].
    let unrollRecurrent (p: LifParameters) (recurrent: Tensor) (inputs: Tensor) : Tensor =
        if inputs.dim () <> 3 then invalidArg "inputs" $"must be [T; B; N], got shape %A{inputs.shape}"
        let n = inputs.shape.[2]
        if recurrent.shape <> [| n; n |] then invalidArg "recurrent" $"must be [{n}; {n}], got shape %A{recurrent.shape}"
        let step (s: LifState, zPrevious: Tensor) (x: Tensor) =
            let s', z = step p s (x + zPrevious.matmul (recurrent.t ()))
            (s', z), z
        fst (Neuron.run step (initialState p inputs.[0], torch.zeros_like inputs.[0]) inputs)
