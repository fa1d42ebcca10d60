/// Integrate-and-fire (IF) neuron: a perfect integrator, thesis eq. 2.12 without leak.
///
///     h_t = v_{t-1} + x_t;   z_t = H(h_t - θ);   v_t = reset(h_t, z_t)   (hard, soft or none)
///
/// With constant input I > 0, threshold θ and soft reset it fires ⌊T·I/θ⌋ times in T steps (from v = 0).
/// Dimensionless: the input is the charge added per step. Tensors are time-first: `unroll` takes [T; B; ...].
/// Reference: Lapicque 1907; SpikingJelly's IFNode.
namespace Snn.Neurons

open TorchSharp
open Snn
open Snn.Tensors

/// Parameters of the IF neuron.
type IfParameters =
    { /// Potential after a hard reset (also the initial potential).
      VReset: float
      /// Firing threshold θ (replaced per run by a `Modulation` threshold tensor when given).
      VThreshold: float
      /// Reset rule after a spike.
      Reset: ResetMode
      /// Exclude the reset from the gradient.
      DetachReset: bool
      /// Surrogate gradient of the spike function.
      Surrogate: Surrogate }

    /// v_reset = 0, θ = 1, hard reset, ATan(2).
    static member Default =
        { VReset = 0.0; VThreshold = 1.0; Reset = Hard; DetachReset = false; Surrogate = Surrogate.defaultSurrogate }

/// The state of IF neurons: the potential, shaped like one step of input.
type IfState =
    { /// Membrane potential v.
      V: Tensor }

/// The IF neuron as pure functions.
[<RequireQualifiedAccess>]
module If =

    /// Checks the parameters; raises ArgumentException naming the offending parameter.
    let validate (p: IfParameters) : IfParameters =
        Neuron.finite "VReset" p.VReset
        Neuron.finite "VThreshold" p.VThreshold
        Surrogate.validate p.Surrogate |> ignore
        p

    /// The initial state (v = v_reset) for one step of input shaped like `like`.
    let initialState (p: IfParameters) (like: Tensor) : IfState = { V = torch.full_like (like, p.VReset) }

    /// One step under a modulation; returns the new state and the spikes.
    let stepWith (m: Modulation) (p: IfParameters) (state: IfState) (input: Tensor) : IfState * Tensor =
        let h = state.V + Neuron.drive m input
        let z = Surrogate.spike p.Surrogate (Neuron.aboveThreshold m p.VThreshold h)
        { V = Neuron.reset p.Reset p.DetachReset m p.VThreshold p.VReset h z }, z

    /// One step without modulation.
    let step (p: IfParameters) (state: IfState) (input: Tensor) : IfState * Tensor = stepWith Modulation.None p state input

    /// Runs from `state` (None = v_reset) over time dimension 0 of `inputs` ([T; B; ...]); spikes and final state.
    let unrollWith (m: Modulation) (p: IfParameters) (state: IfState option) (inputs: Tensor) : Tensor * IfState =
        if isNull (box inputs) || inputs.dim () < 1 || inputs.shape.[0] = 0L then
            invalidArg "inputs" "must have a non-empty time dimension 0 ([T; B; ...])"
        Neuron.run (stepWith m p) (defaultArg state (initialState p inputs.[0])) inputs

    /// Runs from v_reset over time dimension 0 of `inputs`; returns spikes [T; B; ...].
    let unroll (p: IfParameters) (inputs: Tensor) : Tensor = fst (unrollWith Modulation.None p None inputs)
