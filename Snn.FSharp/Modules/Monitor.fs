/// Recorders of spikes and membrane potentials per layer, attached by forward hooks so the network runs exactly as
/// without them. Recorded tensors are time-first [T; B; ...], detached copies owned by the monitor (outside any
/// dispose scope), one per forward call; `Clear` and `Dispose` free them.
namespace Snn

open System
open System.Collections.Generic
open TorchSharp
open Snn.Neurons
open Snn.Modules
open Snn.Tensors

/// Records the output spikes of named layers on every forward call, and optionally their membrane potentials.
///
/// Membrane potentials are recomputed from the recorded input with the layer's own pure step function (the same
/// code the layer runs), under no_grad, after the layer has produced its output; the layer's computation and its
/// graph are never touched. TorchSharp runs hooks only when a module is invoked through `call`; the containers of
/// `Snn.Modules` (DenseSnn, TimeDistributed, SpikingSequential, the ch. 3 models) invoke their children that way.
/// Membranes are recorded for `LifLayer` and every `NeuronLayer` (IF, LIF, PLIF, CuLIF / PCuLIF, adaptive threshold,
/// AdLIF, QIF / EIF, Izhikevich, Hodgkin-Huxley) through its `Membrane` member, also when the monitored module
/// is a wrapper that forwards to such a layer registered as its child "core" (the layers of the C# facade).
type SpikeMonitor(layers: (string * torch.nn.Module<Tensor, Tensor>)[], recordMembrane: bool) =
    let spikes = Dictionary<string, List<Tensor>>()
    let membranes = Dictionary<string, List<Tensor>>()
    let keep (t: Tensor) = t.detach().clone().DetachFromDisposeScope ()
    let rec membraneOf (layer: torch.nn.Module) (input: Tensor) : Tensor option =
        match layer with
        | :? LifLayer as l -> Some (MembraneTrace.record (Lif.step l.Neuron) (Lif.initialState l.Neuron) (fun s -> s.V) input)
        | :? NeuronLayer as l -> Some (l.Membrane input)
        | wrapper ->
            // A facade module that forwards to a neuron layer registered as its child "core" (the C# layers).
            wrapper.named_children ()
            |> Seq.tryPick (fun struct (name, child) -> if name = "core" then membraneOf child input else None)
    do
            if isNull layers || layers.Length = 0 then invalidArg "layers" "needs at least one (name, layer) pair"
            for name, layer in layers do
                if isNull (box layer) then nullArg "layers"
                if spikes.ContainsKey name then invalidArg "layers" $"names layer '{name}' twice"
                spikes.[name] <- List<Tensor>()
                if recordMembrane then membranes.[name] <- List<Tensor>()
    let mutable disposed = false
    let handles =
        [ for name, layer in layers ->
            layer.register_forward_hook (Func<torch.nn.Module<Tensor, Tensor>, Tensor, Tensor, Tensor>(fun m input output ->
                spikes.[name].Add (keep output)
                if recordMembrane then
                    match membraneOf m (input.detach ()) with
                    | Some v -> membranes.[name].Add (v.DetachFromDisposeScope ())
                    | None -> ()
                output)) ]

    /// A monitor of spikes only.
    new(layers: (string * torch.nn.Module<Tensor, Tensor>)[]) = new SpikeMonitor(layers, false)

    /// A monitor of the named layers (the .NET-friendly form: name → layer).
    new(layers: IReadOnlyDictionary<string, torch.nn.Module<Tensor, Tensor>>, recordMembrane: bool) =
        if isNull layers then nullArg "layers"
        new SpikeMonitor(layers |> Seq.map (fun kv -> kv.Key, kv.Value) |> Seq.toArray, recordMembrane)

    /// The monitored layer names.
    member _.Names : string[] = layers |> Array.map fst

    /// The spikes [T; B; ...] recorded for a layer, one tensor per forward call.
    member _.Spikes (name: string) : Tensor[] =
        match spikes.TryGetValue name with
        | true, l -> l.ToArray ()
        | _ -> invalidArg "name" $"no monitored layer is called '{name}'"

    /// The membrane potentials [T; B; ...] recorded for a layer (after its reset, as the state the next step
    /// starts from), one tensor per forward call; empty when not recorded or not supported for that layer type.
    member _.Membranes (name: string) : Tensor[] =
        if not (spikes.ContainsKey name) then invalidArg "name" $"no monitored layer is called '{name}'"
        match membranes.TryGetValue name with
        | true, l -> l.ToArray ()
        | _ -> [||]

    /// The mean firing rate of a layer over every recorded call, in spikes per neuron and step:
    /// r = Σ z / (number of recorded elements).
    member this.FiringRate (name: string) : float =
        let recorded = this.Spikes name
        if recorded.Length = 0 then invalidArg "name" $"layer '{name}' has not run since the monitor was attached"
        let total = recorded |> Array.sumBy (fun t -> use s = t.sum () in s.ToDouble ())
        let count = recorded |> Array.sumBy (fun t -> float (t.numel ()))
        total / count

    /// The firing rate of every monitored layer that has run.
    member this.FiringRates () : (string * float)[] =
        [| for name in this.Names do if spikes.[name].Count > 0 then yield name, this.FiringRate name |]

    /// Frees every recorded tensor and starts recording afresh.
    member _.Clear () =
        for l in Seq.append spikes.Values membranes.Values do
            for t in l do t.Dispose ()
            l.Clear ()

    /// Detaches the hooks and frees the recordings.
    member this.Dispose () =
        if not disposed then
            disposed <- true
            for h in handles do h.remove ()
        this.Clear ()

    interface IDisposable with
        /// Detaches the hooks and frees the recordings.
        member this.Dispose () = this.Dispose ()
