/// NIR, the Neuromorphic Intermediate Representation (neuromorphs/NIR): graphs read from and written to NIR's HDF5
/// layout, and a float simulation of them.
///
/// Layout (`nir.write`): root dataset `version` (string) and group `node`, the top graph. A graph group holds
/// `type` = "NIRGraph", group `nodes/<name>/` and `edges` (E x 2 strings, source -> target); a node group holds
/// `type` plus one dataset per field; subgraphs nest the same way. The datasets keep their element types, so a
/// graph read and written back keeps NIR's layout.
[<RequireQualifiedAccess>]
module Snn.Loihi.Nir

open System
open System.IO

/// A node: its NIR type name, its fields, and its nodes and edges when it is a subgraph.
type Node =
    { /// NIR type name, e.g. "LIF", "Affine", "NIRGraph".
      Type: string
      /// Fields other than `type`, `nodes` and `edges`, with their stored element types.
      Fields: Map<string, H5Data>
      /// The nested graph of a "NIRGraph" node.
      Graph: Graph option }

/// A graph of named nodes.
and Graph =
    { /// Nodes by name.
      Nodes: Map<string, Node>
      /// Edges source -> target (NIR names; "a.b" addresses node b of subgraph a).
      Edges: (string * string)[]
      /// Other entries of the graph group (e.g. `metadata`), kept as read.
      Extra: Map<string, H5Node> }

/// A NIR file: version and top graph.
type Document =
    { /// NIR version string, e.g. "1.0.7".
      Version: string
      /// The top graph.
      Graph: Graph }

/// The node types this reader accepts (NIR's node set).
let knownTypes =
    set [ "Input"; "Output"; "Affine"; "Linear"; "Scale"; "Conv1d"; "Conv2d"; "SumPool2d"; "AvgPool2d"; "Flatten"; "Delay"
          "Threshold"; "LIF"; "CubaLIF"; "LI"; "CubaLI"; "IF"; "I"; "NIRGraph" ]

/// Neuron models NIR has no node for; asking for them gives a message that says so.
let inexpressible =
    set [ "Izhikevich"; "HH"; "HodgkinHuxley"; "AdEx"; "ALIF"; "AdaptiveLIF"; "AdaptiveThreshold"; "QIF"; "EIF" ]

/// Raises ArgumentException unless NIR can express the named neuron model (the `model` parameter).
let requireExpressible (model: string) : unit =
    if inexpressible.Contains model then
        raise (ArgumentException ($"NIR has no node for the {model} model (it expresses LIF, CubaLIF, LI, CubaLI, IF and I only); export the network as NetX or keep it in Snn", "model"))

let private invalid (file: string) (key: string) (message: string) =
    raise (InvalidDataException ($"{file}: {key}: {message}"))

let private stringOf (file: string) (key: string) (node: H5Node option) =
    match node with
    | Some (Dataset { Values = Strings [| s |] }) -> s
    | Some _ -> invalid file key "expected one string"
    | None -> invalid file key "is missing"

let rec private readGraph (file: string) (key: string) (children: Map<string, H5Node>) : Graph =
    let nodes =
        match children.TryFind "nodes" with
        | Some (Group g) -> g |> Map.map (fun name n -> readNode file $"{key}/nodes/{name}" n)
        | _ -> invalid file (key + "/nodes") "a NIRGraph needs a group 'nodes'"
    let edges =
        match children.TryFind "edges" with
        | Some (Dataset { Values = Strings s; Shape = shape }) when s.Length % 2 = 0 && (shape.Length = 2 || s.Length = 0) ->
            Array.init (s.Length / 2) (fun i -> s.[2 * i], s.[2 * i + 1])
        | Some (Dataset { Values = Strings [||] }) | None -> [||]
        | Some _ -> invalid file (key + "/edges") "expected an E x 2 array of strings"
    // An edge must join existing nodes (or a port "sub.node" of a subgraph node); otherwise it was later misreported
    // as a cycle.
    let exists (name: string) =
        nodes.ContainsKey name || (name.Contains '.' && nodes.ContainsKey (name.Substring (0, name.IndexOf '.')))
    edges |> Array.iteri (fun i (a, b) ->
        for endpoint in [ a; b ] do
            if not (exists endpoint) then invalid file $"{key}/edges[{i}]" $"'{a}' -> '{b}' names the node '{endpoint}', which the graph does not have")
    let extra = children |> Map.filter (fun k _ -> k <> "nodes" && k <> "edges" && k <> "type")
    { Nodes = nodes; Edges = edges; Extra = extra }

and private readNode (file: string) (key: string) (node: H5Node) : Node =
    match node with
    | Dataset _ -> invalid file key "expected a node group"
    | Group children ->
        let kind = stringOf file (key + "/type") (children.TryFind "type")
        if inexpressible.Contains kind then invalid file (key + "/type") $"'{kind}' is not a NIR node: NIR cannot express this model"
        if not (knownTypes.Contains kind) then
            let known = String.Join (", ", knownTypes)
            invalid file (key + "/type") $"unknown NIR node type '{kind}' (known: {known})"
        if kind = "NIRGraph" then
            let g = readGraph file key children
            { Type = kind; Fields = Map.empty; Graph = Some g }
        else
            let fields =
                children
                |> Map.filter (fun k _ -> k <> "type")
                |> Map.map (fun name v ->
                    match v with
                    | Dataset d -> d
                    // NIR stores a Flatten node's input_type as a group {input: shape}; it is kept as the shape.
                    | Group g when kind = "Flatten" && name = "input_type" ->
                        match g.TryFind "input" with
                        | Some (Dataset d) -> d
                        | _ -> invalid file $"{key}/{name}" "expected a group with the dataset 'input'"
                    | Group _ -> invalid file $"{key}/{name}" "a field of a node must be a dataset")
            // Time constants divide dt (dt/τ): 0, negative or NaN values would silently give nonsense. A membrane
            // time constant (tau, tau_mem) may be +inf: a non-leaky integrator (snnTorch writes β = 1 so, with
            // r = τ/dt = inf); its r must then be +inf too, or no input would ever reach the voltage. A synaptic
            // tau_syn of +inf would shut the input out of the current for any finite w_in, so it is refused.
            for name in [ "tau"; "tau_mem"; "tau_syn" ] do
                let infiniteAllowed = name <> "tau_syn"
                match fields.TryFind name with
                | Some { Values = Strings _ } -> invalid file $"{key}/{name}" "a time constant must be numeric"
                | Some d ->
                    let r = match fields.TryFind "r" with Some { Values = Strings _ } | None -> [| 1.0 |] | Some rd -> rd.Values.AsFloats
                    d.Values.AsFloats |> Array.iteri (fun i v ->
                        if Double.IsPositiveInfinity v && infiniteAllowed then
                            let ri = if r.Length = 1 then r.[0] elif i < r.Length then r.[i] else nan
                            if not (Double.IsPositiveInfinity ri) then
                                invalid file $"{key}/r[{i}]" $"{ri} is finite while {name}[{i}] is infinite (no leak): no input would reach the voltage; write r = inf (r = {name} / dt)"
                        elif not (v > 0.0 && Double.IsFinite v) then
                            let what = if infiniteAllowed then "a number of seconds > 0, or +inf for no leak" else "a finite number of seconds > 0"
                            invalid file $"{key}/{name}[{i}]" $"{v} is not a time constant ({what})")
                | None -> ()
            { Type = kind; Fields = fields; Graph = None }

/// Reads a NIR file. Raises InvalidDataException naming the file and key of anything it does not accept.
let read (path: string) : Document =
    match Hdf5Tree.read path with
    | Group root ->
        let version = stringOf path "version" (root.TryFind "version")
        match root.TryFind "node" with
        | Some (Group top) ->
            let kind = stringOf path "node/type" (top.TryFind "type")
            if kind <> "NIRGraph" then invalid path "node/type" $"the top node must be a NIRGraph, found '{kind}'"
            { Version = version; Graph = readGraph path "node" top }
        | _ -> invalid path "node" "the group 'node' (the top graph) is missing"
    | Dataset _ -> invalid path "/" "the root is not a group"

let rec private graphTree (g: Graph) : H5Node =
    let nodes = g.Nodes |> Map.map (fun _ n -> nodeTree n)
    let edges = { Shape = [| int64 g.Edges.Length; 2L |]; Values = Strings (g.Edges |> Array.collect (fun (a, b) -> [| a; b |])) }
    let entries =
        g.Extra
        |> Map.add "type" (Dataset (Hdf5Tree.scalar (Strings [| "NIRGraph" |])))
        |> Map.add "nodes" (Group nodes)
        |> Map.add "edges" (Dataset edges)
    Group entries

and private nodeTree (n: Node) : H5Node =
    match n.Graph with
    | Some g -> graphTree g
    | None ->
        n.Fields
        |> Map.map (fun name d ->
            // NIR's layout of a Flatten node's input_type: a group {input: shape}.
            if n.Type = "Flatten" && name = "input_type" then Group (Map.ofList [ "input", Dataset d ]) else Dataset d)
        |> Map.add "type" (Dataset (Hdf5Tree.scalar (Strings [| n.Type |])))
        |> Group

/// The HDF5 tree of a document, in NIR's layout.
let toTree (doc: Document) : H5Node =
    Group (Map.ofList [ "version", Dataset (Hdf5Tree.scalar (Strings [| doc.Version |])); "node", graphTree doc.Graph ])

/// Writes a document (temporary name, then renamed).
let write (path: string) (doc: Document) : unit = Hdf5Tree.write path (toTree doc)

// ---------------------------------------------------------------------------------------------------------------
// Subgraphs.

/// The graph with every NIRGraph node inlined (recursively): node n of subgraph s becomes "s.n" (NIR's own address
/// for it), the subgraph's Input and Output nodes disappear, and an edge into s (or into "s.<Input node>") goes to
/// what that Input node feeds, an edge out of s (or out of "s.<Output node>") leaves from what feeds that Output
/// node. This is how snnTorch writes RLeaky and RSynaptic: a subgraph Input -> LIF <-> Linear, LIF -> Output.
let rec flatten (graph: Graph) : Graph =
    if graph.Nodes |> Map.forall (fun _ n -> n.Graph.IsNone) then graph
    else
        let subs = graph.Nodes |> Map.filter (fun _ n -> n.Graph.IsSome) |> Map.map (fun _ n -> flatten n.Graph.Value)
        let isPort (g: Graph) kind name = g.Nodes.TryFind name |> Option.exists (fun n -> n.Type = kind)
        let inner sub name = sub + "." + name
        // (subgraph, port node) when `address` is a subgraph ("s": all its ports of `kind`) or one of its ports ("s.p").
        let ports kind (address: string) : (string * string list) option =
            match subs.TryFind address with
            | Some g -> Some (address, g.Nodes |> Map.filter (fun _ n -> n.Type = kind) |> Map.keys |> List.ofSeq)
            | None ->
                let k = address.IndexOf '.'
                if k > 0 && subs.ContainsKey (address.Substring (0, k)) && isPort subs.[address.Substring (0, k)] kind (address.Substring (k + 1)) then
                    Some (address.Substring (0, k), [ address.Substring (k + 1) ])
                else None
        let into (target: string) =
            match ports "Input" target with
            | Some (sub, inputs) -> [ for i in inputs do for (a, b) in subs.[sub].Edges do if a = i then yield inner sub b ]
            | None -> [ target ]
        let outOf (source: string) =
            match ports "Output" source with
            | Some (sub, outputs) -> [ for o in outputs do for (a, b) in subs.[sub].Edges do if b = o then yield inner sub a ]
            | None -> [ source ]
        let nodes =
            [ for KeyValue (name, node) in graph.Nodes do
                match subs.TryFind name with
                | Some g ->
                    for KeyValue (n, inside) in g.Nodes do
                        if inside.Type <> "Input" && inside.Type <> "Output" then yield inner name n, inside
                | None -> yield name, node ]
        let edges =
            [| for (a, b) in graph.Edges do
                   for x in outOf a do
                       for y in into b do yield x, y
               for KeyValue (sub, g) in subs do
                   for (a, b) in g.Edges do
                       if not (isPort g "Input" a || isPort g "Output" b) then yield inner sub a, inner sub b |]
        { Nodes = Map.ofList nodes; Edges = edges; Extra = graph.Extra }

// ---------------------------------------------------------------------------------------------------------------
// Float simulation.

/// The values of a field as floats, or `fallback` when the node has no such field.
let field (node: Node) (name: string) (fallback: float[]) : float[] =
    match node.Fields.TryFind name with
    | Some d -> d.Values.AsFloats
    | None -> fallback

/// The shape of a field (empty for scalars and missing fields).
let fieldShape (node: Node) (name: string) : int[] =
    match node.Fields.TryFind name with
    | Some d -> d.Shape |> Array.map int
    | None -> [||]

/// The input gain of a leaky membrane per step, dt·r/τ in NIR's forward-Euler form v <- v + dt/τ (v_leak - v + r x).
/// For τ = +∞ (a non-leaky integrator) the product is the limit under NIR exporters' convention r = τ/dt, which
/// snnTorch writes for β = 1: with r = +∞ the gain is 1 per step; with a finite r no input reaches v (gain 0; the
/// reader refuses that combination).
let inputGain (dt: float) (tau: float) (r: float) : float =
    if Double.IsPositiveInfinity tau then (if Double.IsPositiveInfinity r then 1.0 else 0.0) else r * (dt / tau)

/// Per-node traces of a simulation: Output.[t] the node's output, Voltage.[t] its membrane voltage (neurons only).
type Trace =
    { /// The node's output at every step.
      Output: float[][]
      /// The membrane voltage at every step (after a spike's reset); empty for non-neuron nodes.
      Voltage: float[][] }

let private refuseNode (name: string) (message: string) : 'a = invalidArg "graph" $"node '{name}': {message}"

/// An int or (H, W) pair field (`fallback` on both axes when absent).
let private pairField (name: string) (node: Node) (fieldName: string) (fallback: int * int) : int * int =
    match node.Fields.TryFind fieldName with
    | None -> fallback
    | Some { Values = Strings _ } -> refuseNode name $"{fieldName} must be numeric"
    | Some d ->
        match d.Values.AsFloats with
        | [| v |] -> int v, int v
        | [| h; w |] -> int h, int w
        | values -> refuseNode name $"{fieldName} has {values.Length} values, expected 1 or (H, W)"

/// The (C, H, W) shape a 2-D node reads: the shape of its input when that is 3-D, else (channels, input_shape).
let private planes (name: string) (node: Node) (channels: int) (inShape: int[]) (length: int) : int * int * int =
    match inShape with
    | [| c; h; w |] -> c, h, w
    | _ ->
        match node.Fields.TryFind "input_shape" with
        | Some d when d.Values.AsFloats.Length >= 2 ->
            let v = d.Values.AsFloats |> Array.map int
            let h, w = v.[v.Length - 2], v.[v.Length - 1]
            if channels * h * w <> length then refuseNode name $"input_shape ({h}, {w}) with {channels} channels does not fit its {length} inputs"
            channels, h, w
        | _ -> refuseNode name $"needs a (C, H, W) input; its input has shape %A{inShape} and the node no input_shape"

/// NIR Conv2d on one (C_in, H, W) frame (PyTorch cross-correlation, zero padding):
///   y[o, i, j] = b[o] + Σ_{c in o's group} Σ_{ky, kx} W[o, c, ky, kx] · x[c, i·s_h - p_top + ky·d_h, j·s_w - p_left + kx·d_w]
/// with H_out = floor((H + p_top + p_bottom - d_h (kH - 1) - 1) / s_h) + 1 (W likewise). `padding` is an int, an
/// (H, W) pair, "valid" (0) or "same" (stride 1; the odd pixel goes to the bottom/right, as PyTorch pads).
let conv2d (name: string) (node: Node) (inShape: int[]) (x: float[]) : float[] * int[] =
    let wShape = fieldShape node "weight"
    if wShape.Length <> 4 || wShape |> Array.exists (fun d -> d < 1) then refuseNode name $"weight shape %A{wShape} is not (C_out, C_in / groups, kH, kW)"
    let w = field node "weight" [||]
    if w.Length <> (wShape |> Array.fold (*) 1) then refuseNode name $"weight holds {w.Length} values for its shape %A{wShape}"
    let groups = match field node "groups" [| 1.0 |] with [| g |] -> int g | g -> refuseNode name $"groups has {g.Length} values"
    let cOut, cPerGroup, kh, kw = wShape.[0], wShape.[1], wShape.[2], wShape.[3]
    if groups <= 0 || cOut % groups <> 0 then refuseNode name $"groups = {groups} must divide the {cOut} output channels"
    let c, h, wd = planes name node (cPerGroup * groups) inShape x.Length
    if c <> cPerGroup * groups then refuseNode name $"its weight expects {cPerGroup * groups} input channels, the input has {c}"
    let sh, sw = pairField name node "stride" (1, 1)
    let dh, dw = pairField name node "dilation" (1, 1)
    if sh < 1 || sw < 1 || dh < 1 || dw < 1 then refuseNode name $"stride ({sh}, {sw}) and dilation ({dh}, {dw}) must be >= 1"
    let top, bottom, left, right =
        match node.Fields.TryFind "padding" with
        | Some { Values = Strings [| "valid" |] } -> 0, 0, 0, 0
        | Some { Values = Strings [| "same" |] } ->
            if (sh, sw) <> (1, 1) then refuseNode name "padding 'same' needs stride 1 (as in PyTorch)"
            let th, tw = dh * (kh - 1), dw * (kw - 1)
            th / 2, th - th / 2, tw / 2, tw - tw / 2
        | Some { Values = Strings other } -> refuseNode name $"padding %A{other} is not an int, a pair, 'valid' or 'same'"
        | _ -> let ph, pw = pairField name node "padding" (0, 0) in ph, ph, pw, pw
    if top < 0 || left < 0 then refuseNode name "padding must be >= 0"
    let hOut = (h + top + bottom - dh * (kh - 1) - 1) / sh + 1
    let wOut = (wd + left + right - dw * (kw - 1) - 1) / sw + 1
    if hOut < 1 || wOut < 1 then refuseNode name $"the output of a {kh}x{kw} kernel on a {h}x{wd} input is empty"
    let bias = field node "bias" [| 0.0 |]
    if bias.Length <> 1 && bias.Length <> cOut then refuseNode name $"bias has {bias.Length} values for {cOut} channels"
    let outPerGroup = cOut / groups
    let y = Array.zeroCreate (cOut * hOut * wOut)
    for o in 0 .. cOut - 1 do
        let firstIn = (o / outPerGroup) * cPerGroup
        for i in 0 .. hOut - 1 do
            for j in 0 .. wOut - 1 do
                let mutable acc = if bias.Length = 1 then bias.[0] else bias.[o]
                for ci in 0 .. cPerGroup - 1 do
                    for ky in 0 .. kh - 1 do
                        let row = i * sh - top + ky * dh
                        if row >= 0 && row < h then
                            for kx in 0 .. kw - 1 do
                                let col = j * sw - left + kx * dw
                                if col >= 0 && col < wd then
                                    acc <- acc + w.[((o * cPerGroup + ci) * kh + ky) * kw + kx] * x.[((firstIn + ci) * h + row) * wd + col]
                y.[(o * hOut + i) * wOut + j] <- acc
    y, [| cOut; hOut; wOut |]

/// NIR SumPool2d (and AvgPool2d, divided by kH·kW, padding counted as zeros as PyTorch's default) on a (C, H, W)
/// frame: y[c, i, j] = Σ_{ky < kH, kx < kW} x[c, i·s_h - p_h + ky, j·s_w - p_w + kx], zero outside the frame, with
/// H_out = floor((H + 2 p_h - kH) / s_h) + 1. `stride` defaults to the kernel size, `padding` to 0.
let pool2d (name: string) (node: Node) (inShape: int[]) (x: float[]) : float[] * int[] =
    let kh, kw = pairField name node "kernel_size" (0, 0)
    if kh < 1 || kw < 1 then refuseNode name $"kernel_size ({kh}, {kw}) must be given and >= 1"
    let sh, sw = pairField name node "stride" (kh, kw)
    let ph, pw = pairField name node "padding" (0, 0)
    if sh < 1 || sw < 1 || ph < 0 || pw < 0 then refuseNode name $"stride ({sh}, {sw}) must be >= 1 and padding ({ph}, {pw}) >= 0"
    let channels = match inShape with [| c; _; _ |] -> c | _ -> 1
    let c, h, wd = planes name node channels inShape x.Length
    let hOut, wOut = (h + 2 * ph - kh) / sh + 1, (wd + 2 * pw - kw) / sw + 1
    if hOut < 1 || wOut < 1 then refuseNode name $"the output of a {kh}x{kw} pool on a {h}x{wd} input is empty"
    let norm = if node.Type = "AvgPool2d" then 1.0 / float (kh * kw) else 1.0
    let y = Array.zeroCreate (c * hOut * wOut)
    for ch in 0 .. c - 1 do
        for i in 0 .. hOut - 1 do
            for j in 0 .. wOut - 1 do
                let mutable acc = 0.0
                for ky in 0 .. kh - 1 do
                    let row = i * sh - ph + ky
                    if row >= 0 && row < h then
                        for kx in 0 .. kw - 1 do
                            let col = j * sw - pw + kx
                            if col >= 0 && col < wd then acc <- acc + x.[(ch * h + row) * wd + col]
                y.[(ch * hOut + i) * wOut + j] <- acc * norm
    y, [| c; hOut; wOut |]

/// The edges that close a cycle (depth-first search from the Input nodes, then from every other node in name
/// order): an edge into a node that is still on the search path.
/// The search keeps its own stack, so a long chain cannot overflow the thread's stack.
let private backEdges (graph: Graph) : Set<string * string> =
    let onPath = Collections.Generic.Dictionary<string, bool> ()
    let back = Collections.Generic.HashSet<string * string> ()
    let outgoing = graph.Edges |> Array.groupBy fst |> Map.ofArray |> Map.map (fun _ e -> e |> Array.map snd)
    let targets n = outgoing.TryFind n |> Option.defaultValue [||]
    let names = graph.Nodes |> Map.toList |> List.map fst
    for root in (names |> List.filter (fun n -> graph.Nodes.[n].Type = "Input")) @ names do
        if not (onPath.ContainsKey root) then
            // Each frame: a node and the index of its next outgoing edge.
            let stack = Collections.Generic.Stack<string * int> ()
            onPath.[root] <- true
            stack.Push ((root, 0))
            while stack.Count > 0 do
                let n, k = stack.Pop ()
                let out = targets n
                if k < out.Length then
                    stack.Push ((n, k + 1))
                    let b = out.[k]
                    match onPath.TryGetValue b with
                    | true, true -> back.Add ((n, b)) |> ignore
                    | true, false -> ()
                    | _ ->
                        onPath.[b] <- true
                        stack.Push ((b, 0))
                else onPath.[n] <- false
    set back

/// Simulates a flat graph for `steps` steps of `dt` seconds, feeding `input.[t]` to every Input node.
///
/// Discretisation: forward Euler with the input of the same step, as Norse and snnTorch run NIR graphs:
///   LIF      v <- v + dt/tau (v_leak - v + r x);  s = v > v_threshold;  v <- v_reset where s (0 when absent)
///   CubaLIF  I <- I + dt/tau_syn (-I + w_in x);  v <- v + dt/tau_mem (v_leak - v + r I);  spike and reset as LIF
///   LI, CubaLI  the same without spiking (output v);  IF  v <- v + dt r x, spike and reset;  I  v <- v + dt r x
///   tau (tau_mem) = +inf  v <- v + g x (g = `inputGain`: 1 for r = +inf), a non-leaky integrator
///   Affine  W x + b;  Linear  W x;  Scale  s x;  Flatten  x;  Threshold  x > threshold
///   Conv2d, SumPool2d, AvgPool2d  on (C, H, W) row-major frames (see `conv2d`, `pool2d`)
/// Nodes run in topological order within a step, so a chain has no latency; inputs of a node are summed. An edge
/// that closes a cycle (a neuron feeding back onto itself through an Affine or Linear, say) carries its source's
/// output of the previous step (nothing at the first step): recurrent spikes arrive one step later, as in
/// snnTorch's RLeaky and on Loihi. Subgraphs are inlined first (`flatten`; traces are keyed "sub.node"). Delay
/// nodes are refused (ArgumentException naming the node).
let simulate (graph: Graph) (dt: float) (steps: int) (input: float[][]) : Map<string, Trace> =
    if not (dt > 0.0 && Double.IsFinite dt) then invalidArg "dt" $"must be a finite number of seconds > 0, got {dt}"
    let graph = flatten graph
    if input.Length < steps then invalidArg "input" $"has {input.Length} steps for a run of {steps}"
    let names = graph.Nodes |> Map.toList |> List.map fst
    let back = backEdges graph
    let forward = graph.Edges |> Array.filter (back.Contains >> not)
    let sourcesOf (edges: (string * string)[]) =
        let m = edges |> Array.groupBy snd |> Map.ofArray |> Map.map (fun _ e -> e |> Array.map fst)
        fun name -> m.TryFind name |> Option.defaultValue [||]
    let sources = sourcesOf forward
    let delayedSources = sourcesOf (graph.Edges |> Array.filter back.Contains)
    // Kahn's algorithm over the forward edges gives the order within a step.
    let order =
        let indegree = names |> List.map (fun n -> n, (sources n).Length) |> dict |> Collections.Generic.Dictionary
        let ready = Collections.Generic.Queue (names |> List.filter (fun n -> indegree.[n] = 0))
        let result = ResizeArray ()
        while ready.Count > 0 do
            let n = ready.Dequeue ()
            result.Add n
            for (a, b) in forward do
                if a = n && indegree.ContainsKey b then
                    indegree.[b] <- indegree.[b] - 1
                    if indegree.[b] = 0 then ready.Enqueue b
        if result.Count <> names.Length then invalidArg "graph" "has edges into nodes the simulation cannot order (a subgraph port?)"
        result.ToArray ()
    let state = Collections.Generic.Dictionary<string, float[] * float[]> ()
    let outputs = Collections.Generic.Dictionary<string, float[]> ()
    let previous = Collections.Generic.Dictionary<string, float[]> ()
    let shapes = Collections.Generic.Dictionary<string, int[]> ()
    let traces = names |> List.map (fun n -> n, (ResizeArray<float[]> (), ResizeArray<float[]> ())) |> dict
    for t in 0 .. steps - 1 do
        previous.Clear ()
        for kv in outputs do previous.[kv.Key] <- kv.Value
        outputs.Clear ()
        for name in order do
            let node = graph.Nodes.[name]
            let srcs = sources name
            let parts =
                Array.append
                    (srcs |> Array.map (fun s -> outputs.[s]))
                    (delayedSources name |> Array.choose (fun s -> match previous.TryGetValue s with | true, p -> Some p | _ -> None))
            let x =
                if node.Type = "Input" then input.[t]
                elif parts.Length = 0 then
                    // Only delayed inputs, at the first step: zeros of the size the node has once it runs.
                    match shapes.TryGetValue name with
                    | true, shape -> Array.zeroCreate (shape |> Array.fold (*) 1)
                    | _ -> [||]
                else
                    parts |> Array.iter (fun p -> if p.Length <> parts.[0].Length then refuseNode name $"sums inputs of {parts.[0].Length} and {p.Length} values")
                    Array.init parts.[0].Length (fun i -> parts |> Array.sumBy (fun p -> p.[i]))
            let inShape =
                if node.Type = "Input" then
                    let declared = field node "shape" [||] |> Array.map int
                    if declared.Length > 0 && declared |> Array.fold (*) 1 = x.Length then declared else [| x.Length |]
                else
                    let fromSource = Array.append srcs (delayedSources name) |> Array.tryPick (fun s -> match shapes.TryGetValue s with | true, sh -> Some sh | _ -> None)
                    match fromSource with
                    | Some sh when sh |> Array.fold (*) 1 = x.Length -> sh
                    | _ -> [| x.Length |]
            let n = x.Length
            let per name' fallback = let v = field node name' [| fallback |] in fun i -> if v.Length = 1 then v.[0] else v.[i]
            let memory () =
                match state.TryGetValue name with
                | true, s when (fst s).Length = n -> s
                | true, s when (fst s).Length > 0 -> refuseNode name $"receives {n} values after {(fst s).Length}"
                | _ ->
                    let s = Array.zeroCreate n, Array.zeroCreate n
                    state.[name] <- s
                    s
            let mutable voltage = [||]
            let y, shape =
                match node.Type with
                | "Input" | "Output" -> x, inShape
                | "Flatten" -> x, [| n |]
                | "Affine" | "Linear" ->
                    let w = field node "weight" [||]
                    let rows = w.Length / max 1 n
                    let b = if node.Type = "Affine" then field node "bias" (Array.zeroCreate rows) else Array.zeroCreate rows
                    Array.init rows (fun r -> b.[if b.Length = 1 then 0 else r] + Array.fold2 (fun acc wi xi -> acc + wi * xi) 0.0 w.[r * n .. r * n + n - 1] x), [| rows |]
                | "Conv2d" -> conv2d name node inShape x
                | "SumPool2d" | "AvgPool2d" -> pool2d name node inShape x
                | "Scale" -> let s = per "scale" 1.0 in Array.init n (fun i -> s i * x.[i]), inShape
                | "Threshold" -> let th = per "threshold" 0.0 in Array.init n (fun i -> if x.[i] > th i then 1.0 else 0.0), inShape
                | "LIF" | "LI" | "IF" | "I" | "CubaLIF" | "CubaLI" ->
                    let current, v = memory ()
                    let spiking = node.Type = "LIF" || node.Type = "IF" || node.Type = "CubaLIF"
                    let r, vLeak, vTh, vReset = per "r" 1.0, per "v_leak" 0.0, per "v_threshold" 1.0, per "v_reset" 0.0
                    let out = Array.zeroCreate n
                    for i in 0 .. n - 1 do
                        let drive =
                            match node.Type with
                            | "CubaLIF" | "CubaLI" ->
                                let tauSyn, wIn = per "tau_syn" 1.0, per "w_in" 1.0
                                current.[i] <- current.[i] + dt / tauSyn i * (-current.[i] + wIn i * x.[i])
                                current.[i]
                            | _ -> x.[i]
                        let leaky (tau: float) =
                            if Double.IsPositiveInfinity tau then v.[i] + inputGain dt tau (r i) * drive
                            else v.[i] + dt / tau * (vLeak i - v.[i] + r i * drive)
                        v.[i] <-
                            match node.Type with
                            | "IF" | "I" -> v.[i] + dt * r i * drive
                            | "CubaLIF" | "CubaLI" -> leaky ((per "tau_mem" 1.0) i)
                            | _ -> leaky ((per "tau" 1.0) i)
                        if spiking && v.[i] > vTh i then
                            out.[i] <- 1.0
                            v.[i] <- vReset i
                        elif not spiking then out.[i] <- v.[i]
                    voltage <- Array.copy v
                    out, inShape
                | other -> refuseNode name $"{other} nodes are not supported by the float simulation"
            outputs.[name] <- y
            shapes.[name] <- shape
            let o, vv = traces.[name]
            o.Add y
            vv.Add voltage
    traces |> Seq.map (fun kv -> kv.Key, { Output = (fst kv.Value).ToArray (); Voltage = (snd kv.Value).ToArray () }) |> Map.ofSeq
