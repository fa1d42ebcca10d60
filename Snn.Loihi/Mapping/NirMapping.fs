/// NIR graphs onto the Loihi emulator and back.
///
/// NIR -> Loihi: a chain Input -> (Affine | Linear | Conv2d) -> (CubaLIF | LIF | IF) -> ... -> Output (Flatten nodes
/// anywhere are the identity on (C, H, W) row-major neuron numbers) becomes a `FloatNetwork` for a step of dt
/// seconds, then `NetworkQuantizer` makes it fixed-point. A neuron node may feed back onto itself through an n x n
/// Affine (bias 0) or Linear node (neuron -> W_rec -> neuron, as in NIR's recurrent benchmark networks): its layer
/// gets those weights, scaled like the feed-forward ones, as recurrent synapses (NetX `dense_rec`); NIR's float
/// semantics deliver the recurrent input one step later, which is Loihi's timing too. Subgraphs (snnTorch's RLeaky)
/// are inlined first (`Nir.flatten`), their layers named by NIR's address "sub.node". With NIR's forward-Euler
/// equations
///
///     CubaLIF  I <- I + dt/τ_syn (w_in x - I);  v <- v + dt/τ_mem (v_leak - v + r I)
///     LIF      v <- v + dt/τ (v_leak - v + r x)            (the current is the input: current decay 1)
///     IF       v <- v + dt r x                              (no leak)
///     τ_mem (τ) = +∞: v <- v + x' with x' the input (r = +∞, see `Nir.inputGain`): no leak, voltage decay 0
///
/// the substitution I_f = (dt/τ_mem) r I gives the float network's I_f <- I_f (1 - cd) + a, V <- V (1 - vd) + I_f + b
/// with cd = dt/τ_syn, vd = dt/τ_mem, weights multiplied by k = w_in · cd · r · vd, and b = vd · v_leak (plus k · the
/// Affine bias when cd = 1, where a constant input and a constant voltage bias coincide). Loihi resets to 0 and has
/// per-layer decays and thresholds, so v_reset must be 0 and τ_syn, τ_mem, r, w_in, v_threshold uniform per node;
/// anything else is refused with an ArgumentException naming the node. Loihi adds one step of latency per layer
/// that NIR's graphs do not have: layer l of the emulator spikes l steps after NIR's node for input-driven activity.
///
/// Loihi -> NIR: each layer l >= 1 becomes a synapse node "<name>_w" (Linear, or Conv2d) and a CubaLIF node "<name>"
/// with τ_syn = dt / cd, τ_mem = dt / vd, w_in = 1 / cd, r = 1 / vd (so k = 1), weights = mantissa · 2^weightExp / 64,
/// v_threshold = vth / 64, v_leak = (bias_mant << bias_exp) / 4096 / vd: the float units of lava-dl at scale 1.
/// Layer 0 becomes the Input node (NIR graphs are driven by spikes, not by input-neuron biases).
[<RequireQualifiedAccess>]
module Snn.Loihi.NirMapping

open System

let private refuse (node: string) (message: string) : 'a =
    raise (ArgumentException ($"NIR node '{node}': {message}", "graph"))

/// The single value of a field that must be uniform over the node's neurons.
let private uniform (name: string) (node: Nir.Node) (fieldName: string) (fallback: float) : float =
    match Nir.field node fieldName [| fallback |] |> Array.distinct with
    | [| v |] -> v
    | [||] -> fallback
    | values -> refuse name $"{fieldName} takes {values.Length} different values; Loihi has one per layer"

/// A per-neuron field broadcast to `n` neurons.
let private perNeuron (name: string) (node: Nir.Node) (fieldName: string) (n: int) : float[] =
    match Nir.field node fieldName [| 0.0 |] with
    | [| v |] -> Array.create n v
    | values when values.Length = n -> values
    | values -> refuse name $"{fieldName} has {values.Length} values for {n} neurons"

/// A pair of integers from an int or (H, W) field.
let private pair (name: string) (node: Nir.Node) (fieldName: string) (fallback: int) : int * int =
    match node.Fields.TryFind fieldName with
    | Some { Values = Strings _ } -> refuse name $"{fieldName} as a string is not supported here"
    | Some d ->
        match d.Values.AsFloats |> Array.map int with
        | [| v |] -> v, v
        | [| h; w |] -> h, w
        | values -> refuse name $"{fieldName} has {values.Length} values, expected 1 or 2"
    | None -> fallback, fallback

/// The synapses of a Linear, Affine or Conv2d node fed by a layer of `inputShape`; returns the connection, the
/// output shape and the Affine/Conv bias per output neuron.
let private synapses (name: string) (node: Nir.Node) (inputShape: int[]) : FloatConnection * int[] * float[] =
    let inputs = inputShape |> Array.fold (*) 1
    let weights = Nir.field node "weight" [||]
    match node.Type with
    | "Affine" | "Linear" ->
        if weights.Length = 0 || weights.Length % inputs <> 0 then
            refuse name $"weight has {weights.Length} values, not a multiple of the {inputs} inputs"
        let rows = weights.Length / inputs
        let bias = if node.Type = "Affine" then perNeuron name node "bias" rows else Array.zeroCreate rows
        FloatDense (inputs, weights), [| rows |], bias
    | "Conv2d" ->
        if inputShape.Length <> 3 then refuse name $"a Conv2d needs a (C, H, W) input, found %A{inputShape}"
        let shape = Nir.fieldShape node "weight"
        if shape.Length <> 4 then refuse name $"weight shape %A{shape} is not (C_out, C_in / groups, kH, kW)"
        match node.Fields.TryFind "padding" with
        | Some { Values = Strings [| p |] } when p <> "valid" -> refuse name $"padding '{p}' is not supported; give the padding in steps"
        | _ -> ()
        let padding = match node.Fields.TryFind "padding" with Some { Values = Strings _ } -> (0, 0) | _ -> pair name node "padding" 0
        let groups = uniform name node "groups" 1.0 |> int
        let g =
            { InChannels = inputShape.[0]; InHeight = inputShape.[1]; InWidth = inputShape.[2]; OutChannels = shape.[0]
              KernelHeight = shape.[2]; KernelWidth = shape.[3]
              StrideH = fst (pair name node "stride" 1); StrideW = snd (pair name node "stride" 1)
              PaddingH = fst padding; PaddingW = snd padding
              DilationH = fst (pair name node "dilation" 1); DilationW = snd (pair name node "dilation" 1); Groups = groups }
        if groups <= 0 || shape.[1] * groups <> g.InChannels then refuse name $"weight shape %A{shape} and groups {groups} do not fit {g.InChannels} input channels"
        let outShape = [| g.OutChannels; g.OutHeight; g.OutWidth |]
        let perChannel = g.OutHeight * g.OutWidth
        let channelBias = perNeuron name node "bias" g.OutChannels
        FloatConv (g, weights), outShape, Array.init (g.OutChannels * perChannel) (fun i -> channelBias.[i / perChannel])
    | other -> refuse name $"a {other} node cannot feed a Loihi layer (expected Affine, Linear or Conv2d)"

/// The float layer of a neuron node fed by `connection` (weights in NIR units) with the synapse bias `synapseBias`
/// and, when the node feeds back onto itself, the recurrent synapse node `recurrent` (an n x n Linear or Affine).
/// A time constant τ_mem (CubaLIF) or τ (LIF) of +∞ is a non-leaky integrator: voltage decay 0 and the input gain
/// `Nir.inputGain` (1 per step for r = +∞, NIR exporters' r = τ/dt), as an IF node is.
let private neurons (dt: float) (name: string) (node: Nir.Node) (shape: int[]) (connection: FloatConnection) (synapseBias: float[])
                    (recurrent: (string * Nir.Node) option) : FloatLayer =
    let n = shape |> Array.fold (*) 1
    let tauOf field =
        let tau = uniform name node field nan
        if not (tau > 0.0) then refuse name $"{field} = {tau} must be positive"
        tau
    let decay field =
        let d = dt / tauOf field
        if d > 1.0 then refuse name $"dt / {field} = {d} exceeds 1 (the step is longer than the time constant)"
        d
    let gainOf field =
        let tau, r = tauOf field, uniform name node "r" 1.0
        if Double.IsPositiveInfinity tau && not (Double.IsPositiveInfinity r) then
            refuse name $"{field} is infinite (no leak) but r = {r} is finite, so no input would reach the voltage; write r = inf (r = {field} / dt)"
        Nir.inputGain dt tau r
    if Nir.field node "v_reset" [| 0.0 |] |> Array.exists ((<>) 0.0) then refuse name "v_reset must be 0: Loihi resets the voltage to 0"
    let cd, vd, gain =
        match node.Type with
        | "CubaLIF" ->
            let cd, vd = decay "tau_syn", decay "tau_mem"
            let wIn = uniform name node "w_in" 1.0
            cd, vd, (if vd = 0.0 then wIn * cd * gainOf "tau_mem" else wIn * cd * uniform name node "r" 1.0 * vd)
        | "LIF" -> 1.0, decay "tau", gainOf "tau"
        | "IF" -> 1.0, 0.0, uniform name node "r" 1.0 * dt
        | other -> refuse name $"{other} neurons are not supported on Loihi (expected CubaLIF, LIF or IF)"
    if cd < 1.0 && synapseBias |> Array.exists ((<>) 0.0) then
        refuse name "a synapse bias feeds the current, which Loihi can only express when the current decays fully each step (tau_syn = dt)"
    // The leak term dt/τ (v_leak - v) vanishes for τ = ∞ (vd = 0), and IF has no leak.
    let vLeak = if node.Type = "IF" || vd = 0.0 then Array.zeroCreate n else perNeuron name node "v_leak" n
    let scaled = connection.WeightValues |> Array.map (fun w -> w * gain)
    let connection = match connection with FloatDense (i, _) -> FloatDense (i, scaled) | FloatConv (g, _) -> FloatConv (g, scaled)
    let recurrentWeights =
        recurrent |> Option.map (fun (synapseName, synapse) ->
            let w = Nir.field synapse "weight" [||]
            if w.Length <> n * n then refuse synapseName $"a recurrent synapse onto '{name}' needs {n} x {n} weights, found {w.Length} values"
            if synapse.Type = "Affine" && Nir.field synapse "bias" [| 0.0 |] |> Array.exists ((<>) 0.0) then
                refuse synapseName "a recurrent Affine with a bias is not supported (move the bias to the feed-forward synapse)"
            w |> Array.map (fun x -> x * gain))
    { Name = name; Shape = shape; Incoming = Some connection; CurrentDecay = cd; VoltageDecay = vd
      Threshold = uniform name node "v_threshold" 1.0
      Bias = Array.init n (fun j -> vd * vLeak.[j] + gain * synapseBias.[j])
      Recurrent = recurrentWeights }

/// The float network of a NIR chain for a step of `dt` seconds. Raises ArgumentException naming the node for
/// anything that is not a chain of supported nodes.
let toFloatNetwork (dt: float) (graph: Nir.Graph) : FloatNetwork =
    if not (dt > 0.0) then invalidArg "dt" $"must be positive, got {dt}"
    // Subgraphs (snnTorch's RLeaky / RSynaptic) are inlined: their nodes become "sub.node".
    let graph = Nir.flatten graph
    // A recurrent synapse: an Affine or Linear node whose only input and only output are the same neuron node
    // (neuron -> synapse -> neuron). Its two edges leave the chain; the neuron's layer gets the weights as Recurrent.
    let isNeuron (node: Nir.Node) = node.Type = "CubaLIF" || node.Type = "LIF" || node.Type = "IF"
    let recurrentOf =
        graph.Nodes
        |> Map.toList
        |> List.choose (fun (name, node) ->
            let ins = graph.Edges |> Array.filter (fun (_, b) -> b = name)
            let outs = graph.Edges |> Array.filter (fun (a, _) -> a = name)
            match node.Type, ins, outs with
            | ("Affine" | "Linear"), [| (p, _) |], [| (_, q) |] when p = q && graph.Nodes.ContainsKey p && isNeuron graph.Nodes.[p] -> Some (p, name)
            | _ -> None)
        |> List.groupBy fst
        |> List.map (fun (neuron, loops) ->
            match loops with
            | [ (_, synapse) ] -> neuron, synapse
            | _ -> refuse neuron $"has {loops.Length} recurrent synapses onto itself; Loihi's dense_rec has one")
        |> Map.ofList
    let loopEdges = recurrentOf |> Map.toList |> List.collect (fun (neuron, synapse) -> [ neuron, synapse; synapse, neuron ]) |> set
    let chainEdges = graph.Edges |> Array.filter (loopEdges.Contains >> not)
    let successors name = chainEdges |> Array.filter (fun (a, _) -> a = name) |> Array.map snd
    let predecessors name = chainEdges |> Array.filter (fun (_, b) -> b = name)
    let inputName =
        match graph.Nodes |> Map.filter (fun _ n -> n.Type = "Input") |> Map.toList with
        | [ name, _ ] -> name
        | found -> invalidArg "graph" $"needs exactly one Input node, found {found.Length}"
    let next name =
        match successors name with
        | [| s |] ->
            if (predecessors s).Length <> 1 then refuse s "has several inputs; only chains map onto Loihi's layers"
            if not (graph.Nodes.ContainsKey s) then refuse s "is the target of an edge but not a node of the graph"
            Some s
        | [||] -> None
        | many -> refuse name $"feeds {many.Length} nodes; only chains map onto Loihi's layers"
    let inputShape = Nir.field graph.Nodes.[inputName] "shape" [||] |> Array.map int
    let inputShape = if inputShape.Length = 0 then refuse inputName "has no shape" else inputShape
    let layers = ResizeArray<FloatLayer> ()
    layers.Add { Name = inputName; Shape = inputShape; Incoming = None; CurrentDecay = 1.0; VoltageDecay = 1.0; Threshold = 0.0; Bias = Array.zeroCreate (inputShape |> Array.fold (*) 1); Recurrent = None }
    let rec walk (current: string option) (pending: (string * FloatConnection * int[] * float[]) option) =
        match current with
        | None ->
            match pending with
            | Some (name, _, _, _) -> refuse name "is not followed by neurons"
            | None -> ()
        | Some name ->
            let node = graph.Nodes.[name]
            match node.Type, pending with
            | ("Flatten" | "Output"), _ -> walk (next name) pending
            | ("Affine" | "Linear" | "Conv2d"), None ->
                let connection, shape, bias = synapses name node layers.[layers.Count - 1].Shape
                walk (next name) (Some (name, connection, shape, bias))
            | ("CubaLIF" | "LIF" | "IF"), Some (_, connection, shape, bias) ->
                let recurrent = recurrentOf.TryFind name |> Option.map (fun r -> r, graph.Nodes.[r])
                layers.Add (neurons dt name node shape connection bias recurrent)
                walk (next name) None
            | ("CubaLIF" | "LIF" | "IF"), None -> refuse name "neurons must be fed by an Affine, Linear or Conv2d node"
            | ("Affine" | "Linear" | "Conv2d"), Some (previous, _, _, _) -> refuse name $"follows '{previous}' without neurons in between"
            | other, _ -> refuse name $"{other} nodes are not supported on Loihi"
    walk (next inputName) None
    if layers.Count < 2 then refuse inputName "reaches no neuron layer"
    FloatNetwork.validate { Layers = layers.ToArray () }

/// A NIR graph on the emulator: `toFloatNetwork`, then `NetworkQuantizer.quantize` with `scales` (None: automatic).
let toLoihi (dt: float) (scales: float[] option) (graph: Nir.Graph) : QuantizedNetwork =
    NetworkQuantizer.quantize scales (toFloatNetwork dt graph)

let private f64 (shape: int[]) (values: float[]) : H5Data = { Shape = shape |> Array.map int64; Values = Float64s values }
let private i64 (values: int[]) : H5Data = Hdf5Tree.vector (Int64s (values |> Array.map int64))

/// The NIR document of an emulator network for a step of `dt` seconds (see the module comment). Recurrent
/// synapses become a Linear node "<name>_rec" with edges layer -> "<name>_rec" -> layer; a layer whose voltage never
/// decays (dv = 0) becomes an IF node (r = 1/dt, bias as the synapse's Affine bias) when its current decays fully,
/// else a CubaLIF with tau_mem = r = +inf. Raises ArgumentException for what NIR cannot express: a current that
/// never decays (du = -1), a bias on a non-leaky layer whose current decays slowly, delays, or clashing names.
let ofNetwork (dt: float) (network: Network) : Nir.Document =
    if not (dt > 0.0) then invalidArg "dt" $"must be positive, got {dt}"
    let network = Network.validate network
    let layers = network.Layers
    let names = layers |> Array.map (fun l -> l.Name)
    let taken = set (names |> Seq.append (names |> Seq.map (fun n -> n + "_w")) |> Seq.append (names |> Seq.map (fun n -> n + "_rec")))
    if names |> Array.distinct |> Array.length <> names.Length || names |> Array.exists (fun n -> names |> Array.contains (n + "_w") || names |> Array.contains (n + "_rec")) then
        invalidArg "network" "layer names must be distinct and not be another layer's name plus '_w' or '_rec' (NIR node names)"
    let outputName = Seq.initInfinite (fun i -> if i = 0 then "output" else $"output{i}") |> Seq.find (taken.Contains >> not)
    let nodes = ResizeArray<string * Nir.Node> ()
    let edges = ResizeArray<string * string> ()
    let node kind (fields: (string * H5Data) list) : Nir.Node = { Type = kind; Fields = Map.ofList fields; Graph = None }
    nodes.Add (layers.[0].Name, node "Input" [ "shape", i64 layers.[0].Shape ])
    for l in 1 .. layers.Length - 1 do
        let layer = layers.[l]
        let fail message = invalidArg "network" $"layer {l} ('{layer.Name}'): {message}"
        if layer.Delays |> Option.exists (Array.exists ((<>) 0)) then fail "has axonal delays; export it as NetX"
        let p = layer.Neurons
        if p.Du + 1 = 0 then fail "its current never decays (du = -1); NIR's CubaLIF cannot express that"
        let cd, vd = float (p.Du + 1) / 4096.0, float p.Dv / 4096.0
        let n = layer.Count
        let toFloat (m: int) = float m * Math.Pow (2.0, float layer.WeightExp) / 64.0
        let weights = layer.Incoming.Value.WeightValues |> Array.map toFloat
        let biasFloat = p.BiasMant |> Array.map (fun b -> float (int64 b <<< p.BiasExp) / 4096.0)
        // A voltage that never decays (dv = 0) is a non-leaky integrator: an IF node (r = 1/dt) when the current
        // is the input (cd = 1), its bias carried by the synapse as an Affine bias (the same thing when cd = 1);
        // otherwise a CubaLIF with tau_mem = r = +inf (gain 1 per step, see Nir.inputGain), which has no room for
        // a bias (the leak term with v_leak vanishes).
        let nonLeaky = p.Dv = 0
        if nonLeaky && cd < 1.0 && biasFloat |> Array.exists ((<>) 0.0) then
            fail "its voltage never decays (dv = 0) and it has a bias while its current decays slowly; NIR cannot express that bias"
        let synapseBias = nonLeaky && cd = 1.0 && biasFloat |> Array.exists ((<>) 0.0)
        let synapseName = layer.Name + "_w"
        let synapse =
            match layer.Incoming.Value with
            | Dense (inputs, _) when synapseBias -> node "Affine" [ "weight", f64 [| n; inputs |] weights; "bias", f64 [| n |] biasFloat ]
            | Dense (inputs, _) -> node "Linear" [ "weight", f64 [| n; inputs |] weights ]
            | Conv _ when synapseBias && (let plane = n / layer.Shape.[0] in biasFloat |> Array.mapi (fun j b -> b <> biasFloat.[j / plane * plane]) |> Array.exists id) ->
                fail "a non-leaky conv layer's bias must be uniform per channel to become the Conv2d bias"
            | Conv (g, _) ->
                node "Conv2d"
                    [ "weight", f64 [| g.OutChannels; g.InChannels / g.Groups; g.KernelHeight; g.KernelWidth |] weights
                      "bias", f64 [| g.OutChannels |] (if synapseBias then Array.init g.OutChannels (fun c -> biasFloat.[c * (n / g.OutChannels)]) else Array.zeroCreate g.OutChannels)
                      "stride", i64 [| g.StrideH; g.StrideW |]
                      "padding", i64 [| g.PaddingH; g.PaddingW |]
                      "dilation", i64 [| g.DilationH; g.DilationW |]
                      "groups", Hdf5Tree.scalar (Int64s [| int64 g.Groups |])
                      "input_shape", i64 [| g.InHeight; g.InWidth |] ]
        let every v = f64 layer.Shape (Array.create n v)
        let neuron =
            if nonLeaky && cd = 1.0 then
                node "IF" [ "r", every (1.0 / dt); "v_threshold", every (float p.Vth / 64.0); "v_reset", every 0.0 ]
            else
                node "CubaLIF"
                    [ "tau_syn", every (dt / cd)
                      "tau_mem", every (if nonLeaky then infinity else dt / vd)
                      "w_in", every (1.0 / cd)
                      "r", every (if nonLeaky then infinity else 1.0 / vd)
                      "v_threshold", every (float p.Vth / 64.0)
                      "v_leak", f64 layer.Shape (if nonLeaky then Array.zeroCreate n else biasFloat |> Array.map (fun b -> b / vd))
                      "v_reset", every 0.0 ]
        nodes.Add (synapseName, synapse)
        nodes.Add (layer.Name, neuron)
        match layer.Recurrent with
        | Some r ->
            // Recurrent synapses: a Linear node from the layer back to itself (one step later, as on Loihi).
            let recName = layer.Name + "_rec"
            nodes.Add (recName, node "Linear" [ "weight", f64 [| n; n |] (r |> Array.map toFloat) ])
            edges.Add (layer.Name, recName)
            edges.Add (recName, layer.Name)
        | None -> ()
        let previous = layers.[l - 1]
        match layer.Incoming.Value with
        | Dense _ when previous.Shape.Length > 1 ->
            // A dense layer after a (C, H, W) layer reads it flattened: NIR says so with a Flatten node (start_dim 0
            // over the batch-free shape), which NIR's reader needs to match the shapes.
            let flatten = Seq.initInfinite (fun i -> if i = 0 then layer.Name + "_flatten" else $"{layer.Name}_flatten{i}") |> Seq.find (fun n -> not (taken.Contains n) && n <> outputName)
            nodes.Add (flatten, node "Flatten" [ "input_type", i64 previous.Shape; "start_dim", Hdf5Tree.scalar (Int64s [| 0L |]); "end_dim", Hdf5Tree.scalar (Int64s [| -1L |]) ])
            edges.Add (previous.Name, flatten)
            edges.Add (flatten, synapseName)
        | _ -> edges.Add (previous.Name, synapseName)
        edges.Add (synapseName, layer.Name)
    let last = layers.[layers.Length - 1]
    nodes.Add (outputName, node "Output" [ "shape", i64 last.Shape ])
    edges.Add (last.Name, outputName)
    { Version = "1.0.7"; Graph = { Nodes = Map.ofSeq nodes; Edges = edges.ToArray (); Extra = Map.empty } }
