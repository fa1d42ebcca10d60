/// The Hodgkin-Huxley neuron (thesis eq. 2.4-2.11; Hodgkin & Huxley 1952, in the modern convention with the
/// resting potential near -65 mV):
///
///     C dV/dt = I - ḡ_Na m³ h (V - E_Na) - ḡ_K n⁴ (V - E_K) - ḡ_L (V - E_L)
///     dx/dt = α_x(V)(1 - x) - β_x(V) x          for the gates x ∈ {m, h, n}
///     α_m = 0.1 (V + 40) / (1 - e^{-(V+40)/10})    β_m = 4 e^{-(V+65)/18}
///     α_h = 0.07 e^{-(V+65)/20}                    β_h = 1 / (1 + e^{-(V+35)/10})
///     α_n = 0.01 (V + 55) / (1 - e^{-(V+55)/10})   β_n = 0.125 e^{-(V+65)/80}
///
/// Units: mV, ms, µA/cm², mS/cm², µF/cm². Integration per sub-step δ = dt/Substeps: the gates by exponential Euler
/// (Rush-Larsen: x ← x_∞ + (x - x_∞) e^{-δ/τ_x}, exact for frozen V), then V by forward Euler. A spike is an upward
/// crossing of θ (0 mV): z_t = H(V_t - θ)·(1 - H(V_{t-1} - θ)), the first factor with a surrogate so the spike
/// train is differentiable; V itself is never reset (the dynamics are continuous and differentiable throughout).
/// Tensors are time-first ([T; B; ...]).
namespace Snn.Neurons

open System
open TorchSharp
open Snn
open Snn.Tensors

/// Parameters of the Hodgkin-Huxley neuron.
type HodgkinHuxleyParameters =
    { /// Membrane capacitance (µF/cm²).
      Capacitance: float
      /// Maximal sodium conductance (mS/cm²).
      GNa: float
      /// Maximal potassium conductance (mS/cm²).
      GK: float
      /// Leak conductance (mS/cm²).
      GLeak: float
      /// Sodium reversal potential (mV).
      ENa: float
      /// Potassium reversal potential (mV).
      EK: float
      /// Leak reversal potential (mV).
      ELeak: float
      /// Step dt in ms (> 0).
      Dt: float
      /// Integration sub-steps per dt (≥ 1).
      Substeps: int
      /// Spike detection level θ (mV).
      SpikeThreshold: float
      /// Surrogate of the spike detection, applied to (V - θ)/SurrogateScale.
      Surrogate: Surrogate
      /// Voltage scale in mV of the surrogate's argument.
      SurrogateScale: float }

    /// The squid-axon constants (C = 1, ḡ_Na = 120, ḡ_K = 36, ḡ_L = 0.3, E_Na = 50, E_K = -77, E_L = -54.387),
    /// dt = 0.1 ms in 5 sub-steps (δ = 0.02 ms), θ = 0 mV.
    static member Default =
        { Capacitance = 1.0; GNa = 120.0; GK = 36.0; GLeak = 0.3; ENa = 50.0; EK = -77.0; ELeak = -54.387
          Dt = 0.1; Substeps = 5; SpikeThreshold = 0.0; Surrogate = Surrogate.defaultSurrogate; SurrogateScale = 10.0 }

/// State of Hodgkin-Huxley neurons.
type HodgkinHuxleyState =
    { /// Membrane potential V (mV).
      V: Tensor
      /// Sodium activation m.
      M: Tensor
      /// Sodium inactivation h.
      H: Tensor
      /// Potassium activation n.
      N: Tensor }

/// The Hodgkin-Huxley neuron as pure functions.
[<RequireQualifiedAccess>]
module HodgkinHuxley =

    /// Checks the parameters; raises ArgumentException naming the offending parameter.
    let validate (p: HodgkinHuxleyParameters) : HodgkinHuxleyParameters =
        Neuron.positive "Capacitance" p.Capacitance
        for name, g in [ "GNa", p.GNa; "GK", p.GK; "GLeak", p.GLeak ] do
            if not (g >= 0.0) || Double.IsInfinity g then invalidArg name $"must be a finite conductance >= 0, got {g}"
        Neuron.finite "ENa" p.ENa
        Neuron.finite "EK" p.EK
        Neuron.finite "ELeak" p.ELeak
        Neuron.positive "Dt" p.Dt
        if p.Substeps < 1 then invalidArg "Substeps" $"must be >= 1, got {p.Substeps}"
        if p.Dt / float p.Substeps > 0.05 then
            invalidArg "Dt" $"the integration sub-step dt/Substeps = {p.Dt / float p.Substeps} ms exceeds 0.05 ms, where forward Euler on V becomes inaccurate"
        Neuron.finite "SpikeThreshold" p.SpikeThreshold
        Neuron.positive "SurrogateScale" p.SurrogateScale
        Surrogate.validate p.Surrogate |> ignore
        p

    /// x / (1 - e^{-x/k}) with its limit k at x = 0 (the removable singularity of α_m and α_n), safe for gradients.
    let private ratio (x: Tensor) (k: float) : Tensor =
        let small = x.abs().lt(torch.tensor (1e-6, device = x.device))
        let safeX = torch.where (small, torch.ones_like x, x)
        let regular = safeX / (1.0 - torch.exp (safeX / -k))
        torch.where (small, x * 0.5 + k, regular)

    /// Rate functions (α, β) of the three gates at V: ((α_m, β_m), (α_h, β_h), (α_n, β_n)) in 1/ms.
    let rates (v: Tensor) =
        let am = ratio (v + 40.0) 10.0 * 0.1
        let bm = torch.exp ((v + 65.0) / -18.0) * 4.0
        let ah = torch.exp ((v + 65.0) / -20.0) * 0.07
        let bh = 1.0 / (torch.exp ((v + 35.0) / -10.0) + 1.0)
        let an = ratio (v + 55.0) 10.0 * 0.01
        let bn = torch.exp ((v + 65.0) / -80.0) * 0.125
        (am, bm), (ah, bh), (an, bn)

    /// The steady state at V = -65 mV for every element of `like` (gates at x_∞(V)).
    let initialState (_: HodgkinHuxleyParameters) (like: Tensor) : HodgkinHuxleyState =
        let v = torch.full_like (like, -65.0)
        let (am, bm), (ah, bh), (an, bn) = rates v
        { V = v; M = am / (am + bm); H = ah / (ah + bh); N = an / (an + bn) }

    let private gate (delta: float) (x: Tensor) (alpha: Tensor, beta: Tensor) =
        let total = alpha + beta
        let infinity = alpha / total
        infinity + (x - infinity) * torch.exp (total * -delta)

    /// One step of dt (in sub-steps) under a modulation (a modulation threshold replaces θ); the input is the
    /// injected current density in µA/cm².
    let stepWith (m: Modulation) (p: HodgkinHuxleyParameters) (state: HodgkinHuxleyState) (input: Tensor) =
        let current = Neuron.drive m input
        let delta = p.Dt / float p.Substeps
        let mutable s = state
        for _ in 1 .. p.Substeps do
            let mRates, hRates, nRates = rates s.V
            let mg, hg, ng = gate delta s.M mRates, gate delta s.H hRates, gate delta s.N nRates
            let ionic =
                mg * mg * mg * hg * p.GNa * (s.V - p.ENa)
                + ng * ng * ng * ng * p.GK * (s.V - p.EK)
                + (s.V - p.ELeak) * p.GLeak
            s <- { V = s.V + (current - ionic) * (delta / p.Capacitance); M = mg; H = hg; N = ng }
        let above = Neuron.aboveThreshold m p.SpikeThreshold s.V
        let wasBelow = 1.0 - Surrogate.heaviside ((Neuron.aboveThreshold m p.SpikeThreshold state.V).detach ())
        s, Surrogate.spike p.Surrogate (above / p.SurrogateScale) * wasBelow

    /// Runs from rest over time dimension 0 of `inputs` ([T; B; ...]); spikes and final state; `record` sees each state.
    let run (m: Modulation) (p: HodgkinHuxleyParameters) (record: int -> HodgkinHuxleyState -> unit) (inputs: Tensor) =
        if isNull (box inputs) || inputs.dim () < 1 || inputs.shape.[0] = 0L then
            invalidArg "inputs" "must have a non-empty time dimension 0 ([T; B; ...])"
        Neuron.runRecorded (stepWith m p) record (initialState p inputs.[0]) inputs

    /// Runs from rest; spikes [T; B; ...].
    let unroll (p: HodgkinHuxleyParameters) (inputs: Tensor) : Tensor = fst (run Modulation.None p (fun _ _ -> ()) inputs)
