/// PyTorch `state_dict` files (what `torch.save(model.state_dict(), path)` writes: a zip archive holding a pickled
/// dictionary from parameter name to tensor, read and written by TorchSharp.PyBridge) loaded into Snn networks,
/// with the names of the Python peers mapped onto Snn's. A peer and Snn name the same layer differently
/// (snnTorch's `fc1.weight` is Snn's `fc1.inner.weight`, a SpikingJelly `nn.Sequential` says `0.weight`), so names
/// are matched in three steps:
///   1. every Snn key present in the file: loaded by name;
///   2. otherwise by layer, in order: both sides are grouped by layer (the name up to its last dot), layers holding
///      only single values (snnTorch's `beta` / `threshold` buffers, a PLIF or PCuLIF time constant) are set aside
///      as neuron constants, and the remaining layers are paired in order and must agree in their tensor names
///      (weight, bias, running_mean, ...) and shapes;
///   3. an explicit map (peer name → Snn name) given by the caller overrides both (when it takes every tensor of
///      the file, the network's other tensors keep their values).
/// A mismatch raises one line naming the file, the keys and both shapes.
[<RequireQualifiedAccess>]
module Snn.Modules.PyTorchStateDict

open System
open System.IO
open TorchSharp
open Snn.Tensors

/// What a load did.
type LoadReport =
    { /// (file key, Snn key) of every tensor loaded, in the Snn order.
      Loaded: (string * string)[]
      /// File keys that were not loaded (e.g. snnTorch's neuron constants beta and threshold).
      Ignored: string[] }

let private shapeText (t: Tensor) = "[" + (t.shape |> Array.map string |> String.concat ", ") + "]"

/// The order in which the pickle `data.pkl` of a torch.save archive names `keys`: each key is written once, as a
/// pickle string (opcode SHORT_BINUNICODE 0x8c with a 1-byte length, or BINUNICODE 0x58 with a 4-byte little-endian
/// length) where its entry is inserted, so the position of that string orders the entries as the module
/// registered them. Keys not found keep their relative order at the end.
let private pickleOrder (path: string) (keys: string[]) : string[] =
    use zip = new IO.Compression.ZipArchive (File.OpenRead path, IO.Compression.ZipArchiveMode.Read)
    match zip.Entries |> Seq.tryFind (fun e -> e.FullName.EndsWith "data.pkl") with
    | None -> keys
    | Some entry ->
        use stream = entry.Open ()
        use memory = new MemoryStream ()
        stream.CopyTo memory
        let pickle = memory.ToArray ()
        let positionOf (key: string) =
            let text = Text.Encoding.UTF8.GetBytes key
            let patterns =
                [ if text.Length < 256 then yield Array.append [| 0x8cuy; byte text.Length |] text
                  yield Array.concat [ [| 0x58uy |]; BitConverter.GetBytes (uint32 text.Length); text ] ]
            patterns |> List.map (fun p -> pickle.AsSpan().IndexOf (ReadOnlySpan p)) |> List.filter (fun i -> i >= 0)
            |> function [] -> Int32.MaxValue | found -> List.min found
        keys |> Array.mapi (fun i k -> k, (positionOf k, i)) |> Array.sortBy snd |> Array.map fst

/// The tensors of a `torch.save`d state dict in the file's order (the module's registration order). Raises
/// InvalidDataException naming the file when it is not such an archive or holds something other than tensors.
let read (path: string) : (string * Tensor)[] =
    if isNull path then nullArg "path"
    if not (File.Exists path) then raise (FileNotFoundException ($"{path}: no such file", path))
    let notAnArchive (e: exn) = InvalidDataException ($"{path}: not a PyTorch state_dict archive as torch.save writes it ({e.Message})", e)
    let table =
        try
            use stream = File.OpenRead path
            TorchSharp.PyBridge.PyTorchUnpickler.UnpickleStateDict (stream, false)
        with
        | :? NotImplementedException | :? NotSupportedException | :? InvalidOperationException | :? ArgumentException
        | :? InvalidDataException | :? EndOfStreamException as e -> raise (notAnArchive e)
    let entries =
        [| for entry in table |> Seq.cast<Collections.DictionaryEntry> ->
            match entry.Key, entry.Value with
            | (:? string as key), (:? Tensor as t) -> key, t
            | key, value ->
                let kind = if isNull value then "null" else value.GetType().Name
                raise (InvalidDataException ($"{path}: entry '{key}' is a {kind}, not a tensor")) |]
    // The unpickled table forgets the order; the pickle itself keeps it.
    let byKey = dict entries
    pickleOrder path (entries |> Array.map fst |> Array.sort) |> Array.map (fun k -> k, byKey.[k])

/// Writes tensors as a state dict `torch.load` reads (keys in the given order).
let write (path: string) (entries: (string * Tensor)[]) : unit =
    if isNull path then nullArg "path"
    if isNull entries then nullArg "entries"
    let table = Collections.Generic.Dictionary<string, Tensor> ()
    for key, t in entries do
        if table.ContainsKey key then invalidArg "entries" $"holds key '{key}' twice"
        table.[key] <- t
    use stream = File.Create path
    TorchSharp.PyBridge.PyTorchPickler.PickleStateDict (stream, table, false)

let private layerOf (key: string) = match key.LastIndexOf '.' with -1 -> "" | i -> key.Substring (0, i)
let private nameOf (key: string) = match key.LastIndexOf '.' with -1 -> key | i -> key.Substring (i + 1)

/// Groups keys by layer in first-seen order, leaving out layers whose tensors are all single values.
let private layers (entries: (string * Tensor)[]) : (string * (string * Tensor)[])[] =
    entries
    |> Array.groupBy (fst >> layerOf)
    |> Array.filter (fun (_, members) -> members |> Array.exists (fun (_, t) -> t.numel () > 1L))

/// The (file key, Snn key) pairs that load `file` into a model whose state dict is `model` (see the module
/// comment); `explicitMap` (file key → Snn key) takes precedence. Raises ArgumentException naming the keys and
/// shapes when the two cannot be paired.
let mapKeys (source: string) (file: (string * Tensor)[]) (model: (string * Tensor)[]) (explicitMap: Map<string, string>) : (string * string)[] =
    let fileKeys = dict file
    let modelKeys = dict model
    for KeyValue (f, s) in explicitMap do
        if not (fileKeys.ContainsKey f) then invalidArg "keyMap" $"{source}: maps '{f}', which the file does not hold"
        if not (modelKeys.ContainsKey s) then invalidArg "keyMap" $"maps '{f}' onto '{s}', which the network does not have"
    let mapped = explicitMap |> Seq.map (fun (KeyValue (_, s)) -> s) |> Set.ofSeq
    let rest = model |> Array.filter (fun (k, _) -> not (mapped.Contains k))
    let restFile = file |> Array.filter (fun (k, _) -> not (explicitMap.ContainsKey k))
    let pairs =
        if rest |> Array.forall (fun (k, _) -> fileKeys.ContainsKey k) then rest |> Array.map (fun (k, _) -> k, k)
        // An explicit map that takes every tensor of the file leaves the network's other tensors as they are.
        elif not explicitMap.IsEmpty && restFile.Length = 0 then [||]
        else
            let fileLayers, modelLayers = layers restFile, layers rest
            if fileLayers.Length <> modelLayers.Length then
                let top = "(top)"
                let names (ls: (string * _)[]) = ls |> Array.map (fun (l, _) -> if l = "" then top else l) |> String.concat ", "
                invalidArg "path" $"{source}: holds {fileLayers.Length} layers with weights ({names fileLayers}) but the network has {modelLayers.Length} ({names modelLayers}); pass a key map"
            Array.zip fileLayers modelLayers
            |> Array.collect (fun ((fl, fMembers), (ml, mMembers)) ->
                let fByName = fMembers |> Array.map (fun (k, t) -> nameOf k, (k, t)) |> dict
                mMembers |> Array.map (fun (mk, _) ->
                    match fByName.TryGetValue (nameOf mk) with
                    | true, (fk, _) -> fk, mk
                    | _ ->
                        let held = fMembers |> Array.map fst |> String.concat ", "
                        invalidArg "path" $"{source}: the network's '{mk}' has no counterpart in file layer '{fl}' (it holds {held}); pass a key map"))
    let all = Array.append (explicitMap |> Seq.map (fun (KeyValue (f, s)) -> f, s) |> Array.ofSeq) pairs
    for f, s in all do
        let ft, st = fileKeys.[f], modelKeys.[s]
        if ft.shape <> st.shape then
            invalidArg "path" $"{source}: '{f}' has shape {shapeText ft} but the network's '{s}' has shape {shapeText st}"
    all

/// Loads the state dict file `path` into `model` (see the module comment) and says what was loaded and ignored.
/// The model's tensors keep their dtype and device; nothing is written unless every pair fits.
let load (model: torch.nn.Module) (path: string) (keyMap: Map<string, string>) : LoadReport =
    if isNull (box model) then nullArg "model"
    let file = read path
    try
        let state = [| for KeyValue (k, t) in model.state_dict () -> k, t |]
        let pairs = mapKeys path file state keyMap
        let target = dict state
        use _ = torch.no_grad ()
        for f, s in pairs do
            let source = file |> Array.find (fst >> (=) f) |> snd
            target.[s].copy_ (source.``to`` (target.[s].dtype, target.[s].device)) |> ignore
        let used = pairs |> Array.map fst |> Set.ofArray
        let order = state |> Array.map fst |> Array.mapi (fun i k -> k, i) |> dict
        { Loaded = pairs |> Array.sortBy (fun (_, s) -> order.[s])
          Ignored = file |> Array.map fst |> Array.filter (used.Contains >> not) }
    finally
        for _, t in file do t.Dispose ()
