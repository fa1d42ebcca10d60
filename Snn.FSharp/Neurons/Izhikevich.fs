/// The Izhikevich neuron (thesis eq. 2.17-2.20; Izhikevich 2003, "Simple model of spiking neurons"):
///
///     dv/dt = 0.04 v² + 5 v + 140 - u + I        (v in mV, t in ms)
///     du/dt = a (b v - u)
///     if v ≥ 30 mV:  v ← c,  u ← u + d,  emit a spike
///
/// integrated by forward Euler in `Substeps` sub-steps per dt (Izhikevich's own code uses two 0.5 ms half-steps for v).
/// The bounded-rate variant (eq. 2.20) only fires when at least τ_min ms have passed since the last spike;
/// otherwise v is held at 30 mV. Differentiable form: z = spike((v - 30)/s) with a surrogate of scale s mV, and
/// the reset v ← v(1 - z) + c z, u ← u + d z uses z, so BPTT trains a, b, c, d, the input and the weights before it.
/// Tensors are time-first ([T; B; ...]).
namespace Snn.Neurons

open System
open TorchSharp
open Snn
open Snn.Tensors

/// Parameters of the Izhikevich neuron.
type IzhikevichParameters =
    { /// Recovery time scale a (1/ms).
      A: float
      /// Sensitivity b of the recovery to v.
      B: float
      /// After-spike reset of v (mV).
      C: float
      /// After-spike increment of u.
      D: float
      /// Step dt in ms (> 0).
      Dt: float
      /// Euler sub-steps per dt (≥ 1).
      Substeps: int
      /// Minimum interval τ_min between spikes in ms (eq. 2.20); 0 = unbounded rate.
      MinInterval: float
      /// Surrogate gradient of the spike.
      Surrogate: Surrogate
      /// Voltage scale s in mV of the surrogate's argument (v - 30)/s.
      SurrogateScale: float }

    /// Regular spiking (RS) at dt = 1 ms in two sub-steps.
    static member Default =
        { A = 0.02; B = 0.2; C = -65.0; D = 8.0; Dt = 1.0; Substeps = 2; MinInterval = 0.0
          Surrogate = Surrogate.defaultSurrogate; SurrogateScale = 10.0 }

/// State of Izhikevich neurons.
type IzhikevichState =
    { /// Membrane potential v (mV).
      V: Tensor
      /// Recovery variable u.
      U: Tensor
      /// Time since the last spike in ms (large before the first spike).
      SinceSpike: Tensor }

/// The Izhikevich neuron as pure functions.
[<RequireQualifiedAccess>]
module Izhikevich =

    /// The spike cut-off of the model, 30 mV.
    let peak = 30.0

    /// The named presets of Izhikevich (2003), fig. 2: (name, a, b, c, d).
    let presets : (string * float * float * float * float) list =
        [ "RS", 0.02, 0.2, -65.0, 8.0     // regular spiking: adapting inter-spike intervals
          "IB", 0.02, 0.2, -55.0, 4.0     // intrinsically bursting
          "CH", 0.02, 0.2, -50.0, 2.0     // chattering: fast bursts
          "FS", 0.1, 0.2, -65.0, 2.0      // fast spiking: no adaptation
          "LTS", 0.02, 0.25, -65.0, 2.0   // low-threshold spiking
          "TC", 0.02, 0.25, -65.0, 0.05   // thalamo-cortical
          "RZ", 0.1, 0.26, -65.0, 2.0 ]   // resonator

    /// The default parameters with the (a, b, c, d) of a named preset; raises ArgumentException for unknown names.
    let preset (name: string) : IzhikevichParameters =
        match presets |> List.tryFind (fun (n, _, _, _, _) -> String.Equals (n, name, StringComparison.OrdinalIgnoreCase)) with
        | Some (_, a, b, c, d) -> { IzhikevichParameters.Default with A = a; B = b; C = c; D = d }
        | None ->
            let known = String.Join (", ", presets |> List.map (fun (n, _, _, _, _) -> n))
            invalidArg "name" $"unknown Izhikevich preset '{name}' (known: {known})"

    /// Checks the parameters; raises ArgumentException naming the offending parameter.
    let validate (p: IzhikevichParameters) : IzhikevichParameters =
        Neuron.finite "A" p.A
        Neuron.finite "B" p.B
        Neuron.finite "C" p.C
        Neuron.finite "D" p.D
        Neuron.positive "Dt" p.Dt
        if p.Substeps < 1 then invalidArg "Substeps" $"must be >= 1, got {p.Substeps}"
        if not (p.MinInterval >= 0.0) then invalidArg "MinInterval" $"must be >= 0, got {p.MinInterval}"
        Neuron.positive "SurrogateScale" p.SurrogateScale
        Surrogate.validate p.Surrogate |> ignore
        p

    /// The initial state of Izhikevich's code: v = -65 mV, u = b·v.
    let initialState (p: IzhikevichParameters) (like: Tensor) : IzhikevichState =
        let v = torch.full_like (like, -65.0)
        { V = v; U = v * p.B; SinceSpike = torch.full_like (like, 1e9) }

    /// One step of dt under a modulation (a modulation threshold replaces the 30 mV cut-off).
    let stepWith (m: Modulation) (p: IzhikevichParameters) (state: IzhikevichState) (input: Tensor) : IzhikevichState * Tensor =
        let current = Neuron.drive m input
        let h = p.Dt / float p.Substeps
        let mutable v = state.V
        let mutable u = state.U
        for _ in 1 .. p.Substeps do
            let dv = v * v * 0.04 + v * 5.0 + 140.0 - u + current
            let du = (v * p.B - u) * p.A
            // A diverging upswing is capped at 130 mV (100 mV above the peak) to stay finite inside the step. The cap is
            // gradient-transparent (straight-through): the value is min(v, 130) but ∂v/∂· is that of the uncapped
            // Euler step, so upswing steps pass the same gradient as steps below the cap.
            let next = v + dv * h
            v <- next - (next - next.clamp_max (130.0)).detach ()
            u <- u + du * h
        let crossing = Surrogate.spike p.Surrogate (Neuron.aboveThreshold m peak v / p.SurrogateScale)
        let since = state.SinceSpike + p.Dt
        let z, v =
            if p.MinInterval > 0.0 then
                // eq. 2.20: fire only when τ_min has passed; otherwise hold v at the cut-off.
                let allowed = since.ge(torch.tensor (p.MinInterval, device = since.device)).``to``(v.dtype)
                let z = crossing * allowed
                let held = crossing.detach () * (1.0 - allowed)
                z, v * (1.0 - held) + held * peak
            else crossing, v
        let vReset = v * (1.0 - z) + z * p.C
        { V = vReset; U = u + z * p.D; SinceSpike = since * (1.0 - z.detach ()) }, z

    /// Runs from rest over time dimension 0 of `inputs` ([T; B; ...]); spikes and final state; `record` sees each state.
    let run (m: Modulation) (p: IzhikevichParameters) (record: int -> IzhikevichState -> unit) (inputs: Tensor) =
        if isNull (box inputs) || inputs.dim () < 1 || inputs.shape.[0] = 0L then
            invalidArg "inputs" "must have a non-empty time dimension 0 ([T; B; ...])"
        Neuron.runRecorded (stepWith m p) record (initialState p inputs.[0]) inputs

    /// Runs from rest; spikes [T; B; ...].
    let unroll (p: IzhikevichParameters) (inputs: Tensor) : Tensor = fst (run Modulation.None p (fun _ _ -> ()) inputs)
