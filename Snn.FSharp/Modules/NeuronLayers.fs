/// TorchSharp modules for every neuron model: each holds its parameters (and, for PLIF / PCuLIF, the trainable
/// time-constant weights) and calls the pure functions of `Snn.Neurons`. Every layer starts from rest on each call,
/// so nothing needs resetting between batches, and carries a `Modulation` (threshold tensor, external current) that
/// can change between runs without touching any weight (TM-SNN / EC-SNN of thesis ch. 4).
/// Input and output are time-first, [T; B; ...].
namespace Snn.Modules

open System
open TorchSharp
open Snn
open Snn.Neurons
open Snn.Tensors

/// Membrane traces recomputed from a layer's input with the layer's own pure step function.
[<RequireQualifiedAccess>]
module MembraneTrace =
    /// Runs `step` from `initial` over time dimension 0 of `input` ([T; B; ...]) under no_grad and stacks
    /// `voltage` of the state after every step: [T; B; ...], detached. The state after step t is the one step t+1
    /// starts from (after any reset), so a neuron that fired shows its reset potential.
    let record (step: 'S -> Tensor -> 'S * Tensor) (initial: Tensor -> 'S) (voltage: 'S -> Tensor) (input: Tensor) : Tensor =
        if isNull (box input) || input.dim () < 2 || input.shape.[0] = 0L then
            invalidArg "input" "must be time-first [T; B; ...] with at least one step"
        use _ = torch.no_grad ()
        let input = input.detach ()
        let vs = ResizeArray<Tensor>()
        Neuron.runRecorded step (fun _ s -> vs.Add ((voltage s).detach ())) (initial input.[0]) input |> ignore
        torch.stack (vs, 0L)

/// The base of the neuron layers: a module from input currents [T; B; ...] to spikes [T; B; ...] with a mutable
/// per-run modulation.
[<AbstractClass>]
type NeuronLayer(name: string) =
    inherit torch.nn.Module<Tensor, Tensor>(name)

    /// The membrane potential [T; B; ...] the layer goes through for input currents [T; B; ...] under its current
    /// modulation, recomputed with the reference step function under no_grad (the layer's parameters and graph
    /// are not touched): the state after each step's reset. Spike monitors call this to record membranes.
    abstract Membrane : input: Tensor -> Tensor

    /// The threshold / external-current modulation applied on the next forward passes (default: none).
    member val Modulation = Modulation.None with get, set

    /// The kernel of the IF / LIF / PLIF / CuLIF recurrences: by default `Fused` (`Dynamics`: the same spikes and
    /// gradients as the per-step reference, several times faster; it falls back to the reference where it cannot
    /// run the parameters); set `Reference` for double backward (hypergradients). A modulated run always uses
    /// the reference. The other models have only the reference.
    member val Kernel = Fused with get, set

    /// The kernel for the next run: the chosen one without modulation, the reference with it.
    member this.EffectiveKernel =
        match this.Modulation with
        | { Threshold = None; ExternalCurrent = None } -> this.Kernel
        | _ -> Reference

    /// Sets a threshold tensor (scalar, per neuron, per sample) for the following runs.
    member this.SetThreshold (threshold: Tensor) = this.Modulation <- { this.Modulation with Threshold = Some threshold }

    /// Sets an external current for the following runs.
    member this.SetExternalCurrent (current: Tensor) = this.Modulation <- { this.Modulation with ExternalCurrent = Some current }

    /// Removes any modulation.
    member this.ClearModulation () = this.Modulation <- Modulation.None

/// Integrate-and-fire neurons.
type IfLayer(name: string, neuron: IfParameters) =
    inherit NeuronLayer(name)
    let neuron = If.validate neuron
    /// The neuron parameters.
    member _.Neuron = neuron
    /// Spikes [T; B; ...] for input currents [T; B; ...].
    override this.forward (input: Tensor) =
        match this.EffectiveKernel with
        | Fused -> Dynamics.ifNeuron Fused neuron input
        | Reference -> fst (If.unrollWith this.Modulation neuron None input)
    /// The membrane v [T; B; ...] (IF state after reset) for input currents [T; B; ...].
    override this.Membrane (input: Tensor) =
        MembraneTrace.record (If.stepWith this.Modulation neuron) (If.initialState neuron) (fun s -> s.V) input

/// LIF neurons under a modulation (`LifLayer` is the plain form used by DenseSnn).
type ModulatedLifLayer(name: string, neuron: LifParameters) =
    inherit NeuronLayer(name)
    let neuron = Lif.validate neuron
    /// The neuron parameters.
    member _.Neuron = neuron
    /// Spikes [T; B; ...] for input currents [T; B; ...].
    override this.forward (input: Tensor) =
        match this.EffectiveKernel with
        | Fused -> Dynamics.lif Fused neuron input
        | Reference -> fst (Lif.unrollWith this.Modulation neuron None input)
    /// The membrane v [T; B; ...] (LIF state after reset) for input currents [T; B; ...].
    override this.Membrane (input: Tensor) =
        MembraneTrace.record (Lif.stepWith this.Modulation neuron) (Lif.initialState neuron) (fun s -> s.V) input

/// Parametric LIF neurons with a trainable time constant: one weight w (shape [] or the neuron shape).
type PlifLayer(name: string, neuron: PlifParameters, shape: int64[]) as this =
    inherit NeuronLayer(name)
    let neuron = Plif.validate neuron
    let w = torch.nn.Parameter (torch.zeros (shape, dtype = torch.float32) + Plif.initialWeight neuron)
    do this.register_parameter ("w", w)
    /// One time constant for the whole layer.
    new(name: string, neuron: PlifParameters) = new PlifLayer(name, neuron, [||])
    /// The neuron parameters.
    member _.Neuron = neuron
    /// The trainable weight w, τ = dt/σ(w).
    member _.Weight : Tensor = w
    /// The current membrane time constants in ms.
    member _.Tau : Tensor = Plif.tau neuron (w.detach ())
    /// Spikes [T; B; ...] for input currents [T; B; ...].
    override this.forward (input: Tensor) =
        match this.EffectiveKernel with
        | Fused -> Dynamics.plif Fused neuron w input
        | Reference -> Plif.unrollWith this.Modulation neuron w input
    /// The membrane v [T; B; ...] (PLIF state after reset, current τ) for input currents [T; B; ...].
    override this.Membrane (input: Tensor) =
        let rest (like: Tensor) : LifState = { V = torch.full_like (like, neuron.VRest); Refractory = torch.zeros_like like }
        MembraneTrace.record (Plif.stepWith this.Modulation neuron (w.detach ())) rest (fun s -> s.V) input

/// Current-based LIF neurons; with `trainable` the decays α, β are learned (PCuLIF) with shape `shape`.
type CuLifLayer(name: string, neuron: CuLifParameters, trainable: bool, shape: int64[]) as this =
    inherit NeuronLayer(name)
    let neuron = CuLif.validate neuron
    let a0, b0 = CuLif.initialWeights neuron
    let a = torch.nn.Parameter (torch.zeros (shape, dtype = torch.float32) + a0, requires_grad = trainable)
    let b = torch.nn.Parameter (torch.zeros (shape, dtype = torch.float32) + b0, requires_grad = trainable)
    do
        this.register_parameter ("a", a)
        this.register_parameter ("b", b)
        // Learned decays run the reference, the only implementation that trains α and β.
        if trainable then this.Kernel <- Reference
    /// Fixed time constants (CuLIF).
    new(name: string, neuron: CuLifParameters) = new CuLifLayer(name, neuron, false, [||])
    /// The neuron parameters.
    member _.Neuron = neuron
    /// Whether α and β are trained.
    member _.Trainable = trainable
    /// Spikes [T; B; ...] for input currents [T; B; ...].
    override this.forward (input: Tensor) =
        if trainable then CuLif.unrollParametric this.Modulation neuron a b input
        else
            match this.EffectiveKernel with
            | Fused -> Dynamics.cuLif Fused neuron input
            | Reference -> fst (CuLif.unrollWith this.Modulation neuron input)
    /// The membrane v [T; B; ...] (CuLIF state after reset; PCuLIF with the current α, β) for input currents [T; B; ...].
    override this.Membrane (input: Tensor) =
        let step = if trainable then CuLif.stepParametric this.Modulation neuron (a.detach ()) (b.detach ()) else CuLif.stepWith this.Modulation neuron
        MembraneTrace.record step (CuLif.initialState neuron) (fun s -> s.V) input

/// A neuron model as the generic layer needs it (Norse's pattern): the pure step under a modulation, the state at
/// rest shaped like one input step, and the membrane potential of a state.
[<NoEquality; NoComparison>]
type NeuronModel<'S> =
    { /// One step: (state, input current [B; ...]) → (next state, spikes [B; ...]).
      Step: Modulation -> 'S -> Tensor -> 'S * Tensor
      /// The state at rest, shaped like the given input step.
      Rest: Tensor -> 'S
      /// The membrane potential of a state (what monitors record).
      Voltage: 'S -> Tensor }

/// One layer for every neuron model that runs on its reference step alone: forward unrolls `Step` over time from
/// rest (`Neuron.run`), `Membrane` records `Voltage` of the same run. The models with fused kernels (IF, LIF, PLIF,
/// CuLIF) have their own layers above, which pick a kernel.
type ModelLayer<'P, 'S>(name: string, parameters: 'P, model: NeuronModel<'S>) as this =
    inherit NeuronLayer(name)
    // These models have only the reference; the kernel says so.
    do this.Kernel <- Reference
    /// The neuron parameters (validated).
    member _.Neuron : 'P = parameters
    /// Spikes [T; B; ...] for input currents [T; B; ...].
    override this.forward (input: Tensor) =
        if isNull (box input) || input.dim () < 1 || input.shape.[0] = 0L then
            invalidArg "input" "must have a non-empty time dimension 0 ([T; B; ...])"
        fst (Neuron.run (model.Step this.Modulation) (model.Rest input.[0]) input)
    /// The membrane [T; B; ...] (the state after each step's reset) for input currents [T; B; ...].
    override this.Membrane (input: Tensor) = MembraneTrace.record (model.Step this.Modulation) model.Rest model.Voltage input

/// The models of the generic layer, each from its validated parameters.
[<RequireQualifiedAccess>]
module NeuronModels =
    /// LIF with an adaptive threshold; membrane v.
    let adaptiveThreshold (p: AdaptiveThresholdParameters) =
        let p = AdaptiveThreshold.validate p
        p, { Step = (fun m -> AdaptiveThreshold.stepWith m p); Rest = AdaptiveThreshold.initialState p; Voltage = fun (s: AdaptiveThresholdState) -> s.V }

    /// AdLIF; membrane u (after the reset).
    let adLif (p: AdLifParameters) =
        let p = AdLif.validate p
        p, { Step = (fun m -> AdLif.stepWith m p); Rest = AdLif.initialState p; Voltage = fun (s: AdLifState) -> s.U }

    /// Quadratic or exponential IF; membrane v.
    let nonlinearIf (p: NonlinearIfParameters) =
        let p = NonlinearIf.validate p
        p, { Step = (fun m -> NonlinearIf.stepWith m p); Rest = NonlinearIf.initialState p; Voltage = fun (s: IfState) -> s.V }

    /// Izhikevich; membrane v in mV (after the reset to c).
    let izhikevich (p: IzhikevichParameters) =
        let p = Izhikevich.validate p
        p, { Step = (fun m -> Izhikevich.stepWith m p); Rest = Izhikevich.initialState p; Voltage = fun (s: IzhikevichState) -> s.V }

    /// Hodgkin-Huxley; membrane v in mV.
    let hodgkinHuxley (p: HodgkinHuxleyParameters) =
        let p = HodgkinHuxley.validate p
        p, { Step = (fun m -> HodgkinHuxley.stepWith m p); Rest = HodgkinHuxley.initialState p; Voltage = fun (s: HodgkinHuxleyState) -> s.V }

/// LIF neurons with an adaptive threshold.
type AdaptiveThresholdLayer private (name: string, model: AdaptiveThresholdParameters * NeuronModel<AdaptiveThresholdState>) =
    inherit ModelLayer<AdaptiveThresholdParameters, AdaptiveThresholdState>(name, fst model, snd model)
    new(name: string, neuron: AdaptiveThresholdParameters) = new AdaptiveThresholdLayer(name, NeuronModels.adaptiveThreshold neuron)

/// Adaptive LIF (AdLIF) neurons.
type AdLifLayer private (name: string, model: AdLifParameters * NeuronModel<AdLifState>) =
    inherit ModelLayer<AdLifParameters, AdLifState>(name, fst model, snd model)
    new(name: string, neuron: AdLifParameters) = new AdLifLayer(name, NeuronModels.adLif neuron)

/// Quadratic or exponential IF neurons.
type NonlinearIfLayer private (name: string, model: NonlinearIfParameters * NeuronModel<IfState>) =
    inherit ModelLayer<NonlinearIfParameters, IfState>(name, fst model, snd model)
    new(name: string, neuron: NonlinearIfParameters) = new NonlinearIfLayer(name, NeuronModels.nonlinearIf neuron)

/// Izhikevich neurons, differentiable through surrogate spikes and resets (inputs in the pA-like units of
/// Izhikevich 2003).
type IzhikevichLayer private (name: string, model: IzhikevichParameters * NeuronModel<IzhikevichState>) =
    inherit ModelLayer<IzhikevichParameters, IzhikevichState>(name, fst model, snd model)
    new(name: string, neuron: IzhikevichParameters) = new IzhikevichLayer(name, NeuronModels.izhikevich neuron)

/// Hodgkin-Huxley neurons, differentiable through their continuous dynamics (injected currents in µA/cm²).
type HodgkinHuxleyLayer private (name: string, model: HodgkinHuxleyParameters * NeuronModel<HodgkinHuxleyState>) =
    inherit ModelLayer<HodgkinHuxleyParameters, HodgkinHuxleyState>(name, fst model, snd model)
    new(name: string, neuron: HodgkinHuxleyParameters) = new HodgkinHuxleyLayer(name, NeuronModels.hodgkinHuxley neuron)
