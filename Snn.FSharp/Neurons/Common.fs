/// What every neuron model shares: reset rules, integration schemes, input coupling, per-run modulation of the
/// threshold and the external current, parameter checks, and the loop over time.
///
/// Tensors are time-first: `run` takes inputs [T; B; ...] and returns spikes [T; B; ...].
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

/// How the leak ODE τ dv/dt = f(v) + g(v)·x is discretised over one step dt (input held constant over the step).
type Integration =
    /// v ← v_∞ + (v - v_∞)·e^{-dt/τ}: exact for the linear leak; the default.
    | ExactExponential
    /// v ← v + (dt/τ)·(f(v) + g(v)·x): forward Euler, first order in dt (SpikingJelly's `v += (x - v)/τ` with dt = 1).
    | ForwardEuler

/// How the input drives the membrane, the g(u) of thesis eq. 2.12.
type InputCoupling =
    /// g(u) = 1: the input is a current.
    | Direct
    /// g(u) = (u_i - u): a conductance with reversal potential u_i.
    | Conductance of reversal: float

/// Per-run modulation without touching weights (thesis ch. 4): a threshold tensor that replaces the parameter's
/// threshold (scalar, per neuron [N], per sample [B; 1] or per element [B; N]; broadcast against the state) and an
/// external current added to the input at every step (same broadcasting).
type Modulation =
    { /// Replaces the model's threshold when given.
      Threshold: Tensor option
      /// Added to the input of every step when given.
      ExternalCurrent: Tensor option }

    /// No modulation: the parameter threshold and no external current.
    static member None = { Threshold = None; ExternalCurrent = None }

    /// A threshold tensor only.
    static member WithThreshold (threshold: Tensor) = { Threshold = Some threshold; ExternalCurrent = None }

    /// An external current only.
    static member WithCurrent (current: Tensor) = { Threshold = None; ExternalCurrent = Some current }

    /// The same modulation with its tensors on `device` (themselves when already there).
    member m.OnDevice (device: torch.Device) : Modulation =
        { Threshold = m.Threshold |> Option.map (onDevice device)
          ExternalCurrent = m.ExternalCurrent |> Option.map (onDevice device) }

/// Helpers shared by the neuron models.
[<RequireQualifiedAccess>]
module Neuron =

    /// Raises ArgumentException naming `name` unless value is a finite number.
    let finite (name: string) (value: float) =
        if Double.IsNaN value || Double.IsInfinity value then invalidArg name $"must be a finite number, got {value}"

    /// Raises ArgumentException naming `name` unless value is a finite number > 0.
    let positive (name: string) (value: float) =
        if not (value > 0.0) || Double.IsInfinity value then invalidArg name $"must be a finite number > 0, got {value}"

    /// Raises ArgumentException naming `name` unless value ≥ 0.
    let nonNegative (name: string) (value: int) =
        if value < 0 then invalidArg name $"must be >= 0, got {value}"

    /// Checks an input tensor: not null, no NaN, and (when given) the shape of the state it drives.
    let checkInput (name: string) (expected: Tensor option) (input: Tensor) =
        if isNull (box input) then nullArg name
        match expected with
        | Some state when state.shape <> input.shape ->
            invalidArg name $"has shape %A{input.shape} but the neuron state has shape %A{state.shape}"
        | _ -> ()
        if holdsValues input && input.isnan().any().ToBoolean () then invalidArg name "contains NaN"

    /// The input of one step with the modulation's external current added.
    let drive (m: Modulation) (input: Tensor) : Tensor =
        match m.ExternalCurrent with
        | Some current -> input + current
        | None -> input

    /// v - θ, with θ from the modulation when it carries one.
    let aboveThreshold (m: Modulation) (threshold: float) (v: Tensor) : Tensor =
        match m.Threshold with
        | Some theta -> v - theta
        | None -> v - threshold

    /// The reset rule applied to the charged potential h given the spikes z (detached first when asked).
    let reset (mode: ResetMode) (detach: bool) (m: Modulation) (threshold: float) (vReset: float) (h: Tensor) (z: Tensor) =
        let z = if detach then z.detach () else z
        match mode with
        | Hard -> h * (1.0 - z) + z * vReset
        | Soft ->
            match m.Threshold with
            | Some theta -> h - z * theta
            | None -> h - z * threshold
        | NoReset -> h

    /// One step of decay towards `target` over dt with time constant τ under the chosen scheme; `drive` is the
    /// coupled input g(v)·x. Exact: target + β(v - target) + (1 - β)·drive; Euler: v + (dt/τ)(target - v + drive).
    let leak (scheme: Integration) (dt: float) (tau: float) (target: float) (v: Tensor) (drive: Tensor) : Tensor =
        match scheme with
        | ExactExponential ->
            let beta = Math.Exp (-dt / tau)
            (v - target) * beta + drive * (1.0 - beta) + target
        | ForwardEuler ->
            let k = dt / tau
            v + ((v - target) * -1.0 + drive) * k

    /// The input coupled through g(v): x itself, or x·(u_i - v) for a conductance.
    let couple (coupling: InputCoupling) (v: Tensor) (x: Tensor) : Tensor =
        match coupling with
        | Direct -> x
        | Conductance reversal -> x * (reversal - v)

    /// Runs `step` over time dimension 0 of `inputs` ([T; B; ...]) from `state`; returns the spikes [T; B; ...]
    /// and the final state. `record` is called with every step's new state (for traces and monitors).
    let runRecorded (step: 'S -> Tensor -> 'S * Tensor) (record: int -> 'S -> unit) (state: 'S) (inputs: Tensor)
        : Tensor * 'S =
        if isNull (box inputs) then nullArg "inputs"
        if inputs.dim () < 1 then invalidArg "inputs" "must have a time dimension 0 ([T; B; ...])"
        let steps = int inputs.shape.[0]
        if steps = 0 then invalidArg "inputs" "has no time steps (dimension 0 is empty)"
        // One reduction per run: a NaN would otherwise silently poison every later step and gradient.
        checkInput "inputs" None inputs
        let mutable s = state
        let spikes = Array.zeroCreate steps
        for t in 0 .. steps - 1 do
            let s', z = step s inputs.[t]
            s <- s'
            spikes.[t] <- z
            record t s'
        torch.stack (spikes, 0L), s

    /// Runs `step` over time dimension 0 of `inputs` ([T; B; ...]) from `state`; returns spikes and final state.
    let run (step: 'S -> Tensor -> 'S * Tensor) (state: 'S) (inputs: Tensor) : Tensor * 'S =
        runRecorded step (fun _ _ -> ()) state inputs

    /// The refractory gate: given the remaining refractory steps r (float tensor), the mask of neurons free to
    /// integrate and fire (r ≤ 0).
    let free (remaining: Tensor) : Tensor = remaining.le(torch.zeros_like remaining).``to``(remaining.dtype)

    /// The refractory counter after a step: R steps after a spike, otherwise one less (not below 0).
    let countDown (period: int) (remaining: Tensor) (z: Tensor) : Tensor =
        let z = z.detach ()
        (remaining - 1.0).clamp_min(0.0) * (1.0 - z) + z * float period
