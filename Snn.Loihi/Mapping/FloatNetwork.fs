/// A chain of CUBA-LIF layers (each optionally recurrent onto itself) with float weights, decays and thresholds (a trained lava-dl or NIR
/// network before quantization), and its float simulation with exactly the emulator's timing, so that the two can
/// be compared spike for spike.
///
/// Float dynamics per step t (lava-dl's CUBA neuron with Lava's one step of latency per layer):
///
///     a   = Σ_i w_ji · s_i(t - 1)                 spikes of the previous layer at the previous step
///         + Σ_k r_jk · z_k(t - 1)                 the layer's own spikes at the previous step (recurrent synapses,
///                                                 lava-dl's dense_rec: a Dense synapse from the layer to itself)
///     I  <- I · (1 - currentDecay) + a
///     V  <- V · (1 - voltageDecay) + I + bias
///     s   = V > threshold;  V <- 0 where s
///
/// The emulator computes the same thing in integers: u = I·4096·scale, v = V·4096·scale, with the decays in units
/// of 1/4096 (see `NetworkQuantizer`). Layer 0 is the input: its spikes are given.
namespace Snn.Loihi

open System

/// The synapses into a float layer.
type FloatConnection =
    /// All-to-all synapses; `Weights` is row-major (out, in), `Inputs` = in.
    | FloatDense of Inputs: int * Weights: float[]
    /// A 2-D convolution; `Weights` is row-major (C_out, C_in / groups, kH, kW) as PyTorch stores it.
    | FloatConv of Geometry: ConvGeometry * Weights: float[]

    /// The weights, whatever the kind.
    member c.WeightValues =
        match c with
        | FloatDense (_, w) -> w
        | FloatConv (_, w) -> w

    /// The same synapses with every weight replaced by an integer (same shape), for building fan-out tables.
    member c.WithIntegerWeights (weights: int[]) : Connection =
        match c with
        | FloatDense (inputs, _) -> Dense (inputs, weights)
        | FloatConv (g, _) -> Conv (g, weights)

/// One float layer: CUBA-LIF neurons and the synapses that feed them.
type FloatLayer =
    { /// A name for reports.
      Name: string
      /// Neuron grid: [| C; H; W |] for convolutional layers, [| N |] otherwise.
      Shape: int[]
      /// Synapses from the previous layer; None for the input layer.
      Incoming: FloatConnection option
      /// Fraction of the current lost per step, in [0, 1] (lava-dl's current_decay; Loihi iDecay = 4096 · it).
      CurrentDecay: float
      /// Fraction of the voltage lost per step, in [0, 1] (lava-dl's voltage_decay; Loihi vDecay = 4096 · it).
      VoltageDecay: float
      /// Spike threshold on V (a neuron spikes when V > Threshold), in the units of the weights.
      Threshold: float
      /// Per-neuron bias added to V every step, in the units of the weights.
      Bias: float[]
      /// Recurrent synapses from the layer to itself, row-major (out, out) in the units of the weights; a spike
      /// arrives one step later, as a feed-forward one does. None for feed-forward layers.
      Recurrent: float[] option }

    /// The number of neurons.
    member l.Count = l.Shape |> Array.fold (*) 1

/// A chain of float layers; layer 0 is the input layer.
type FloatNetwork =
    { /// The layers in order.
      Layers: FloatLayer[] }

/// Checking and simulating float networks.
[<RequireQualifiedAccess>]
module FloatNetwork =

    let private fail (name: string) (message: string) = raise (ArgumentException ($"{name}: {message}", "network"))

    /// Checks shapes and ranges; raises ArgumentException naming the layer and the field. Returns the network.
    let validate (network: FloatNetwork) : FloatNetwork =
        if network.Layers.Length = 0 then fail "network" "has no layers"
        network.Layers
        |> Array.iteri (fun i layer ->
            let name = $"layer {i} ('{layer.Name}')"
            let n = layer.Count
            if layer.Shape.Length = 0 || layer.Shape |> Array.exists (fun d -> d <= 0) then fail name $"shape %A{layer.Shape} is not valid"
            let unit field v = if not (v >= 0.0 && v <= 1.0) then fail name $"{field} = {v} lies outside [0, 1]"
            unit "CurrentDecay" layer.CurrentDecay
            unit "VoltageDecay" layer.VoltageDecay
            if not (layer.Threshold >= 0.0 && Double.IsFinite layer.Threshold) then fail name $"Threshold = {layer.Threshold} must be finite and >= 0"
            if layer.Bias.Length <> n then fail name $"has {layer.Bias.Length} biases for {n} neurons"
            if layer.Bias |> Array.exists (Double.IsFinite >> not) then fail name "has a bias that is not finite"
            match layer.Recurrent with
            | Some r when i = 0 -> fail name "the input layer cannot have recurrent synapses"
            | Some r when r.Length <> n * n -> fail name $"recurrent weights have {r.Length} values, expected {n} x {n} = {n * n}"
            | Some r when r |> Array.exists (Double.IsFinite >> not) -> fail name "has a recurrent weight that is not finite"
            | _ -> ()
            match layer.Incoming with
            | None -> if i > 0 then fail name "has no incoming synapses but is not the input layer"
            | Some c ->
                if i = 0 then fail name "the input layer cannot have incoming synapses"
                if c.WeightValues |> Array.exists (Double.IsFinite >> not) then fail name "has a weight that is not finite"
                // The integer network of the same shape checks the geometry.
                let probe = c.WithIntegerWeights (Array.zeroCreate c.WeightValues.Length)
                if probe.InputCount <> network.Layers.[i - 1].Count then
                    fail name $"its synapses expect {probe.InputCount} inputs but the previous layer has {network.Layers.[i - 1].Count} neurons"
                if probe.OutputCount <> n then fail name $"its synapses produce {probe.OutputCount} outputs for {n} neurons"
                match c with
                | FloatDense (inputs, w) -> if inputs <= 0 || w.Length <> n * inputs then fail name $"dense weights ({w.Length}) are not {n} x {inputs}"
                | FloatConv (g, w) ->
                    if g.Groups <= 0 || g.InChannels % g.Groups <> 0 || g.OutChannels % g.Groups <> 0 then
                        fail name $"groups = {g.Groups} must divide the {g.InChannels} input and {g.OutChannels} output channels"
                    let expected = g.OutChannels * (g.InChannels / g.Groups) * g.KernelHeight * g.KernelWidth
                    if w.Length <> expected then fail name $"conv weights have {w.Length} values, expected {expected}")
        network

    /// Simulates the network for `steps` steps on the input spikes `input.[t].[i]` (input neuron i at step t + 1).
    /// `thresholds` replaces every layer's threshold (one per layer, layer 0's is ignored) when given.
    /// Returns spikes.[layer].[t - 1].[neuron], layer 0 being the input itself.
    let simulate (network: FloatNetwork) (input: bool[][]) (steps: int) (thresholds: float[] option) : bool[][][] =
        let network = validate network
        let layers = network.Layers
        if steps < 0 then invalidArg "steps" $"must be >= 0, got {steps}"
        if input.Length < steps then invalidArg "input" $"has {input.Length} steps for a run of {steps}"
        input |> Array.iteri (fun t row -> if row.Length <> layers.[0].Count then invalidArg "input" $"step {t} has {row.Length} spikes for {layers.[0].Count} input neurons")
        let theta =
            match thresholds with
            | Some t when t.Length <> layers.Length -> invalidArg "thresholds" $"has {t.Length} entries for {layers.Length} layers"
            | Some t -> t
            | None -> layers |> Array.map (fun l -> l.Threshold)
        // Fan-out tables whose "weights" are 1 + the index of each synapse's float weight.
        let fanOuts =
            layers |> Array.map (fun l ->
                l.Incoming |> Option.map (fun c -> c, FanOut.ofConnection (c.WithIntegerWeights (Array.init c.WeightValues.Length (fun k -> k + 1)))))
        let current = layers |> Array.map (fun l -> Array.zeroCreate<float> l.Count)
        let voltage = layers |> Array.map (fun l -> Array.zeroCreate<float> l.Count)
        let spikes = layers |> Array.map (fun l -> Array.init steps (fun _ -> Array.zeroCreate<bool> l.Count))
        for t in 0 .. steps - 1 do
            Array.blit input.[t] 0 spikes.[0].[t] 0 layers.[0].Count
            for l in 1 .. layers.Length - 1 do
                let layer = layers.[l]
                let a = Array.zeroCreate<float> layer.Count
                if t > 0 then
                    let c, fan = fanOuts.[l].Value
                    let w = c.WeightValues
                    spikes.[l - 1].[t - 1] |> Array.iteri (fun i s ->
                        if s then
                            for k in fan.Offsets.[i] .. fan.Offsets.[i + 1] - 1 do
                                a.[fan.Targets.[k]] <- a.[fan.Targets.[k]] + w.[fan.Weights.[k] - 1])
                    match layer.Recurrent with
                    | Some r ->
                        let n = layer.Count
                        spikes.[l].[t - 1] |> Array.iteri (fun k s ->
                            if s then
                                for j in 0 .. n - 1 do a.[j] <- a.[j] + r.[j * n + k])
                    | None -> ()
                let i', v' = current.[l], voltage.[l]
                for j in 0 .. layer.Count - 1 do
                    i'.[j] <- i'.[j] * (1.0 - layer.CurrentDecay) + a.[j]
                    v'.[j] <- v'.[j] * (1.0 - layer.VoltageDecay) + i'.[j] + layer.Bias.[j]
                    if v'.[j] > theta.[l] then
                        spikes.[l].[t].[j] <- true
                        v'.[j] <- 0.0
        spikes
