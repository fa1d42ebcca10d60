/// Activity, energy, time and core-mapping estimates of an emulated run.
///
/// Constants: Loihi 1 figures from Davies et al., IEEE Micro 38(1), 2018, Table 2 (synaptic op 23.6 pJ / 3.5 ns,
/// neuron update 81 pJ active / 52 pJ inactive and 8.4 / 5.3 ns, spike within a tile 1.7 pJ, barrier sync 113 ns
/// for one tile to 465 ns for 32). Loihi 2 publishes no per-operation energies: its figures here are EXTRAPOLATED
/// from Loihi 1 (same energies, times divided by 10 after Intel's "up to 10x faster spike processing"), with
/// Loihi 2's capacity (8192 neurons per core on average, 128 cores). Static power is not published per core and is
/// left out, so energies are dynamic energy only.
///
/// Estimator: per step, E = SynOps·E_syn + N_inactive·E_inactive + N_active·E_active + spikes·E_spike;
/// t_step = max over cores (SynOps_core·t_syn + N_core·t_neuron) + t_sync, with each layer's load spread evenly
/// over its cores. Synaptic memory is estimated at 2 bytes per stored synapse (8-bit weight plus delay and format
/// bits), an assumption, not a published figure.
namespace Snn.Loihi

open System

/// Published (or extrapolated) per-operation costs and per-chip capacity.
type ChipConstants =
    { /// Chip name, with "(extrapolated)" when the figures are not published.
      Name: string
      /// Energy per synaptic operation, joules.
      SynOpEnergy: float
      /// Energy per active neuron update, joules.
      ActiveNeuronEnergy: float
      /// Energy per inactive neuron update, joules.
      InactiveNeuronEnergy: float
      /// Energy per spike sent within a tile, joules.
      SpikeEnergy: float
      /// Time per synaptic operation, seconds.
      SynOpTime: float
      /// Time per active neuron update, seconds.
      NeuronTime: float
      /// Barrier synchronisation per step, seconds.
      SyncTime: float
      /// Neuro-cores per chip.
      Cores: int
      /// Neurons (compartments) per core.
      NeuronsPerCore: int
      /// Synaptic memory per core, bytes.
      SynapticMemoryPerCore: int
      /// Input axons per core.
      FanInPerCore: int }

    /// Loihi 1 (Davies et al. 2018, Table 2).
    static member Loihi1 =
        { Name = "Loihi 1 (Davies et al. 2018, Table 2)"; SynOpEnergy = 23.6e-12; ActiveNeuronEnergy = 81e-12; InactiveNeuronEnergy = 52e-12
          SpikeEnergy = 1.7e-12; SynOpTime = 3.5e-9; NeuronTime = 8.4e-9; SyncTime = 113e-9; Cores = 128; NeuronsPerCore = 1024
          SynapticMemoryPerCore = 128 * 1024; FanInPerCore = 4096 }

    /// Loihi 2, EXTRAPOLATED from Loihi 1: same energies, times / 10, 8192 neurons per core.
    static member Loihi2 =
        { ChipConstants.Loihi1 with
            Name = "Loihi 2 (extrapolated from Loihi 1: energies as Loihi 1, times / 10)"
            SynOpTime = 0.35e-9; NeuronTime = 0.84e-9; SyncTime = 11.3e-9; NeuronsPerCore = 8192 }

/// Activity and estimates of one layer.
type LayerProfile =
    { /// Layer name.
      Name: string
      /// Neurons.
      Neurons: int
      /// Stored (non-zero) synapses into the layer.
      Synapses: int
      /// Spikes emitted over the run.
      Spikes: int64
      /// Synaptic operations caused by the layer's spikes over the run.
      SynOps: int64
      /// Neuron updates with non-zero state or input, summed over steps.
      ActiveNeuronUpdates: int64
      /// Cores the layer needs.
      Cores: int
      /// Estimated synaptic memory per core, bytes.
      MemoryPerCore: int
      /// Dynamic energy over the run, joules.
      Energy: float }

/// The profile of a run.
type Profile =
    { /// The constants used.
      Chip: ChipConstants
      /// Per-layer figures.
      Layers: LayerProfile[]
      /// Steps run.
      Steps: int
      /// Cores used.
      Cores: int
      /// Reasons the network does not fit the chip (empty when it fits).
      Refusals: string list
      /// Estimated time per step, seconds.
      TimePerStep: float
      /// Dynamic energy per step, joules.
      EnergyPerStep: float
      /// Dynamic energy per sample (per reset interval), joules; None when the run had no reset interval.
      EnergyPerSample: float option
      /// Spikes per sample (summed over layers), one entry per complete reset interval.
      SpikesPerSample: int64[] }

/// Building profiles.
[<RequireQualifiedAccess>]
module Profiler =

    /// Profiles a run of `network` (the result of `Emulator.run` with `resetInterval`) on `chip`.
    let profile (chip: ChipConstants) (network: Network) (result: RunResult) (resetInterval: int option) : Profile =
        let steps = if result.Spikes.Length = 0 then 0 else result.Spikes.[0].Length
        let layers = network.Layers
        let refusals = ResizeArray<string> ()
        let profiles =
            layers
            |> Array.mapi (fun i layer ->
                let synapses =
                    (layer.Incoming |> Option.map (fun c -> (FanOut.ofConnection c).SynapseCount) |> Option.defaultValue 0)
                    + (layer.Recurrent |> Option.map (fun r -> r |> Array.sumBy (fun w -> if w <> 0 then 1 else 0)) |> Option.defaultValue 0)
                let bytes = 2 * synapses
                let byNeurons = (layer.Count + chip.NeuronsPerCore - 1) / chip.NeuronsPerCore
                let byMemory = (bytes + chip.SynapticMemoryPerCore - 1) / chip.SynapticMemoryPerCore
                let cores = max 1 (max byNeurons byMemory)
                match layer.Incoming with
                | Some (Dense (inputs, _)) when inputs > chip.FanInPerCore ->
                    refusals.Add $"layer {i} ('{layer.Name}'): a dense layer with {inputs} inputs exceeds {chip.FanInPerCore} input axons per core"
                | _ -> ()
                let a = result.Activity.[i]
                let spikes = a.Spikes |> Array.sumBy int64
                let synOps = a.SynOps |> Array.sum
                let active = a.ActiveNeurons |> Array.sumBy int64
                let inactive = int64 layer.Count * int64 steps - active
                let energy =
                    float synOps * chip.SynOpEnergy + float active * chip.ActiveNeuronEnergy
                    + float inactive * chip.InactiveNeuronEnergy + float spikes * chip.SpikeEnergy
                { Name = layer.Name; Neurons = layer.Count; Synapses = synapses; Spikes = spikes; SynOps = synOps
                  ActiveNeuronUpdates = active; Cores = cores; MemoryPerCore = bytes / cores; Energy = energy })
        let cores = profiles |> Array.sumBy (fun p -> p.Cores)
        if cores > chip.Cores then refusals.Add $"the network needs {cores} cores; {chip.Name} has {chip.Cores}"
        let timePerStep =
            if steps = 0 then 0.0
            else
                let busiest =
                    profiles
                    |> Array.map (fun p -> (float p.SynOps / float steps * chip.SynOpTime + float p.Neurons * chip.NeuronTime) / float p.Cores)
                    |> Array.max
                busiest + chip.SyncTime
        let energy = profiles |> Array.sumBy (fun p -> p.Energy)
        let perSample =
            match resetInterval with
            | Some r when r > 0 && steps >= r ->
                Array.init (steps / r) (fun k ->
                    result.Activity |> Array.sumBy (fun a -> a.Spikes.[k * r .. (k + 1) * r - 1] |> Array.sumBy int64))
            | _ -> [||]
        { Chip = chip; Layers = profiles; Steps = steps; Cores = cores; Refusals = List.ofSeq refusals; TimePerStep = timePerStep
          EnergyPerStep = (if steps = 0 then 0.0 else energy / float steps)
          EnergyPerSample = resetInterval |> Option.filter (fun r -> r > 0) |> Option.map (fun r -> (if steps = 0 then 0.0 else energy / float steps) * float r)
          SpikesPerSample = perSample }

    /// A plain-text report: the constants used, per-layer figures and the totals.
    let report (p: Profile) : string =
        let lines = ResizeArray<string> ()
        lines.Add $"constants: {p.Chip.Name}; dynamic energy only (static power unpublished)"
        lines.Add "layer        neurons   synapses     spikes       SynOps  active-updates  cores  bytes/core  energy (uJ)"
        for l in p.Layers do
            lines.Add (sprintf "%-10s %9d %10d %10d %12d %15d %6d %11d %12.4f" l.Name l.Neurons l.Synapses l.Spikes l.SynOps l.ActiveNeuronUpdates l.Cores l.MemoryPerCore (l.Energy * 1e6))
        lines.Add (sprintf "steps %d, cores %d, time per step %.3f us, energy per step %.4f uJ" p.Steps p.Cores (p.TimePerStep * 1e6) (p.EnergyPerStep * 1e6))
        p.EnergyPerSample |> Option.iter (fun e -> lines.Add (sprintf "energy per sample %.4f uJ; spikes per sample %A" (e * 1e6) p.SpikesPerSample))
        if p.Refusals.IsEmpty then lines.Add "fits the chip"
        else for r in p.Refusals do lines.Add ("does not fit: " + r)
        String.Join (Environment.NewLine, lines)
