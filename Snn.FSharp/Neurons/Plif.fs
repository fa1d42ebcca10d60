/// Parametric LIF (PLIF, Fang et al. 2021, "Incorporating learnable membrane time constants"): an LIF whose
/// membrane time constant is learned through a weight w, one per layer or per neuron:
///
///     k = σ(w) = dt/τ_m ∈ (0, 1),  so τ_m = dt/σ(w) > dt (more than one step, whatever w)
///     h_t = v_{t-1} + k (x_t - (v_{t-1} - v_rest))          (forward Euler with learnable 1/τ, SpikingJelly's form)
///     z_t = H(h_t - θ);  v_t = reset(h_t, z_t)
///
/// Tensors are time-first: `unroll` takes [T; B; ...]; w is a scalar tensor or one value per neuron (last dims).
namespace Snn.Neurons

open System
open TorchSharp
open Snn
open Snn.Tensors

/// Parameters of the PLIF neuron (the time constant itself is the learnable tensor w; see `Plif.initialWeight`).
type PlifParameters =
    { /// Initial membrane time constant in ms (> dt).
      InitialTau: float
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

    /// τ₀ = 2 ms at dt = 1 ms (SpikingJelly's init_tau = 2), θ = 1, hard reset, ATan(2).
    static member Default =
        { InitialTau = 2.0; Dt = 1.0; VRest = 0.0; VReset = 0.0; VThreshold = 1.0; Reset = Hard
          DetachReset = false; Surrogate = Surrogate.defaultSurrogate }

/// The PLIF neuron as pure functions of the parameters, the learnable weight w and the state.
[<RequireQualifiedAccess>]
module Plif =

    /// Checks the parameters; raises ArgumentException naming the offending parameter.
    let validate (p: PlifParameters) : PlifParameters =
        Neuron.positive "Dt" p.Dt
        Neuron.positive "InitialTau" p.InitialTau
        if p.InitialTau <= p.Dt then invalidArg "InitialTau" $"must exceed dt = {p.Dt} ms (τ = dt/σ(w) > dt), got {p.InitialTau}"
        Neuron.finite "VRest" p.VRest
        Neuron.finite "VReset" p.VReset
        Neuron.finite "VThreshold" p.VThreshold
        Surrogate.validate p.Surrogate |> ignore
        p

    /// The w whose σ(w) = dt/τ₀: w = -ln(τ₀/dt - 1).
    let initialWeight (p: PlifParameters) : float = -Math.Log (p.InitialTau / p.Dt - 1.0)

    /// The membrane time constant in ms that a weight w stands for: dt/σ(w).
    let tau (p: PlifParameters) (w: Tensor) : Tensor = p.Dt / torch.sigmoid w

    /// One step with weight w under a modulation: the new potential and the spikes.
    let stepWith (m: Modulation) (p: PlifParameters) (w: Tensor) (state: LifState) (input: Tensor) : LifState * Tensor =
        let x = Neuron.drive m input
        let h = state.V + (x - (state.V - p.VRest)) * torch.sigmoid w
        let z = Surrogate.spike p.Surrogate (Neuron.aboveThreshold m p.VThreshold h)
        { state with V = Neuron.reset p.Reset p.DetachReset m p.VThreshold p.VReset h z }, z

    /// Runs from rest over time dimension 0 of `inputs` ([T; B; ...]) with weight w; returns spikes [T; B; ...].
    let unrollWith (m: Modulation) (p: PlifParameters) (w: Tensor) (inputs: Tensor) : Tensor =
        if isNull (box inputs) || inputs.dim () < 1 || inputs.shape.[0] = 0L then
            invalidArg "inputs" "must have a non-empty time dimension 0 ([T; B; ...])"
        let s0 = { V = torch.full_like (inputs.[0], p.VRest); Refractory = torch.zeros_like inputs.[0] }
        fst (Neuron.run (stepWith m p w) s0 inputs)

    /// Runs from rest with weight w; returns spikes [T; B; ...].
    let unroll (p: PlifParameters) (w: Tensor) (inputs: Tensor) : Tensor = unrollWith Modulation.None p w inputs
