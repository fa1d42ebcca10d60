/// Small helpers that wrap TorchSharp's F# warts once (scalars, dtype conversions, backticked names),
/// so the rest of the core reads like the mathematics.
module Snn.Tensors

open TorchSharp

type Tensor = torch.Tensor

/// The value of a one-element tensor as a float.
let toFloat (t: Tensor) : float = t.ToDouble()

/// The value of a one-element tensor as a float32.
let toFloat32 (t: Tensor) : float32 = t.ToSingle()

/// A float32 scalar tensor.
let scalar (value: float32) : Tensor = torch.tensor (value)

/// A float32 tensor with the given values, shaped as given.
let ofArray (shape: int64[]) (values: float32[]) : Tensor = torch.tensor(values).reshape (shape)

/// Whether t is a contiguous float32 tensor in CPU memory: what the fused kernels read through raw addresses.
let isCpuFloat32Contiguous (t: Tensor) : bool = t.dtype = torch.float32 && t.device_type = DeviceType.CPU && t.is_contiguous ()

/// Whether each of `tensors` is null (an absent parameter) or `isCpuFloat32Contiguous`.
let contiguousCpuFloat32OrNull (tensors: Tensor list) : bool = tensors |> List.forall (fun t -> isNull t || isCpuFloat32Contiguous t)

/// `product a b` with both float32 operands rounded to bfloat16 (8 mantissa bits) and the result back in float32:
/// libtorch's bfloat16 GEMMs and convolutions accumulate in float32, so only the operands lose precision. The
/// operands' copies are freed at once (a layer's activations and gradients are large).
let inBfloat16 (product: Tensor -> Tensor -> Tensor) (a: Tensor) (b: Tensor) : Tensor =
    use a16 = a.``to`` torch.bfloat16
    use b16 = b.``to`` torch.bfloat16
    use result = product a16 b16
    result.``to`` torch.float32

/// The values of a tensor, flattened in row-major order, as float32.
let toArray (t: Tensor) : float32[] =
    use flat = t.detach().reshape(-1L).``to``(torch.float32).cpu ()
    flat.data<float32>().ToArray ()

/// The values of a tensor, flattened in row-major order, as float (float64).
let toFloat64Array (t: Tensor) : float[] =
    use flat = t.detach().reshape(-1L).``to``(torch.float64).cpu ()
    flat.data<float>().ToArray ()

/// The values of a tensor as int64, flattened in row-major order.
let toInt64Array (t: Tensor) : int64[] =
    use flat = t.detach().reshape(-1L).``to``(torch.int64).cpu ()
    flat.data<int64>().ToArray ()

/// The shape of a tensor as an array.
let shape (t: Tensor) : int64[] = t.shape

/// The device of a module's parameters (the CPU for a module without any): where its inputs and the tensors it
/// creates belong.
let deviceOf (m: torch.nn.Module) : torch.Device =
    m.parameters () |> Seq.tryHead |> Option.map (fun p -> p.device) |> Option.defaultValue torch.CPU

/// `t` on `device`: `t` itself when it is already there, otherwise a copy.
let onDevice (device: torch.Device) (t: Tensor) : Tensor =
    if t.device_type = device.``type`` && t.device_index = device.index then t else t.``to`` device

/// Whether the elements of `t` can be read. A tensor on the `meta` device has a shape and a dtype but no storage,
/// so checks of its values (NaN, ranges, label indices) have nothing to check and are skipped.
let holdsValues (t: Tensor) : bool = t.device_type <> DeviceType.META

/// A device named on a command line or in a configuration ("cpu", "cuda", "cuda:1"), or why it cannot be used here.
let parseDevice (name: string) : Result<torch.Device, string> =
    match (if isNull name then "" else name.Trim().ToLowerInvariant ()) with
    | "cpu" -> Ok torch.CPU
    | cuda when cuda = "cuda" || cuda.StartsWith "cuda:" ->
        if not (torch.cuda.is_available ()) then Error $"'{name}': CUDA is not available (this libtorch has no CUDA support or no GPU was found)"
        else
            try Ok (torch.device cuda) with e -> Error $"'{name}': {e.Message}"
    | _ -> Error $"'{name}' is neither cpu nor cuda[:index]"

/// Disposes the handle of an intermediate tensor that the next operation has consumed, unless that operation
/// returned the very same handle. A handle only holds a reference: autograd keeps whatever it saved, views keep
/// their storage, and the memory goes back to the allocator as soon as nothing else needs it, instead of when the
/// training step's dispose scope ends. `input` must not be the caller's own tensor.
let releaseConsumed (input: Tensor) (output: Tensor) : unit =
    if not (obj.ReferenceEquals (input, output)) then input.Dispose ()

/// The handles that a custom autograd function (`torch.autograd.Function`) gives TorchSharp and no longer needs once
/// TorchSharp has handed them to libtorch: its outputs and the tensors it saves (read when `apply` returns) and the
/// gradients its backward pass returns (read when the callback returns).
///
/// Why: TorchSharp registers every handle created on a thread in that thread's dispose scope, the backward pass's
/// included, so without this an activation or a gradient that libtorch has released stays alive until the
/// training step's scope ends. In W2 that kept each block's spikes, BatchNorm outputs and gradients (75 MB each in
/// the first block) alive through the whole backward pass (bench/RESULTS.md, round 8).
[<RequireQualifiedAccess>]
module FunctionHandles =
    let private pending = new System.Threading.ThreadLocal<ResizeArray<Tensor>> (fun () -> ResizeArray ())

    /// Marks handles to dispose at the next `release` on this thread.
    let releaseLater (handles: Tensor list) : unit =
        for t in handles do
            if not (isNull (box t)) then pending.Value.Add t

    // TorchSharp 0.107's node keeps, for each output, an uninitialised tensor of the output's size
    // (`Node<T>._outputCache`, reached through `AutogradContext._node`) only to shape the zeros it passes to backward
    // when an output's gradient is undefined: a second full-size block per output for as long as the node lives.
    let private flags = System.Reflection.BindingFlags.NonPublic ||| System.Reflection.BindingFlags.Instance
    let private nodeField = typeof<torch.autograd.AutogradContext>.GetField ("_node", flags)

    /// Whether this TorchSharp has the output cache that `shrinkOutputCache` replaces (a test checks it, so a
    /// TorchSharp update that changes it fails there, not in users' processes).
    let canShrinkOutputCache : bool =
        not (isNull nodeField)
        && (match typeof<torch.autograd.AutogradContext>.Assembly.GetType "TorchSharp.torch+autograd+Node`1" with
            | null -> false
            | node -> not (isNull (node.GetField ("_outputCache", flags))))

    let private contexts = new System.Threading.ThreadLocal<ResizeArray<torch.autograd.AutogradContext>> (fun () -> ResizeArray ())

    /// Asks `release` to replace the output cache of the node that `ctx` belongs to (filled when `apply` returns) by
    /// one-element tensors expanded to the outputs' shapes: the zeros TorchSharp makes from them are the same, and
    /// the full-size blocks go back to the allocator at once.
    let shrinkOutputCache (ctx: torch.autograd.AutogradContext) : unit =
        if canShrinkOutputCache then contexts.Value.Add ctx

    let private shrink (ctx: torch.autograd.AutogradContext) =
        match nodeField.GetValue ctx with
        | null -> ()
        | node ->
            match node.GetType().GetField ("_outputCache", flags) with
            | null -> ()
            | field ->
                match field.GetValue node with
                | :? System.Collections.Generic.List<Tensor> as cache ->
                    for i in 0 .. cache.Count - 1 do
                        let t = cache.[i]
                        if not (isNull (box t)) && not t.IsInvalid && t.numel () > 1L then
                            use one = torch.empty ([| 1L |], dtype = t.dtype, device = t.device)
                            // Owned by the node (which disposes its cache), not by the caller's dispose scope.
                            cache.[i] <- one.expand(t.shape).DetachFromDisposeScope ()
                            t.Dispose ()
                | _ -> ()

    /// Disposes the handles marked on this thread and shrinks the output caches asked for. Call it after a
    /// function's `apply` returns, at the start of a backward callback and after a backward pass.
    let release () : unit =
        let marked = pending.Value
        if marked.Count > 0 then
            for t in marked do t.Dispose ()
            marked.Clear ()
        let asked = contexts.Value
        if asked.Count > 0 then
            for ctx in asked do shrink ctx
            asked.Clear ()

    let private freeingGraph = new System.Threading.ThreadLocal<bool> (fun () -> false)

    /// Runs a backward pass that frees its graph (no retain_graph): while it runs, `freesGraph` is true on this
    /// thread, so functions may free what they kept for it as soon as they have used it.
    let runFreeingGraph (pass: unit -> unit) : unit =
        freeingGraph.Value <- true
        try pass () finally freeingGraph.Value <- false

    /// Whether the backward pass running on this thread frees its graph (see `runFreeingGraph`).
    let freesGraph () : bool = freeingGraph.Value

/// A tensor that a custom autograd function keeps for its backward pass, stored with `ctx.save_data` instead of
/// `save_for_backward`. TorchSharp's saved variables live as long as the function's node, which is until the
/// training step's dispose scope ends; this one is released by the backward pass that uses it when that pass
/// frees the graph (`FunctionHandles.freesGraph`). The tensor stays in the dispose scope it was created in, which
/// releases it when no backward pass does.
[<Sealed; AllowNullLiteral>]
type KeptForBackward(tensor: Tensor) =
    /// The kept tensor (do not dispose it; call `Release`).
    member _.Tensor = tensor
    /// Disposes the tensor if the running backward pass frees the graph (a retained graph may need it again).
    member _.Release () = if FunctionHandles.freesGraph () then tensor.Dispose ()
