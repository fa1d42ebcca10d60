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
            // Time constants divide dt (dt/τ): 0, negative, infinite or NaN values would silently give nonsense.
            for name in [ "tau"; "tau_mem"; "tau_syn" ] do
                match fields.TryFind name with
                | Some { Values = Strings _ } -> invalid file $"{key}/{name}" "a time constant must be numeric"
                | Some d ->
                    d.Values.AsFloats |> Array.iteri (fun i v ->
                        if not (v > 0.0 && Double.IsFinite v) then invalid file $"{key}/{name}[{i}]" $"{v} is not a time constant (a finite number of seconds > 0)")
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

/// Per-node traces of a simulation: Output.[t] the node's output, Voltage.[t] its membrane voltage (neurons only).
type Trace =
    { /// The node's output at every step.
      Output: float[][]
      /// The membrane voltage at every step (after a spike's reset); empty for non-neuron nodes.
      Voltage: float[][] }

/// Simulates a flat graph for `steps` steps of `dt` seconds, feeding `input.[t]` to every Input node.
///
/// Discretisation: forward Euler with the input of the same step, as Norse and snnTorch run NIR graphs:
///   LIF      v <- v + dt/tau (v_leak - v + r x);  s = v > v_threshold;  v <- v_reset where s (0 when absent)
///   CubaLIF  I <- I + dt/tau_syn (-I + w_in x);  v <- v + dt/tau_mem (v_leak - v + r I);  spike and reset as LIF
///   LI, CubaLI  the same without spiking (output v);  IF  v <- v + dt r x, spike and reset;  I  v <- v + dt r x
///   Affine  W x + b;  Linear  W x;  Scale  s x;  Flatten  x;  Threshold  x > threshold
/// Nodes run in topological order within a step, so a chain has no latency; inputs of a node are summed.
/// Conv, pooling and Delay nodes are refused here (ArgumentException naming the node); subgraphs too.
let simulate (graph: Graph) (dt: float) (steps: int) (input: float[][]) : Map<string, Trace> =
    if not (dt > 0.0 && Double.IsFinite dt) then invalidArg "dt" $"must be a finite number of seconds > 0, got {dt}"
    if input.Length < steps then invalidArg "input" $"has {input.Length} steps for a run of {steps}"
    let names = graph.Nodes |> Map.toList |> List.map fst
    let sources name = graph.Edges |> Array.filter (fun (_, b) -> b = name) |> Array.map fst
    // Kahn's algorithm for a topological order; a cycle is refused.
    let order =
        let indegree = names |> List.map (fun n -> n, (sources n).Length) |> dict |> Collections.Generic.Dictionary
        let ready = Collections.Generic.Queue (names |> List.filter (fun n -> indegree.[n] = 0))
        let result = ResizeArray ()
        while ready.Count > 0 do
            let n = ready.Dequeue ()
            result.Add n
            for (a, b) in graph.Edges do
                if a = n && indegree.ContainsKey b then
                    indegree.[b] <- indegree.[b] - 1
                    if indegree.[b] = 0 then ready.Enqueue b
        if result.Count <> names.Length then invalidArg "graph" "has a cycle; the float simulation handles feed-forward graphs only"
        result.ToArray ()
    let state = Collections.Generic.Dictionary<string, float[] * float[]> ()
    let outputs = Collections.Generic.Dictionary<string, float[]> ()
    let traces = names |> List.map (fun n -> n, (ResizeArray<float[]> (), ResizeArray<float[]> ())) |> dict
    for t in 0 .. steps - 1 do
        outputs.Clear ()
        for name in order do
            let node = graph.Nodes.[name]
            let x =
                let srcs = sources name
                if node.Type = "Input" then input.[t]
                elif srcs.Length = 0 then [||]
                else
                    let parts = srcs |> Array.map (fun s -> outputs.[s])
                    Array.init parts.[0].Length (fun i -> parts |> Array.sumBy (fun p -> p.[i]))
            let n = x.Length
            let per name' fallback = let v = field node name' [| fallback |] in fun i -> if v.Length = 1 then v.[0] else v.[i]
            let memory () =
                match state.TryGetValue name with
                | true, s -> s
                | _ ->
                    let s = Array.zeroCreate n, Array.zeroCreate n
                    state.[name] <- s
                    s
            let mutable voltage = [||]
            let y =
                match node.Type with
                | "Input" | "Output" | "Flatten" -> x
                | "Affine" | "Linear" ->
                    let w = field node "weight" [||]
                    let rows = w.Length / max 1 n
                    let b = if node.Type = "Affine" then field node "bias" (Array.zeroCreate rows) else Array.zeroCreate rows
                    Array.init rows (fun r -> b.[if b.Length = 1 then 0 else r] + Array.fold2 (fun acc wi xi -> acc + wi * xi) 0.0 w.[r * n .. r * n + n - 1] x)
                | "Scale" -> let s = per "scale" 1.0 in Array.init n (fun i -> s i * x.[i])
                | "Threshold" -> let th = per "threshold" 0.0 in Array.init n (fun i -> if x.[i] > th i then 1.0 else 0.0)
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
                        v.[i] <-
                            match node.Type with
                            | "IF" | "I" -> v.[i] + dt * r i * drive
                            | "CubaLIF" | "CubaLI" -> v.[i] + dt / (per "tau_mem" 1.0) i * (vLeak i - v.[i] + r i * drive)
                            | _ -> v.[i] + dt / (per "tau" 1.0) i * (vLeak i - v.[i] + r i * drive)
                        if spiking && v.[i] > vTh i then
                            out.[i] <- 1.0
                            v.[i] <- vReset i
                        elif not spiking then out.[i] <- v.[i]
                    voltage <- Array.copy v
                    out
                | other -> invalidArg "graph" $"node '{name}' of type {other} is not supported by the float simulation"
            outputs.[name] <- y
            let o, vv = traces.[name]
            o.Add y
            vv.Add voltage
    traces |> Seq.map (fun kv -> kv.Key, { Output = (fst kv.Value).ToArray (); Voltage = (snd kv.Value).ToArray () }) |> Map.ofSeq
