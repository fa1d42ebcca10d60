/// Event-driven, bit-accurate emulation of a `Network` of Loihi CUBA-LIF layers, step for step as Lava's
/// "fixed_pt" process models compute it.
///
/// Timing (Lava's LoihiProtocol, steps numbered t = 1, 2, ...): a spike of layer l - 1 at step t reaches the
/// current of layer l at step t + 1 + delay (the synapse process emits the sum it buffered the step before), so
/// every layer adds one step of latency. Per neuron and step, with a = the summed weights that arrive:
///
///     a'  = int16( wrap24(a · 2^WeightExp) )          the synapse output is 24-bit, the neuron's a_in port int16
///     u  <- wrap24( rtz(u · (4096 - (du + 1))) + (a' << 6) )
///     v  <- saturate24( rtz(v · (4096 - dv)) + u + (bias_mant << bias_exp) )
///     spike iff v > vth << 6; then v <- 0
///
/// With a reset interval R, layer l's u and v are zeroed after step t whenever t mod R = l mod R, so sample k
/// starts fresh in layer l at step kR + l + 1, exactly when its first spikes arrive through one step of latency per
/// layer. This is what lava-dl's NetX test sets up with io.reset.Reset(interval = R, offset = l - 1), whose step
/// counter starts at 0; verified against Lava's recorded tinynet run (zero spike error only with this phase).
///
/// Work is proportional to the spikes (each spike walks its fan-out list) plus the neurons whose state is not zero;
/// a neuron with u = v = 0, no bias and no input is skipped, which is exact because its step leaves it at zero.
namespace Snn.Loihi

open System

/// What drives the input layer (layer 0).
type InputDrive =
    /// The input layer runs its own neurons with these bias mantissas (one per neuron) instead of its own.
    | InputBias of BiasMant: int[]
    /// The input layer's neurons are bypassed: Spikes.[t].[i] says whether input neuron i spikes at step t + 1.
    | InputSpikes of Spikes: bool[][]
    /// The input layer runs its neurons with the biases the network carries.
    | NetworkBias

/// Settings of a run.
type RunOptions =
    { /// Number of steps to run.
      Steps: int
      /// Reset interval R in steps (None: never reset). See the module comment for the per-layer phase.
      ResetInterval: int option
      /// Per-layer threshold mantissas replacing the network's (threshold modulation without re-quantizing the
      /// weights); None keeps the network's thresholds.
      Thresholds: int[] option
      /// Whether to record every layer's u and v at every step (memory: 8 bytes x neurons x steps).
      RecordState: bool }

    /// `steps` steps, no reset, the network's thresholds, no state recording.
    static member For (steps: int) = { Steps = steps; ResetInterval = None; Thresholds = None; RecordState = false }

/// Counters of one layer, per step (index t - 1 for step t).
type LayerActivity =
    { /// Spikes emitted per step.
      Spikes: int[]
      /// Synaptic operations per step caused by this layer's spikes (one per stored synapse a spike walks).
      SynOps: int64[]
      /// Neurons updated per step (non-zero state, a bias, or an arriving input).
      ActiveNeurons: int[] }

/// The outcome of a run.
type RunResult =
    { /// Spikes.[layer].[t - 1].[neuron].
      Spikes: bool[][][]
      /// U.[layer].[t - 1].[neuron] when recorded (the value the neuron computed at step t, before an interval reset).
      U: int32[][][] option
      /// V.[layer].[t - 1].[neuron] when recorded (after the spike reset to 0, before an interval reset).
      V: int32[][][] option
      /// Counters per layer.
      Activity: LayerActivity[] }

/// Running networks.
[<RequireQualifiedAccess>]
module Emulator =

    /// The value a synapse sum becomes at the neuron: shifted by the weight exponent, wrapped to the synapse's
    /// 24-bit output, then wrapped to the neuron's int16 input port.
    let synapticInput (weightExp: int) (sum: int64) : int64 =
        let shifted = if weightExp >= 0 then sum <<< weightExp else sum >>> -weightExp
        let wrapped24 = ((shifted + (1L <<< 23)) &&& ((1L <<< 24) - 1L)) - (1L <<< 23)
        int64 (int16 wrapped24)

    /// Mutable per-layer state of a run.
    type private LayerRun(layer: Layer, vth: int, bias: int[], ringSize: int) =
        let n = layer.Count
        let p = layer.Neurons
        member val U = Array.zeroCreate<int32> n
        member val V = Array.zeroCreate<int32> n
        member val Bias = bias |> Array.map (fun b -> int64 b <<< p.BiasExp)
        member val Threshold = int64 vth <<< 6
        member val Accumulator = Array.init ringSize (fun _ -> Array.zeroCreate<int64> n)
        member val Touched = Array.init ringSize (fun _ -> ResizeArray<int> ())
        member val TouchedFlag = Array.init ringSize (fun _ -> Array.zeroCreate<bool> n)
        member val Live = ResizeArray<int> ()
        member val LiveFlag = Array.zeroCreate<bool> n
        member this.Deliver (slot: int) (target: int) (weight: int) =
            let acc = this.Accumulator.[slot]
            acc.[target] <- acc.[target] + int64 weight
            if not this.TouchedFlag.[slot].[target] then
                this.TouchedFlag.[slot].[target] <- true
                this.Touched.[slot].Add target

    /// Runs the network. Raises ArgumentException naming the option that does not fit the network.
    let run (network: Network) (drive: InputDrive) (options: RunOptions) : RunResult =
        let network = Network.validate network
        let layers = network.Layers
        let count = layers.Length
        if options.Steps < 0 then invalidArg "options" $"Steps must be >= 0, got {options.Steps}"
        match options.ResetInterval with
        | Some r when r <= 0 -> invalidArg "options" $"ResetInterval must be positive, got {r}"
        | _ -> ()
        let thresholds =
            match options.Thresholds with
            | Some t when t.Length <> count -> invalidArg "options" $"Thresholds has {t.Length} entries for {count} layers"
            | Some t ->
                t |> Array.iteri (fun i v -> if v < 0 || v > 262143 then invalidArg "options" $"Thresholds.[{i}] = {v} lies outside [0, 262143]")
                t
            | None -> layers |> Array.map (fun l -> l.Neurons.Vth)
        let inputCount = layers.[0].Count
        let inputBias =
            match drive with
            | InputBias b when b.Length <> inputCount -> invalidArg "drive" $"has {b.Length} bias values for {inputCount} input neurons"
            | InputBias b ->
                b |> Array.iteri (fun i v -> if v < -4096 || v > 4095 then invalidArg "drive" $"bias {i} = {v} lies outside the 13-bit range [-4096, 4095]")
                b
            | InputSpikes s ->
                if s.Length < options.Steps then invalidArg "drive" $"has {s.Length} steps of spikes for a run of {options.Steps} steps"
                s |> Array.iteri (fun t row -> if row.Length <> inputCount then invalidArg "drive" $"step {t} has {row.Length} spikes for {inputCount} input neurons")
                layers.[0].Neurons.BiasMant
            | NetworkBias -> layers.[0].Neurons.BiasMant
        let maxDelay = layers |> Array.map (fun l -> match l.Delays with Some d when d.Length > 0 -> Array.max d | _ -> 0) |> Array.max
        let ringSize = maxDelay + 2
        let fanOuts = layers |> Array.map (fun l -> l.Incoming |> Option.map FanOut.ofConnection)
        let recurrent = layers |> Array.map (fun l -> l.Recurrent |> Option.map (FanOut.ofMatrix l.Count))
        let runs = layers |> Array.mapi (fun i l -> LayerRun (l, thresholds.[i], (if i = 0 then inputBias else l.Neurons.BiasMant), ringSize))
        let steps = options.Steps
        let spikes = layers |> Array.map (fun l -> Array.init steps (fun _ -> Array.zeroCreate<bool> l.Count))
        let us = if options.RecordState then Some (layers |> Array.map (fun l -> Array.init steps (fun _ -> Array.zeroCreate<int32> l.Count))) else None
        let vs = if options.RecordState then Some (layers |> Array.map (fun l -> Array.init steps (fun _ -> Array.zeroCreate<int32> l.Count))) else None
        let activity = layers |> Array.map (fun _ -> { Spikes = Array.zeroCreate steps; SynOps = Array.zeroCreate steps; ActiveNeurons = Array.zeroCreate steps })
        // Neurons with a bias never rest; everything else becomes live when touched.
        for r in runs do
            r.Bias |> Array.iteri (fun i b ->
                if b <> 0L then
                    r.Live.Add i
                    r.LiveFlag.[i] <- true)
        let fired = ResizeArray<int> ()
        for t in 1 .. steps do
            let slot = t % ringSize
            for l in 0 .. count - 1 do
                let layer = layers.[l]
                let r = runs.[l]
                fired.Clear ()
                match l, drive with
                | 0, InputSpikes given ->
                    let row = given.[t - 1]
                    for i in 0 .. row.Length - 1 do
                        if row.[i] then fired.Add i
                | _ ->
                    for j in r.Touched.[slot] do
                        if not r.LiveFlag.[j] then
                            r.LiveFlag.[j] <- true
                            r.Live.Add j
                    let acc = r.Accumulator.[slot]
                    let du = layer.Neurons.Du + 1
                    let dv = layer.Neurons.Dv
                    let still = ResizeArray<int> (r.Live.Count)
                    for j in r.Live do
                        let a = synapticInput layer.WeightExp acc.[j]
                        acc.[j] <- 0L
                        let u = FixedPoint.wrap24 (FixedPoint.decay du (int64 r.U.[j]) + (a <<< 6))
                        let v = FixedPoint.saturate24 (FixedPoint.decay dv (int64 r.V.[j]) + u + r.Bias.[j])
                        r.U.[j] <- int32 u
                        if v > r.Threshold then
                            r.V.[j] <- 0
                            fired.Add j
                        else r.V.[j] <- int32 v
                        if r.U.[j] <> 0 || r.V.[j] <> 0 || r.Bias.[j] <> 0L then still.Add j
                        else r.LiveFlag.[j] <- false
                    activity.[l].ActiveNeurons.[t - 1] <- r.Live.Count
                    for j in r.Touched.[slot] do r.TouchedFlag.[slot].[j] <- false
                    r.Touched.[slot].Clear ()
                    r.Live.Clear ()
                    r.Live.AddRange still
                let row = spikes.[l].[t - 1]
                for j in fired do row.[j] <- true
                activity.[l].Spikes.[t - 1] <- fired.Count
                match us, vs with
                | Some u, Some v ->
                    Array.blit r.U 0 u.[l].[t - 1] 0 r.U.Length
                    Array.blit r.V 0 v.[l].[t - 1] 0 r.V.Length
                | _ -> ()
                // Spikes travel to the next layer (and back into this one through recurrent synapses).
                let mutable synOps = 0L
                if l + 1 < count then
                    match fanOuts.[l + 1] with
                    | Some f ->
                        let next = runs.[l + 1]
                        let delays = layers.[l + 1].Delays
                        for i in fired do
                            for k in f.Offsets.[i] .. f.Offsets.[i + 1] - 1 do
                                let target = f.Targets.[k]
                                let d = match delays with Some d -> d.[target] | None -> 0
                                next.Deliver ((t + 1 + d) % ringSize) target f.Weights.[k]
                            synOps <- synOps + int64 (f.Offsets.[i + 1] - f.Offsets.[i])
                    | None -> ()
                match recurrent.[l] with
                | Some f ->
                    for i in fired do
                        for k in f.Offsets.[i] .. f.Offsets.[i + 1] - 1 do
                            let target = f.Targets.[k]
                            let d = match layer.Delays with Some d -> d.[target] | None -> 0
                            r.Deliver ((t + 1 + d) % ringSize) target f.Weights.[k]
                        synOps <- synOps + int64 (f.Offsets.[i + 1] - f.Offsets.[i])
                | None -> ()
                activity.[l].SynOps.[t - 1] <- synOps
                match options.ResetInterval with
                | Some interval when t % interval = l % interval ->
                    for j in r.Live do
                        r.U.[j] <- 0
                        r.V.[j] <- 0
                        if r.Bias.[j] = 0L then r.LiveFlag.[j] <- false
                    let keep = r.Live |> Seq.filter (fun j -> r.Bias.[j] <> 0L) |> Array.ofSeq
                    r.Live.Clear ()
                    r.Live.AddRange keep
                | _ -> ()
        { Spikes = spikes; U = us; V = vs; Activity = activity }
