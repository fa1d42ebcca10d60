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

/// Reads a NetX file into a network. Raises InvalidDataException naming the file and the offending key.
let read (path: string) : Network =
    let root = Hdf5Tree.read path
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
