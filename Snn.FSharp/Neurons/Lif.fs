/// Leaky integrate-and-fire (LIF) neuron.
///
/// Membrane equation (units: milliseconds, membrane resistance folded into the input):
///
///     τ_m dv/dt = -(v - v_rest) + x(t)
///
/// integrated over one step of length dt with the input held constant (exact exponential scheme):
///
///     β = exp(-dt/τ_m)
///     h_t = v_rest + β (v_{t-1} - v_rest) + (1 - β) x_t        (charge)
///     z_t = H(h_t - θ)                                         (fire; surrogate gradient in the backward pass)
///     v_t = h_t (1 - z_t) + v_reset z_t                        (hard reset)
///         = h_t - θ z_t                                        (soft reset: subtract the threshold)
///         = h_t                                                (no reset)
///
/// With a constant input x the membrane relaxes to v_rest + x, so the neuron fires iff v_rest + x > θ.
/// Reference: Gerstner et al., Neuronal Dynamics (2014), ch. 1.3; thesis eq. 2.12 and 2.22-2.24;
/// Fang et al. 2021 for the detached reset.
///
/// Tensors are time-first: inputs to `unroll` are [T; B; ...] and so are its spikes.
namespace Snn.Neurons

open System
open TorchSharp
open Snn
open Snn.Tensors

/// What happens to the membrane after a spike.
type ResetMode =
    /// v is set to v_reset.
    | Hard
    /// θ is subtracted from v.
    | Soft
    /// v is left as it is (the neuron only reports threshold crossings).
    | NoReset

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
      /// Firing threshold θ.
      VThreshold: float
      /// Reset rule applied after a spike.
      Reset: ResetMode
      /// When true the spike used by the reset is detached from the graph (Zenke & Vogels 2021; SpikingJelly's
      /// `detach_reset`): gradients flow through charge and fire only.
      DetachReset: bool
      /// Surrogate gradient of the spike function.
      Surrogate: Surrogate }

    /// τ_m = 10 ms, dt = 1 ms, v_rest = v_reset = 0, θ = 1, hard reset, ATan(2) surrogate.
    static member Default =
        { TauMem = 10.0; Dt = 1.0; VRest = 0.0; VReset = 0.0; VThreshold = 1.0; Reset = Hard
          DetachReset = false; Surrogate = Surrogate.defaultSurrogate }

/// The state of a population of LIF neurons: the membrane potential, shaped like one time step of input.
type LifState =
    { /// Membrane potential v, shape [B; ...].
      V: Tensor }

/// The LIF neuron as pure functions.
[<RequireQualifiedAccess>]
module Lif =

    let private finite (name: string) (value: float) =
        if Double.IsNaN value || Double.IsInfinity value then invalidArg name $"must be finite, got {value}"

    /// Checks the parameters; raises ArgumentException naming the offending parameter.
    let validate (p: LifParameters) : LifParameters =
        if not (p.TauMem > 0.0) || Double.IsInfinity p.TauMem then
            invalidArg "TauMem" $"the membrane time constant must be a finite number of ms > 0, got {p.TauMem}"
        if not (p.Dt > 0.0) || Double.IsInfinity p.Dt then
            invalidArg "Dt" $"the time step must be a finite number of ms > 0, got {p.Dt}"
        finite "VRest" p.VRest
        finite "VReset" p.VReset
        finite "VThreshold" p.VThreshold
        Surrogate.validate p.Surrogate |> ignore
        p

    /// The decay factor β = exp(-dt/τ_m) of one step.
    let decay (p: LifParameters) : float = Math.Exp(-p.Dt / p.TauMem)

    /// The resting state for one time step of input shaped like `like` ([B; ...]): v = v_rest everywhere.
    let initialState (p: LifParameters) (like: Tensor) : LifState =
        { V = torch.full_like(like, p.VRest) }

    /// One step: returns the new state and the spikes z_t ∈ {0, 1} (shape of the input, [B; ...]).
    let step (p: LifParameters) (state: LifState) (input: Tensor) : LifState * Tensor =
        let beta = decay p
        let h = (state.V - p.VRest) * beta + input * (1.0 - beta) + p.VRest
        let z = Surrogate.spike p.Surrogate (h - p.VThreshold)
        let zReset = if p.DetachReset then z.detach () else z
        let v =
            match p.Reset with
            | Hard -> h * (1.0 - zReset) + zReset * p.VReset
            | Soft -> h - zReset * p.VThreshold
            | NoReset -> h
        { V = v }, z

    /// Runs `step` over the time dimension 0 of `inputs` ([T; B; ...]) from `state`; returns the spikes
    /// [T; B; ...] and the final state. `state` = None starts at rest.
    let unrollFrom (p: LifParameters) (state: LifState option) (inputs: Tensor) : Tensor * LifState =
        if inputs.dim () < 1 then invalidArg "inputs" "must have a time dimension 0 ([T; B; ...])"
        let steps = int (inputs.shape.[0])
        if steps = 0 then invalidArg "inputs" "has no time steps (dimension 0 is empty)"
        let mutable s = match state with Some s -> s | None -> initialState p inputs.[0]
        let spikes = Array.zeroCreate steps
        for t in 0 .. steps - 1 do
            let s', z = step p s inputs.[t]
            s <- s'
            spikes.[t] <- z
        torch.stack (spikes, 0L), s

    /// Runs the neuron from rest over the time dimension 0 of `inputs` ([T; B; ...]); returns spikes [T; B; ...].
    let unroll (p: LifParameters) (inputs: Tensor) : Tensor = fst (unrollFrom p None inputs)
