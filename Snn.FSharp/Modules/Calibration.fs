/// Data-driven initialisation of spiking layers (LSUV-style, Mishkin & Matas 2016): the weights W of a synapse
/// layer followed by neurons are scaled by s so that the neurons fire at a target rate r (spikes per neuron and
/// step) on real inputs. The pre-activation is linear in the weights (and bias), a(sW, sb) = s·a(W, b), so the
/// rate of the scaled layer is the rate of the neurons driven by s·a, and s is found by bisecting log₁₀ s over
/// [-4, 4] (24 halvings) without touching the weights until it is known. Sparse event inputs leave a
/// default-initialised network silent, and a silent layer passes no surrogate gradient back to its weights: the
/// loss then sits at ln C for ever. Inputs are time-first [T; B; ...].
namespace Snn.Modules

open System
open TorchSharp
open Snn
open Snn.Tensors

/// How a trainer prepares a fresh network's weights before its first epoch.
type Calibration =
    /// Leave the initialisation as it is.
    | NoCalibration
    /// Scale only the synapse layers whose neurons are silent (fire below a tenth of `rate`) so that they fire at
    /// `rate`; layers that already fire, and trained networks, are left alone.
    | SilentLayers of rate: float
    /// Scale every synapse layer followed by neurons so that its neurons fire at `rate` (LSUV).
    | EveryLayer of rate: float

/// What the calibration did to one synapse layer.
type LayerCalibration =
    { /// The synapse layer (its name and position in the chain).
      Synapses: string
      /// The neuron layer it drives.
      Neurons: string
      /// The neurons' firing rate before.
      RateBefore: float
      /// The factor applied to the synapse layer's weights and bias (1 when it was left alone).
      Scale: float
      /// The neurons' firing rate after.
      RateAfter: float }

/// The calibrated initialisation and the firing rates of a layer chain (`ILayerChain`).
[<RequireQualifiedAccess>]
module Calibration =

    /// The scale s in [10^-4, 10^4] at which `firing s` (a rate increasing with s) reaches `rate`, by bisection of
    /// log₁₀ s (24 halvings of [-4, 4]). The one bisection of every calibrated initialisation (TM-SNN's too).
    let scaleForRate (firing: float -> float) (rate: float) : float =
        let mutable lo, hi = -4.0, 4.0
        for _ in 1 .. 24 do
            let mid = (lo + hi) / 2.0
            if firing (10.0 ** mid) < rate then lo <- mid else hi <- mid
        10.0 ** ((lo + hi) / 2.0)

    /// The neuron layer a module is: a neuron layer itself, or a facade wrapper of one registered as "core".
    let rec private isNeurons (m: torch.nn.Module) : bool =
        match m with
        | :? NeuronLayer | :? LifLayer -> true
        | _ -> m.named_children () |> Seq.exists (fun struct (name, child) -> name = "core" && isNeurons child)

    let private isSynapseModule (m: torch.nn.Module) =
        match m with
        | :? TorchSharp.Modules.Linear | :? TorchSharp.Modules.Conv2d | :? SpikeLinear | :? SpikeConv2d -> true
        | _ -> false

    /// Whether a chain layer is a synapse layer (Linear, Conv2d, SpikeLinear or SpikeConv2d, possibly in
    /// `TimeDistributed`).
    let private isSynapses (m: torch.nn.Module) =
        match m with
        | :? TimeDistributed as t -> isSynapseModule t.Inner
        | _ -> isSynapseModule m

    /// Layers that are the identity at inference and may sit between synapses and their neurons.
    let private isTransparent (m: torch.nn.Module) =
        match m with
        | :? SharedDropout | :? TorchSharp.Modules.Dropout -> true
        | _ -> false

    /// The layers of a chain model in the order forward runs them, nested chains opened; None when the model (or
    /// a nested container) is not an `ILayerChain`, whose order cannot be known.
    let rec layers (model: torch.nn.Module<Tensor, Tensor>) : torch.nn.Module<Tensor, Tensor>[] option =
        match box model with
        | :? ILayerChain as chain ->
            let parts = chain.Chain |> Array.map (fun l -> match box l with :? ILayerChain -> layers l | _ -> Some [| l |])
            if parts |> Array.forall Option.isSome then Some (parts |> Array.collect Option.get) else None
        | _ -> None

    /// Runs one chain layer on x [T; B; ...] as `SpikingSequential` does (stateless layers over [T·B; ...]).
    let private run (layer: torch.nn.Module<Tensor, Tensor>) (x: Tensor) : Tensor =
        if SpikingSequential.IsTimeAware layer then layer.call x
        else (layer.call (x.flatten (0L, 1L))).unflatten (0L, [| x.shape.[0]; x.shape.[1] |])

    let private rateOf (spikes: Tensor) = (use m = spikes.mean () in m.ToDouble ())

    let private label (i: int) (layer: torch.nn.Module) = $"{layer.GetName ()} (layer {i + 1})"

    /// Walks the chain under no_grad in evaluation mode (dropout off), restoring the mode afterwards.
    let private walk (model: torch.nn.Module<Tensor, Tensor>) (visit: unit -> 'a) : 'a =
        let wasTraining = model.training
        model.eval ()
        try
            use _ = torch.no_grad ()
            use _ = torch.NewDisposeScope ()
            visit ()
        finally
            model.train wasTraining

    /// The firing rate (spikes per neuron and step) of every neuron layer of a chain model on input [T; B; ...]
    /// in evaluation mode: (name, rate) in chain order; None when the model is not an `ILayerChain`.
    let firingRates (model: torch.nn.Module<Tensor, Tensor>) (input: Tensor) : (string * float)[] option =
        layers model |> Option.map (fun chain ->
            walk model (fun () ->
                let mutable x = input
                [| for i, layer in Array.indexed chain do
                     x <- run layer x
                     if isNeurons layer then yield label i layer, rateOf x |]))

    /// Scales the synapse layers of a chain model as `mode` asks (see `Calibration`) on input [T; B; ...]: layer by
    /// layer from the input, each synapse layer directly followed by neurons (dropout between them is allowed) is
    /// scaled by `scaleForRate`, and the next layers see the calibrated spikes. A layer whose neurons cannot reach
    /// the rate even at scale 10⁴ (e.g. no input reaches it) is left alone. Error (the reason) when the model is
    /// not an `ILayerChain`; otherwise what was done to every synapse layer that drives neurons.
    let calibrate (mode: Calibration) (model: torch.nn.Module<Tensor, Tensor>) (input: Tensor) : Result<LayerCalibration[], string> =
        if isNull (box model) then nullArg "model"
        if isNull (box input) || input.dim () < 3 || input.shape.[0] = 0L || input.shape.[1] = 0L then
            invalidArg "input" "must be a non-empty time-first batch [T; B; ...]"
        let target =
            match mode with
            | NoCalibration -> None
            | SilentLayers rate | EveryLayer rate ->
                if not (rate > 0.0 && rate < 1.0) then invalidArg "rate" $"must lie in (0, 1), got {rate}"
                Some rate
        match target, layers model with
        | None, _ -> Ok [||]
        | Some _, None -> Error $"{model.GetType().Name} is not a chain of layers (ILayerChain): its initialisation is left as it is"
        | Some rate, Some chain ->
            walk model (fun () ->
                let results = ResizeArray<LayerCalibration> ()
                let mutable x = input
                let mutable pending : (int * torch.nn.Module<Tensor, Tensor> * Tensor) option = None
                for i, layer in Array.indexed chain do
                    if isSynapses layer then
                        x <- run layer x
                        pending <- Some (i, layer, x)
                    elif isNeurons layer then
                        match pending with
                        | Some (j, synapses, drive) ->
                            let firing (scale: float) = (use _ = torch.NewDisposeScope () in rateOf (run layer (drive * scale)))
                            let before = firing 1.0
                            let wanted =
                                match mode with
                                | SilentLayers _ -> before < rate / 10.0
                                | _ -> true
                            let scale = if wanted && firing 1e4 >= rate then scaleForRate firing rate else 1.0
                            if scale <> 1.0 then
                                for p in synapses.parameters () do p.mul_ (torch.tensor (scale, device = p.device)) |> ignore
                            x <- run layer (if scale <> 1.0 then drive * scale else drive)
                            results.Add { Synapses = label j synapses; Neurons = label i layer; RateBefore = before
                                          Scale = scale; RateAfter = (if scale <> 1.0 then rateOf x else before) }
                        | None -> x <- run layer x
                        pending <- None
                    elif isTransparent layer then x <- run layer x
                    else
                        x <- run layer x
                        pending <- None
                Ok (results.ToArray ()))

    /// One line per synapse layer the calibration scaled (for a trainer's log).
    let describe (results: LayerCalibration[]) : string list =
        [ for r in results do
            if r.Scale <> 1.0 then
                yield $"calibrated initialisation: {r.Synapses} scaled by {r.Scale:G3}, so {r.Neurons} fires at {r.RateAfter:F3} spikes per neuron and step (was {r.RateBefore:F3})" ]
