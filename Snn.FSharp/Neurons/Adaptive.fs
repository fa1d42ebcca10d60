/// Neurons that adapt: an LIF with an adaptive threshold (thesis eq. 2.16) and the adaptive LIF (AdLIF) of the
/// first-spike seed (Bittar & Garner 2022). Times in ms; tensors time-first ([T; B; ...]).
///
/// Adaptive threshold, exact integration of τ_θ dθ/dt = θ₀ - θ + α τ_θ Σ δ(t - t_f):
///
///     h_t = LIF charge of v_{t-1} (see Lif);  z_t = H(h_t - θ_{t-1});  v_t = reset(h_t, z_t) (soft subtracts θ_{t-1})
///     θ_t = θ₀ + ρ (θ_{t-1} - θ₀) + α z_t,     ρ = exp(-dt/τ_θ)
///
/// AdLIF (adaptation current w, coupling a to the potential and b to spikes), with h_t the potential after the
/// charge and u_t the potential after the reset:
///
///     h_t = α u_{t-1} + (1 - α)(x_t - w_{t-1})                  α = exp(-dt/τ_u)
///     w_t = ρ w_{t-1} + (1 - ρ)(a u_{t-1} + b z_{t-1})          ρ = exp(-dt/τ_w)   (Filtered, the default)
///     w_t = ρ w_{t-1} + a h_{t-1} + b z_{t-1}                   (Unfiltered: seed 003's repository)
///     z_t = H(h_t - θ);  u_t = h_t - θ z_t (Soft, the default) or h_t (1 - z_t) + v_r z_t (Hard)
///
/// With `DetachReset` the z of the reset term is detached (no gradient through the reset).
///
/// Seed 003's repository (Liu et al. 2023, SpikingJelly `AdLIFNode`) in these terms: its default neuron is
/// { Reset = Hard; VReset = 0; DetachReset = true; Adaptation = Unfiltered }, its per-step decays are
/// α = sigmoid(decay_mem) and ρ = sigmoid(decay_osc), i.e. TauMem = -Dt / ln α and TauAdapt = -Dt / ln ρ (its
/// tau_mem and tau_osc are in steps: TauMem = tau_mem · Dt), A = a and B = b unchanged (it clamps both to [0, 1]).
/// Its adaptation update has no (1 - ρ) factor and couples to h_{t-1}, the potential of the previous step before
/// its reset; that is what `Unfiltered` does. (Scaling a and b by 1/(1 - ρ) under `Filtered` would not be the
/// same neuron: the filtered form couples to the potential after the reset.)
namespace Snn.Neurons

open System
open TorchSharp
open Snn
open Snn.Tensors

/// Parameters of the LIF with an adaptive threshold.
type AdaptiveThresholdParameters =
    { /// The membrane part (its VThreshold is the threshold offset θ₀).
      Membrane: LifParameters
      /// Threshold time constant τ_θ in ms (> 0).
      TauThreshold: float
      /// Threshold increment α per spike (≥ 0).
      Increment: float }

    /// LIF defaults with soft reset, τ_θ = 100 ms, α = 0.2.
    static member Default =
        { Membrane = { LifParameters.Default with Reset = Soft }; TauThreshold = 100.0; Increment = 0.2 }

/// State of adaptive-threshold neurons.
type AdaptiveThresholdState =
    { /// Membrane potential v.
      V: Tensor
      /// Current threshold θ.
      Threshold: Tensor }

/// Which potential drives the AdLIF adaptation current, and whether its input is low-pass scaled by (1 - ρ).
type AdLifAdaptation =
    /// w_t = ρ w_{t-1} + (1 - ρ)(a u_{t-1} + b z_{t-1}) with u_{t-1} after the reset (Snn's default).
    | Filtered
    /// w_t = ρ w_{t-1} + a h_{t-1} + b z_{t-1} with h_{t-1} before the reset (seed 003's repository).
    | Unfiltered

/// Parameters of the adaptive LIF (AdLIF).
type AdLifParameters =
    { /// Membrane time constant τ_u in ms (> 0).
      TauMem: float
      /// Adaptation time constant τ_w in ms (> 0).
      TauAdapt: float
      /// Sub-threshold coupling a of the adaptation to the potential (in [-1, 1] for stability).
      A: float
      /// Spike-triggered adaptation b (in [0, 2]).
      B: float
      /// Step dt in ms (> 0).
      Dt: float
      /// Firing threshold θ.
      VThreshold: float
      /// Surrogate gradient.
      Surrogate: Surrogate
      /// Reset after a spike: Soft subtracts θ, Hard sets the potential to VReset, NoReset leaves it.
      Reset: ResetMode
      /// Potential after a hard reset.
      VReset: float
      /// Detach the spike in the reset term (no gradient through the reset).
      DetachReset: bool
      /// Form of the adaptation update (see `AdLifAdaptation`).
      Adaptation: AdLifAdaptation }

    /// τ_u = 20 ms, τ_w = 150 ms, a = 0.5, b = 1, dt = 1 ms, θ = 1, ATan(2), soft reset without detaching, the
    /// filtered adaptation.
    static member Default =
        { TauMem = 20.0; TauAdapt = 150.0; A = 0.5; B = 1.0; Dt = 1.0; VThreshold = 1.0; Surrogate = Surrogate.defaultSurrogate
          Reset = Soft; VReset = 0.0; DetachReset = false; Adaptation = Filtered }

    /// Seed 003's default AdLIF neuron (Liu et al. 2023): hard reset to 0 with the reset detached and the
    /// unfiltered adaptation; the other fields as in `Default` (set TauMem, TauAdapt, A, B from the model).
    static member Liu2023 =
        { AdLifParameters.Default with Reset = Hard; VReset = 0.0; DetachReset = true; Adaptation = Unfiltered }

/// State of AdLIF neurons.
type AdLifState =
    { /// Membrane potential u (after the reset).
      U: Tensor
      /// Potential h of the previous step before its reset (drives the `Unfiltered` adaptation).
      H: Tensor
      /// Adaptation current w.
      W: Tensor
      /// Spikes of the previous step.
      Z: Tensor }

/// The adaptive-threshold LIF as pure functions.
[<RequireQualifiedAccess>]
module AdaptiveThreshold =

    /// Checks the parameters; raises ArgumentException naming the offending parameter.
    let validate (p: AdaptiveThresholdParameters) : AdaptiveThresholdParameters =
        Lif.validate p.Membrane |> ignore
        Neuron.positive "TauThreshold" p.TauThreshold
        if not (p.Increment >= 0.0) || Double.IsInfinity p.Increment then
            invalidArg "Increment" $"must be a finite number >= 0, got {p.Increment}"
        p

    /// Rest: v = v_rest, θ = θ₀.
    let initialState (p: AdaptiveThresholdParameters) (like: Tensor) : AdaptiveThresholdState =
        { V = torch.full_like (like, p.Membrane.VRest); Threshold = torch.full_like (like, p.Membrane.VThreshold) }

    /// One step under a modulation (a modulation threshold replaces θ₀).
    let stepWith (m: Modulation) (p: AdaptiveThresholdParameters) (state: AdaptiveThresholdState) (input: Tensor) =
        let lif = p.Membrane
        let h = Neuron.leak lif.Scheme lif.Dt lif.TauMem lif.VRest state.V (Neuron.couple lif.Coupling state.V (Neuron.drive m input))
        let z = Surrogate.spike lif.Surrogate (h - state.Threshold)
        let zr = if lif.DetachReset then z.detach () else z
        let v =
            match lif.Reset with
            | Hard -> h * (1.0 - zr) + zr * lif.VReset
            | Soft -> h - zr * state.Threshold
            | NoReset -> h
        let rho = Math.Exp (-lif.Dt / p.TauThreshold)
        let theta0 = match m.Threshold with Some t -> t | None -> torch.tensor (lif.VThreshold, dtype = input.dtype, device = input.device)
        { V = v; Threshold = theta0 + (state.Threshold - theta0) * rho + z * p.Increment }, z

    /// Runs from rest over time dimension 0 of `inputs` ([T; B; ...]); spikes and final state.
    let unrollWith (m: Modulation) (p: AdaptiveThresholdParameters) (inputs: Tensor) : Tensor * AdaptiveThresholdState =
        if isNull (box inputs) || inputs.dim () < 1 || inputs.shape.[0] = 0L then
            invalidArg "inputs" "must have a non-empty time dimension 0 ([T; B; ...])"
        Neuron.run (stepWith m p) (initialState p inputs.[0]) inputs

    /// Runs from rest; spikes [T; B; ...].
    let unroll (p: AdaptiveThresholdParameters) (inputs: Tensor) : Tensor = fst (unrollWith Modulation.None p inputs)

/// The adaptive LIF (AdLIF) as pure functions.
[<RequireQualifiedAccess>]
module AdLif =

    /// Checks the parameters; raises ArgumentException naming the offending parameter.
    let validate (p: AdLifParameters) : AdLifParameters =
        Neuron.positive "TauMem" p.TauMem
        Neuron.positive "TauAdapt" p.TauAdapt
        Neuron.positive "Dt" p.Dt
        if not (p.A >= -1.0 && p.A <= 1.0) then invalidArg "A" $"must lie in [-1, 1], got {p.A}"
        if not (p.B >= 0.0 && p.B <= 2.0) then invalidArg "B" $"must lie in [0, 2], got {p.B}"
        Neuron.finite "VThreshold" p.VThreshold
        Neuron.finite "VReset" p.VReset
        Surrogate.validate p.Surrogate |> ignore
        p

    /// Rest: u = h = w = 0, no previous spike.
    let initialState (_: AdLifParameters) (like: Tensor) : AdLifState =
        { U = torch.zeros_like like; H = torch.zeros_like like; W = torch.zeros_like like; Z = torch.zeros_like like }

    /// One step under a modulation (a modulation threshold replaces θ in the firing and the soft reset).
    let stepWith (m: Modulation) (p: AdLifParameters) (state: AdLifState) (input: Tensor) : AdLifState * Tensor =
        let alpha = Math.Exp (-p.Dt / p.TauMem)
        let rho = Math.Exp (-p.Dt / p.TauAdapt)
        let w =
            match p.Adaptation with
            | Filtered -> state.W * rho + (state.U * p.A + state.Z * p.B) * (1.0 - rho)
            | Unfiltered -> state.W * rho + state.H * p.A + state.Z * p.B
        let h = state.U * alpha + (Neuron.drive m input - state.W) * (1.0 - alpha)
        let z = Surrogate.spike p.Surrogate (Neuron.aboveThreshold m p.VThreshold h)
        let u = Neuron.reset p.Reset p.DetachReset m p.VThreshold p.VReset h z
        { U = u; H = h; W = w; Z = z }, z

    /// Runs from rest over time dimension 0 of `inputs` ([T; B; ...]); spikes and final state.
    let unrollWith (m: Modulation) (p: AdLifParameters) (inputs: Tensor) : Tensor * AdLifState =
        if isNull (box inputs) || inputs.dim () < 1 || inputs.shape.[0] = 0L then
            invalidArg "inputs" "must have a non-empty time dimension 0 ([T; B; ...])"
        Neuron.run (stepWith m p) (initialState p inputs.[0]) inputs

    /// Runs from rest; spikes [T; B; ...].
    let unroll (p: AdLifParameters) (inputs: Tensor) : Tensor = fst (unrollWith Modulation.None p inputs)
