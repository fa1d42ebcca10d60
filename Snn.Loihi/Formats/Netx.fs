/// lava-dl's NetX network files (HDF5): reading into a `Network`, writing one, and the validator rules.
///
/// Layout (docs/loihi.md §3): group `layer` with subgroups "0", "1", ... read in integer order. Each has `type`
/// (`input`, `flatten`, `dense`, `dense_rec`, `conv`; `pool`, `convT`, `unpool`, `average` are refused as Lava's
/// loader refuses them), `shape` (int64, (C, H, W) or (N,)), `weight` (float32 holding integers: dense (out, in),
/// conv (out, in/groups, kH, kW), sometimes with a trailing 1), optional `weight_rec`, `bias` (per neuron, per
/// channel or one value; becomes bias_mant with bias_exp = 6), `delay` (per neuron, 0..62), conv geometry
/// (`kernelSize`, `stride`, `padding`, `dilation` in (H, W) order, `groups`), and group `neuron` with `type`
/// (`CUBA` or legacy `LOIHI`), `iDecay`, `vDecay`, `vThMant`, `refDelay` (int64 scalars).
/// Mapping as Lava's loader does it: du = iDecay - 1, dv = vDecay, vth = vThMant, bias_exp = 6. A dense layer
/// without a `neuron` group is lava-dl's non-spiking integrator (iDecay 0, vDecay 4096, vThMant 2^18 - 1).
/// The input layer's own `weight`/`bias` are an input transform (2·weight·x - weight + bias), not neuron
/// parameters: the input neurons get bias 0 and are driven by `InputDrive`.
[<RequireQualifiedAccess>]
module Snn.Loihi.Netx

open System
open System.IO

/// lava-dl's "never spikes" threshold mantissa, 2^18 - 1.
let neverSpikes = 262143

let private invalid (file: string) (key: string) (message: string) =
    raise (InvalidDataException ($"{file}: {key}: {message}"))

let private children (node: H5Node) =
    match node with
    | Group c -> c
    | Dataset _ -> Map.empty

let private data (file: string) (key: string) (node: H5Node) (name: string) : H5Data option =
    match Hdf5Tree.tryChild name node with
    | Some (Dataset d) -> Some d
    | Some (Group _) -> invalid file $"{key}/{name}" "is a group, expected a dataset"
    | None -> None

let private required (file: string) (key: string) (node: H5Node) (name: string) : H5Data =
    match data file key node name with
    | Some d -> d
    | None -> invalid file $"{key}/{name}" "is missing"

let private text (file: string) (key: string) (d: H5Data) : string =
    match d.Values with
    | Strings [| s |] -> s.Trim ()
    | _ -> invalid file key "expected one string"

let private integers (file: string) (key: string) (d: H5Data) : int[] =
    match d.Values with
    | Strings _ -> invalid file key "expected numbers, found strings"
    | v ->
        v.AsFloats
        |> Array.mapi (fun i x ->
            if x <> Math.Round x || abs x > 1e9 then invalid file $"{key}[{i}]" $"{x} is not an integer"
            int x)

let private integer (file: string) (key: string) (d: H5Data) : int =
    match integers file key d with
    | [| x |] -> x
    | xs -> invalid file key $"expected one value, found {xs.Length}"

/// Reads neuron parameters from a `neuron` group; None when the layer has none.
let private neurons (file: string) (key: string) (layer: H5Node) : (int * int * int) option =
    match Hdf5Tree.tryChild "neuron" layer with
    | None -> None
    | Some n ->
        let k = key + "/neuron"
        let kind = text file (k + "/type") (required file k n "type")
        if kind <> "CUBA" && kind <> "LOIHI" then
            invalid file (k + "/type") $"neuron type '{kind}' is not a CUBA-LIF neuron (supported: CUBA, LOIHI)"
        let field name = integer file $"{k}/{name}" (required file k n name)
        let iDecay, vDecay, vth = field "iDecay", field "vDecay", field "vThMant"
        if iDecay < 0 || iDecay > 4096 then invalid file (k + "/iDecay") $"{iDecay} lies outside [0, 4096]"
        if vDecay < 0 || vDecay > 4096 then invalid file (k + "/vDecay") $"{vDecay} lies outside [0, 4096]"
        if vth < 0 || (vth > 131071 && vth <> neverSpikes) then invalid file (k + "/vThMant") $"{vth} lies outside [0, 131071] and is not {neverSpikes}"
        Some (iDecay, vDecay, vth)

let private shapeOf (file: string) (key: string) (layer: H5Node) : int[] =
    let s = integers file (key + "/shape") (required file key layer "shape")
    if s.Length = 0 || s |> Array.exists (fun d -> d <= 0) then invalid file (key + "/shape") $"%A{s} is not a valid shape"
    s

/// Broadcasts a NetX bias (one value, one per channel, or one per neuron) to every neuron of a (C, H, W) grid.
let private broadcastBias (file: string) (key: string) (shape: int[]) (bias: int[]) : int[] =
    let n = shape |> Array.fold (*) 1
    let perChannel = n / shape.[0]
    let expanded =
        if bias.Length = n then bias
        elif bias.Length = 1 then Array.create n bias.[0]
        elif bias.Length = shape.[0] then Array.init n (fun i -> bias.[i / perChannel])
        else invalid file key $"has {bias.Length} values; expected 1, {shape.[0]} (per channel) or {n} (per neuron)"
    expanded
    |> Array.iteri (fun i b -> if b < -4096 || b > 4095 then invalid file $"{key}[{i}]" $"{b} does not fit the 13-bit bias mantissa [-4096, 4095]")
    expanded

/// Reads the tree of a NetX file (read from `path`) into a network. Raises InvalidDataException naming the file and
/// the offending key.
let ofTree (path: string) (root: H5Node) : Network =
    let layerGroup =
        match Hdf5Tree.tryChild "layer" root with
        | Some (Group g) -> g
        | _ -> invalid path "layer" "the group 'layer' is missing"
    let indexed =
        layerGroup
        |> Map.toArray
        |> Array.map (fun (name, node) ->
            match Int32.TryParse name with
            | true, i when i >= 0 -> i, node
            | _ -> invalid path $"layer/{name}" "layer names must be decimal integers")
        |> Array.sortBy fst
    indexed |> Array.iteri (fun expected (i, _) -> if i <> expected then invalid path $"layer/{expected}" "is missing (layers must be numbered 0, 1, ...)")
    let layers = ResizeArray<Layer> ()
    for i, node in indexed do
        let key = $"layer/{i}"
        let kind = text path (key + "/type") (required path key node "type")
        let previous () =
            if layers.Count = 0 then invalid path key $"a '{kind}' layer cannot come first (the first layer must be 'input')"
            layers.[layers.Count - 1]
        let neuronsOr shape bias =
            let n = shape |> Array.fold (*) 1
            let iDecay, vDecay, vth = neurons path key node |> Option.defaultValue (0, 4096, neverSpikes)
            let biasMant =
                match bias with
                | Some b -> broadcastBias path (key + "/bias") shape b
                | None -> Array.zeroCreate n
            { Du = iDecay - 1; Dv = vDecay; Vth = vth; BiasExp = 6; BiasMant = biasMant }
        let bias () = data path key node "bias" |> Option.map (integers path (key + "/bias"))
        let delays shape =
            data path key node "delay"
            |> Option.map (fun d ->
                let values = integers path (key + "/delay") d
                let n = shape |> Array.fold (*) 1
                if values.Length <> n then invalid path (key + "/delay") $"has {values.Length} values for {n} neurons"
                values |> Array.iteri (fun j v -> if v < 0 || v > 62 then invalid path $"{key}/delay[{j}]" $"{v} lies outside [0, 62]")
                values)
        match kind with
        | "input" ->
            if layers.Count > 0 then invalid path (key + "/type") "only the first layer may be 'input'"
            let shape = shapeOf path key node
            if neurons path key node |> Option.isNone then invalid path (key + "/neuron") "the input layer needs a neuron group"
            layers.Add { Name = string i; Shape = shape; Neurons = neuronsOr shape None; Incoming = None; WeightExp = 0; Delays = None; Recurrent = None }
        | "flatten" -> ()  // (C, H, W) row-major numbering makes flatten the identity on neuron indices
        | "dense" | "dense_rec" ->
            let prev = previous ()
            let shape = shapeOf path key node
            let n = shape |> Array.fold (*) 1
            let weightData = required path key node "weight"
            let weights = integers path (key + "/weight") weightData
            let inputs = prev.Count
            if weights.Length <> n * inputs then
                invalid path (key + "/weight") $"has {weights.Length} values; {n} neurons x {inputs} inputs = {n * inputs} expected"
            let recurrent =
                if kind = "dense_rec" then
                    let r = integers path (key + "/weight_rec") (required path key node "weight_rec")
                    if r.Length <> n * n then invalid path (key + "/weight_rec") $"has {r.Length} values; {n * n} expected"
                    Some r
                else None
            layers.Add
                { Name = string i; Shape = [| n |]; Neurons = neuronsOr [| n |] (bias ()); Incoming = Some (Dense (inputs, weights))
                  WeightExp = 0; Delays = delays [| n |]; Recurrent = recurrent }
        | "conv" ->
            let prev = previous ()
            let shape = shapeOf path key node
            if shape.Length <> 3 || prev.Shape.Length <> 3 then invalid path (key + "/shape") "conv layers need (C, H, W) shapes before and after"
            let pair name fallback =
                match data path key node name with
                | Some d ->
                    match integers path $"{key}/{name}" d with
                    | [| h; w |] -> h, w
                    | [| x |] -> x, x
                    | xs -> invalid path $"{key}/{name}" $"expected (H, W), found {xs.Length} values"
                | None -> fallback
            let weightData = required path key node "weight"
            let weights = integers path (key + "/weight") weightData
            let wShape = weightData.Shape |> Array.map int
            if wShape.Length < 4 || (wShape.Length = 5 && wShape.[4] <> 1) || wShape.Length > 5 then
                invalid path (key + "/weight") $"shape %A{wShape} is not (out, in/groups, kH, kW)"
            let kh, kw = pair "kernelSize" (wShape.[2], wShape.[3])
            let sh, sw = pair "stride" (1, 1)
            let ph, pw = pair "padding" (0, 0)
            let dh, dw = pair "dilation" (1, 1)
            let groups = data path key node "groups" |> Option.map (integer path (key + "/groups")) |> Option.defaultValue 1
            // The output size divides by the stride: a stride or dilation of 0 would divide by zero.
            for name, (a, b), least in [ "kernelSize", (kh, kw), 1; "stride", (sh, sw), 1; "dilation", (dh, dw), 1; "padding", (ph, pw), 0 ] do
                if a < least || b < least then invalid path $"{key}/{name}" $"({a}, {b}) must be >= {least}"
            let g =
                { InChannels = prev.Shape.[0]; InHeight = prev.Shape.[1]; InWidth = prev.Shape.[2]; OutChannels = wShape.[0]
                  KernelHeight = kh; KernelWidth = kw; StrideH = sh; StrideW = sw; PaddingH = ph; PaddingW = pw
                  DilationH = dh; DilationW = dw; Groups = groups }
            if groups <= 0 || g.InChannels % groups <> 0 || wShape.[1] * groups <> g.InChannels || (kh, kw) <> (wShape.[2], wShape.[3]) then
                invalid path (key + "/weight") $"shape %A{wShape} does not fit {g.InChannels} input channels, groups {groups}, kernel {kh}x{kw}"
            if [| g.OutChannels; g.OutHeight; g.OutWidth |] <> shape then
                invalid path (key + "/shape") $"%A{shape} differs from the convolution's output (%d{g.OutChannels}, %d{g.OutHeight}, %d{g.OutWidth})"
            layers.Add
                { Name = string i; Shape = shape; Neurons = neuronsOr shape (bias ()); Incoming = Some (Conv (g, weights))
                  WeightExp = 0; Delays = delays shape; Recurrent = None }
        | "pool" | "convT" | "unpool" | "average" | "concat" ->
            invalid path (key + "/type") $"'{kind}' layers are not supported (Lava's NetX loader refuses them too)"
        | other -> invalid path (key + "/type") $"unknown layer type '{other}'"
    if layers.Count = 0 then invalid path "layer" "holds no layers"
    try Network.validate { Layers = layers.ToArray () }
    with :? ArgumentException as e -> invalid path "layer" e.Message

/// Reads a NetX file into a network. Raises InvalidDataException naming the file and the offending key.
let read (path: string) : Network = ofTree path (Hdf5Tree.read path)

/// What a NetX file holds beyond its `Network`, kept so that a network read and written back keeps it: per layer
/// (by layer name, which is the file's layer index), the neuron group's fields other than iDecay, vDecay and
/// vThMant (the neuron `type`, e.g. legacy `LOIHI`, `refDelay`, `gradedSpike`, and the legacy `wgtExp`, `theta`,
/// `tauRho`, `scaleRho`), and the input layer's `weight` and `bias` (an input transform the emulator does not run).
type Extras =
    { /// Neuron fields by layer name, with their stored element types.
      Neuron: Map<string, Map<string, H5Node>>
      /// The input layer's transform datasets (`weight`, `bias`) by key.
      InputTransform: Map<string, H5Node>
      /// Names of conv layers whose weight carried a trailing axis of 1 (older lava-dl files store slayer's 5-D
      /// (out, in, kH, kW, 1) kernel; current lava-dl drops the last axis).
      TrailingWeightAxis: Set<string> }

    /// No extras: the writer's defaults (neuron type CUBA, refDelay 1, gradedSpike FALSE, no input transform,
    /// 4-D conv weights).
    static member None = { Neuron = Map.empty; InputTransform = Map.empty; TrailingWeightAxis = Set.empty }

/// A network with the extras of the file it came from.
type Document =
    { /// The network.
      Network: Network
      /// What else the file held.
      Extras: Extras }

/// The neuron fields the network itself carries; everything else in a neuron group is an extra.
let private dynamicNeuronFields = set [ "iDecay"; "vDecay"; "vThMant" ]

/// Reads a NetX file with its extras (see `Extras`). Raises InvalidDataException as `read` does.
let readDocument (path: string) : Document =
    let root = Hdf5Tree.read path
    let network = ofTree path root
    let layers = match Hdf5Tree.tryChild "layer" root with Some (Group g) -> g | _ -> Map.empty
    let neuron =
        layers
        |> Map.toSeq
        |> Seq.choose (fun (name, layer) ->
            match Hdf5Tree.tryChild "neuron" layer with
            | Some (Group fields) -> Some (name, fields |> Map.filter (fun k _ -> not (dynamicNeuronFields.Contains k)))
            | _ -> None)
        |> Map.ofSeq
    let inputTransform =
        match layers |> Map.tryFind network.Layers.[0].Name with
        | Some (Group g) -> g |> Map.filter (fun k _ -> k = "weight" || k = "bias")
        | _ -> Map.empty
    let trailing =
        layers
        |> Map.filter (fun _ layer ->
            match Hdf5Tree.tryChild "weight" layer with
            | Some (Dataset d) -> d.Shape.Length = 5 && d.Shape.[4] = 1L
            | _ -> false)
        |> Map.keys
        |> Set.ofSeq
    { Network = network; Extras = { Neuron = neuron; InputTransform = inputTransform; TrailingWeightAxis = trailing } }

// ---------------------------------------------------------------------------------------------------------------
// Validator rules (docs/loihi.md §3), applied to the file's tree so that they also catch what the reader would
// silently coerce. Every violation is reported, not just the first.

let private numbersOf (node: H5Node) (name: string) : float[] option =
    match Hdf5Tree.tryChild name node with
    | Some (Dataset { Values = Strings _ }) -> None
    | Some (Dataset d) -> Some d.Values.AsFloats
    | _ -> None

/// Lists every violation of the NetX rules in a file's tree, each naming the key: iDecay, vDecay in [0, 4096];
/// vThMant in [0, 131071] or 262143; weights integral, within [-256, 255] and, for mixed sign, even in [-256, 254];
/// no all-zero weight matrix (Lava's loader crashes on it); delays integral in [0, 62]; bias integral within 13 bits;
/// prod(shape) equal to the weight rows.
let violations (root: H5Node) : string list =
    [ match Hdf5Tree.tryChild "layer" root with
      | Some (Group layers) ->
          for KeyValue (name, layer) in layers do
              let key = $"layer/{name}"
              let kind =
                  match Hdf5Tree.tryChild "type" layer with
                  | Some (Dataset { Values = Strings [| s |] }) -> s.Trim ()
                  | _ -> ""
              if kind = "" then yield $"{key}/type: missing"
              match Hdf5Tree.tryChild "neuron" layer with
              | Some n ->
                  let scalarField f lo hi extra =
                      [ match numbersOf n f with
                        | Some [| v |] ->
                            if v <> Math.Round v then yield $"{key}/neuron/{f}: {v} is not an integer"
                            elif (v < lo || v > hi) && not (extra v) then yield $"{key}/neuron/{f}: {v} lies outside [{lo}, {hi}]"
                        | Some _ -> yield $"{key}/neuron/{f}: expected one value"
                        | None -> yield $"{key}/neuron/{f}: missing" ]
                  yield! scalarField "iDecay" 0.0 4096.0 (fun _ -> false)
                  yield! scalarField "vDecay" 0.0 4096.0 (fun _ -> false)
                  yield! scalarField "vThMant" 0.0 131071.0 (fun v -> v = float neverSpikes)
              | None -> if kind = "input" || kind = "conv" || kind = "dense" || kind = "dense_rec" then yield $"{key}/neuron: missing"
              if kind <> "input" then
                  for wName in [ "weight"; "weight_rec" ] do
                      match numbersOf layer wName with
                      | Some w ->
                          let nonIntegral = w |> Array.tryFindIndex (fun x -> x <> Math.Round x)
                          match nonIntegral with
                          | Some i -> yield $"{key}/{wName}[{i}]: {w.[i]} is not an integer"
                          | None -> ()
                          if w.Length > 0 && w |> Array.forall ((=) 0.0) then
                              yield $"{key}/{wName}: all weights are zero (Lava's loader cannot build such a layer)"
                          let mixed = (w |> Array.exists (fun x -> x < 0.0)) && (w |> Array.exists (fun x -> x > 0.0))
                          let hi = if mixed then 254.0 else 255.0
                          match w |> Array.tryFindIndex (fun x -> x < -256.0 || x > hi) with
                          | Some i -> yield $"{key}/{wName}[{i}]: {w.[i]} lies outside [-256, {hi}]"
                          | None -> ()
                          if mixed then
                              match w |> Array.tryFindIndex (fun x -> x = Math.Round x && (int64 x) % 2L <> 0L) with
                              | Some i -> yield $"{key}/{wName}[{i}]: {w.[i]} is odd; mixed-sign weights must be even"
                              | None -> ()
                          if wName = "weight" then
                              match numbersOf layer "shape", Hdf5Tree.tryChild "weight" layer with
                              | Some shape, Some (Dataset d) when d.Shape.Length = 1 && kind <> "conv" ->
                                  // lava-dl reshapes a 1-D dense weight to (neurons, -1), as the reader does.
                                  let neurons = shape |> Array.fold (*) 1.0
                                  if neurons <= 0.0 || float d.Shape.[0] % neurons <> 0.0 then
                                      yield $"{key}/weight: {d.Shape.[0]} values are not a whole number of rows of shape %A{shape} ({neurons} neurons)"
                              | Some shape, Some (Dataset d) when d.Shape.Length > 0 ->
                                  let neurons = shape |> Array.fold (*) 1.0
                                  if float d.Shape.[0] * (if kind = "conv" then shape.[1..] |> Array.fold (*) 1.0 else 1.0) <> neurons then
                                      yield $"{key}/weight: {d.Shape.[0]} rows do not fit shape %A{shape} ({neurons} neurons)"
                              | _ -> ()
                      | None -> if wName = "weight" && (kind = "dense" || kind = "conv" || kind = "dense_rec") then yield $"{key}/weight: missing"
                  match numbersOf layer "bias" with
                  | Some b ->
                      match b |> Array.tryFindIndex (fun x -> x <> Math.Round x || x < -4096.0 || x > 4095.0) with
                      | Some i -> yield $"{key}/bias[{i}]: {b.[i]} is not an integer within 13 bits [-4096, 4095]"
                      | None -> ()
                  | None -> ()
                  match numbersOf layer "delay" with
                  | Some d ->
                      match d |> Array.tryFindIndex (fun x -> x <> Math.Round x || x < 0.0 || x > 62.0) with
                      | Some i -> yield $"{key}/delay[{i}]: {d.[i]} is not an integer in [0, 62]"
                      | None -> ()
                  | None -> ()
      | _ -> yield "layer: the group is missing" ]

/// Validates a NetX file; returns every violation (empty when the file is valid). Unreadable files raise
/// InvalidDataException naming the file.
let validateFile (path: string) : string list = violations (Hdf5Tree.read path)

// ---------------------------------------------------------------------------------------------------------------
// Writing: the same layout lava-dl's exporter writes (int64 scalars and shapes, float32 weights and biases,
// neuron type CUBA, refDelay 1, gradedSpike FALSE).

let private f32 (shape: int64[]) (values: int[]) = Dataset { Shape = shape; Values = Float32s (values |> Array.map float32) }
let private i64 (values: int[]) = Dataset (Hdf5Tree.vector (Int64s (values |> Array.map int64)))
let private i64Scalar (value: int) = Dataset (Hdf5Tree.scalar (Int64s [| int64 value |]))
let private str1 (value: string) = Dataset (Hdf5Tree.vector (Strings [| value |]))

/// The per-channel bias of a (C, H, W) layer when every channel is uniform, else the per-neuron bias.
let private compactBias (shape: int[]) (bias: int[]) : int[] =
    let perChannel = bias.Length / shape.[0]
    let uniform = Array.init shape.[0] (fun c -> bias.[c * perChannel .. (c + 1) * perChannel - 1] |> Array.distinct |> Array.length = 1) |> Array.forall id
    if shape.Length = 3 && uniform then Array.init shape.[0] (fun c -> bias.[c * perChannel]) else bias

/// `toTree` with the extras of a source file: neuron fields other than iDecay, vDecay, vThMant are written as the
/// source had them (a legacy LOIHI group stays LOIHI with wgtExp, theta, tauRho, scaleRho and no gradedSpike), and
/// the input layer keeps its transform.
let toTreeWith (extras: Extras) (network: Network) : H5Node =
    let network = Network.validate network
    let layerNode (i: int) (layer: Layer) : H5Node =
        let fail message = raise (ArgumentException ($"layer {i} ('{layer.Name}'): {message}", "network"))
        if layer.Neurons.BiasExp <> 6 then fail $"bias exponent {layer.Neurons.BiasExp}; NetX files imply 6"
        if layer.WeightExp <> 0 then fail $"weight exponent {layer.WeightExp}; NetX stores weight mantissas only"
        let p = layer.Neurons
        let descriptive =
            match extras.Neuron.TryFind layer.Name with
            | Some fields -> fields
            | None ->
                Map.ofList [
                    "type", Dataset (Hdf5Tree.scalar (Strings [| "CUBA" |]))
                    "refDelay", i64Scalar 1
                    "gradedSpike", Dataset (Hdf5Tree.scalar (Bools [| false |])) ]
        let neuron =
            descriptive
            |> Map.add "iDecay" (i64Scalar (p.Du + 1))
            |> Map.add "vDecay" (i64Scalar p.Dv)
            |> Map.add "vThMant" (i64Scalar p.Vth)
            |> Group
        let common =
            [ "shape", i64 layer.Shape
              "neuron", neuron ]
        let biasEntry () =
            let b = compactBias layer.Shape p.BiasMant
            if b |> Array.forall ((=) 0) then [] else [ "bias", f32 [| int64 b.Length |] b ]
        let delayEntry () =
            match layer.Delays with
            | Some d -> [ "delay", f32 [| int64 d.Length |] d ]
            | None -> []
        let entries =
            match layer.Incoming with
            | None ->
                if p.BiasMant |> Array.exists ((<>) 0) then fail "the input layer has a bias; NetX has no place for input neuron biases"
                [ "type", str1 "input" ] @ common @ (extras.InputTransform |> Map.toList)
            | Some (Dense (inputs, w)) ->
                let n = layer.Count
                let kind = if layer.Recurrent.IsSome then "dense_rec" else "dense"
                [ "type", str1 kind
                  "weight", f32 [| int64 n; int64 inputs |] w
                  "inFeatures", i64Scalar inputs
                  "outFeatures", i64Scalar n ]
                @ (match layer.Recurrent with Some r -> [ "weight_rec", f32 [| int64 n; int64 n |] r ] | None -> [])
                @ common @ biasEntry () @ delayEntry ()
            | Some (Conv (g, w)) ->
                [ "type", str1 "conv"
                  "weight", f32 [| yield! [ int64 g.OutChannels; int64 (g.InChannels / g.Groups); int64 g.KernelHeight; int64 g.KernelWidth ]
                                   if extras.TrailingWeightAxis.Contains layer.Name then yield 1L |] w
                  "inChannels", i64Scalar g.InChannels
                  "outChannels", i64Scalar g.OutChannels
                  "kernelSize", i64 [| g.KernelHeight; g.KernelWidth |]
                  "stride", i64 [| g.StrideH; g.StrideW |]
                  "padding", i64 [| g.PaddingH; g.PaddingW |]
                  "dilation", i64 [| g.DilationH; g.DilationW |]
                  "groups", i64Scalar g.Groups ]
                @ common @ biasEntry () @ delayEntry ()
        Group (Map.ofList entries)
    let layers = ResizeArray<string * H5Node> ()
    network.Layers
    |> Array.iteri (fun i layer ->
        // A dense layer after a (C, H, W) layer is preceded by a flatten layer, as lava-dl writes it.
        if i > 0 && layer.Shape.Length = 1 && network.Layers.[i - 1].Shape.Length = 3 then
            let flattened = [| network.Layers.[i - 1].Count; 1; 1 |]
            layers.Add (string layers.Count, Group (Map.ofList [ "type", str1 "flatten"; "shape", i64 flattened ]))
        layers.Add (string layers.Count, layerNode i layer))
    let tree = Group (Map.ofList [ "layer", Group (Map.ofSeq layers) ])
    match violations tree with
    | [] -> tree
    | problems -> raise (ArgumentException ("the network breaks NetX rules: " + String.Join ("; ", problems), "network"))

/// The NetX tree of a network with the writer's defaults (neuron type CUBA, refDelay 1, gradedSpike FALSE).
/// Raises ArgumentException when the network cannot be expressed: a bias exponent other than 6 (the loader fixes
/// it), a weight exponent, a bias on the input layer (NetX's input `bias` is an input transform), or a layer that
/// breaks the validator rules (e.g. all-zero weights).
let toTree (network: Network) : H5Node = toTreeWith Extras.None network

/// lava-dl writes layer types with numpy's 'S10' (fixed-length, NUL-padded, 10 bytes).
let private typeWidth = 10

/// Writes a network with the extras of its source file (temporary name, then renamed). Strings are written as
/// lava-dl writes the layer `type`, fixed-length 10-byte ASCII; lava-dl's reader decodes fixed and variable-length
/// strings alike, so the neuron `type` (variable-length in lava-dl's files) reads the same.
let writeDocument (path: string) (document: Document) : unit =
    Hdf5Tree.writeFixedStrings typeWidth path (toTreeWith document.Extras document.Network)

/// Writes a network as a NetX file (temporary name, then renamed); see `toTree` for what is refused.
let write (path: string) (network: Network) : unit = writeDocument path { Network = network; Extras = Extras.None }
