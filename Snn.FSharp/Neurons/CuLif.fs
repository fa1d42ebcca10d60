/// Current-based LIF (CuLIF) and its parametric form (PCuLIF): a synaptic current filters the input before it
/// reaches the membrane (thesis eq. 2.22-2.23; Norse's LIF; the first-spike seed's CuLIF/PCuLIF).
///
///     i_t = α i_{t-1} + x_t                                  α = exp(-dt/τ_syn)
///     h_t = v_rest + β (v_{t-1} - v_rest) + (1 - β) i_t      β = exp(-dt/τ_mem)   (exact for a constant current)
///     z_t = H(h_t - θ);  v_t = reset(h_t, z_t)
///
/// PCuLIF learns α and β through weights: α = σ(a), β = σ(b) (scalar or per neuron), so both stay in (0, 1).
/// Tensors are time-first: `unroll` takes [T; B; ...].
namespace Snn.Neurons

open System
open TorchSharp
open Snn
open Snn.Tensors

/// Parameters of the current-based LIF. Times in ms.
type CuLifParameters =
    { /// Synaptic time constant τ_syn in ms (> 0).
      TauSyn: float
      /// Membrane time constant τ_mem in ms (> 0).
      TauMem: float
      /// Step dt in ms (> 0).
      Dt: float
      /// Resting potential.
      VRest: float
      /// Potential after a hard reset.
      VReset: float
      /// Firing threshold θ.
      VThreshold: float
      /// Reset rule after a spike.
      Reset: ResetMode
      /// Exclude the reset from the gradient.
      DetachReset: bool
      /// Surrogate gradient.
      Surrogate: Surrogate }

    /// τ_syn = 5 ms, τ_mem = 10 ms, dt = 1 ms, θ = 1, hard reset, ATan(2).
    static member Default =
        { TauSyn = 5.0; TauMem = 10.0; Dt = 1.0; VRest = 0.0; VReset = 0.0; VThreshold = 1.0; Reset = Hard
          DetachReset = false; Surrogate = Surrogate.defaultSurrogate }

/// The state of current-based LIF neurons, shaped like one step of input.
type CuLifState =
    { /// Membrane potential v.
      V: Tensor
      /// Synaptic current i.
      I: Tensor }

/// The CuLIF and PCuLIF neurons as pure functions.
[<RequireQualifiedAccess>]
module CuLif =

    /// Checks the parameters; raises ArgumentException naming the offending parameter.
    let validate (p: CuLifParameters) : CuLifParameters =
        Neuron.positive "TauSyn" p.TauSyn
        Neuron.positive "TauMem" p.TauMem
        Neuron.positive "Dt" p.Dt
        Neuron.finite "VRest" p.VRest
        Neuron.finite "VReset" p.VReset
        Neuron.finite "VThreshold" p.VThreshold
        Surrogate.validate p.Surrogate |> ignore
        p

    /// The fixed decays (α, β) = (exp(-dt/τ_syn), exp(-dt/τ_mem)).
    let decays (p: CuLifParameters) : float * float = Math.Exp (-p.Dt / p.TauSyn), Math.Exp (-p.Dt / p.TauMem)

    /// The PCuLIF weights (a, b) with σ(a) = α and σ(b) = β of the fixed time constants.
    let initialWeights (p: CuLifParameters) : float * float =
        let alpha, beta = decays p
        Math.Log (alpha / (1.0 - alpha)), Math.Log (beta / (1.0 - beta))

    /// The resting state for one step of input shaped like `like`.
    let initialState (p: CuLifParameters) (like: Tensor) : CuLifState =
        { V = torch.full_like (like, p.VRest); I = torch.zeros_like like }

    let private charge (m: Modulation) (p: CuLifParameters) (alpha: Tensor) (beta: Tensor) (state: CuLifState) (input: Tensor) =
        let i = state.I * alpha + Neuron.drive m input
        let h = (state.V - p.VRest) * beta + i * (1.0 - beta) + p.VRest
        let z = Surrogate.spike p.Surrogate (Neuron.aboveThreshold m p.VThreshold h)
        { V = Neuron.reset p.Reset p.DetachReset m p.VThreshold p.VReset h z; I = i }, z

    /// One CuLIF step (fixed time constants) under a modulation.
    let stepWith (m: Modulation) (p: CuLifParameters) (state: CuLifState) (input: Tensor) : CuLifState * Tensor =
        let alpha, beta = decays p
        let constant (value: float) = torch.tensor (value, dtype = input.dtype, device = input.device)
        charge m p (constant alpha) (constant beta) state input

    /// One CuLIF step without modulation.
    let step (p: CuLifParameters) (state: CuLifState) (input: Tensor) : CuLifState * Tensor =
        stepWith Modulation.None p state input

    /// One PCuLIF step with learnable weights a, b (α = σ(a), β = σ(b)).
    let stepParametric (m: Modulation) (p: CuLifParameters) (a: Tensor) (b: Tensor) (state: CuLifState) (input: Tensor) =
        charge m p (torch.sigmoid a) (torch.sigmoid b) state input

    /// CuLIF from rest over time dimension 0 of `inputs` ([T; B; ...]); spikes [T; B; ...] and final state.
    let unrollWith (m: Modulation) (p: CuLifParameters) (inputs: Tensor) : Tensor * CuLifState =
        if isNull (box inputs) || inputs.dim () < 1 || inputs.shape.[0] = 0L then
            invalidArg "inputs" "must have a non-empty time dimension 0 ([T; B; ...])"
        Neuron.run (stepWith m p) (initialState p inputs.[0]) inputs

    /// CuLIF from rest; spikes [T; B; ...].
    let unroll (p: CuLifParameters) (inputs: Tensor) : Tensor = fst (unrollWith Modulation.None p inputs)

    /// PCuLIF from rest with learnable weights a, b; spikes [T; B; ...].
    let unrollParametric (m: Modulation) (p: CuLifParameters) (a: Tensor) (b: Tensor) (inputs: Tensor) : Tensor =
        if isNull (box inputs) || inputs.dim () < 1 || inputs.shape.[0] = 0L then
            invalidArg "inputs" "must have a non-empty time dimension 0 ([T; B; ...])"
        fst (Neuron.run (stepParametric m p a b) (initialState p inputs.[0]) inputs)
