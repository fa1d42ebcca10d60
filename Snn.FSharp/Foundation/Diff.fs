/// DiffSharp-style differentiation over TorchSharp autograd.
///
/// Functions take a function `f : Tensor -> Tensor` and a point `x`; names prefixed with `f` return the value
/// together with the derivative, as in DiffSharp (`fgrad f x = (f x, ∇f(x))`).
///
/// - `grad f x`     = ∇f(x) for scalar f
/// - `vjp f x v`    = vᵀ J_f(x)  (reverse mode)
/// - `jvp f x v`    = J_f(x) v   (forward mode by the double-vjp trick: g(u) = J_fᵀ u is linear in u, so
///                     ∂/∂u ⟨g(u), v⟩ = J_f v)
/// - `hvp f x v`    = ∇²f(x) v   (reverse-over-reverse: ∂/∂x ⟨∇f(x), v⟩)
///
/// Nesting: inside another `Diff` operation (or when `x` itself requires grad) the derivative is built with
/// `create_graph`, so it can be differentiated again, e.g. `grad (fun x -> (grad f x).sum()) x`. Each operation
/// differentiates with respect to its own view of `x`, so nested derivatives do not confuse perturbations.
///
/// Guards: libtorch terminates the whole process on some autograd misuse (a second backward through a freed graph);
/// every precondition is checked here first and violated ones raise ArgumentException / InvalidOperationException.
///
/// Ownership: results are fresh tensors; inputs are never disposed.
module Snn.Diff

open System
open System.Runtime.CompilerServices
open System.Threading
open TorchSharp
open Snn.Tensors

/// How many Diff operations are evaluating their function on this thread (for nesting).
let private depth = new ThreadLocal<int>(fun () -> 0)

/// Scalar outputs whose graph was freed by a gradient computation without retain_graph.
let private freed = ConditionalWeakTable<Tensor, obj>()

/// An undefined gradient (the output does not depend on that input): a null tensor or one with an empty handle.
let private isUndefined (t: Tensor) = isNull (box t) || t.IsInvalid

let private checkDifferentiable (name: string) (output: Tensor) =
    if isNull (box output) then nullArg name
    if not output.requires_grad then
        invalidArg name "the output does not depend on any tensor that requires grad, so it has no derivative"
    match freed.TryGetValue output with
    | true, _ ->
        raise (InvalidOperationException(
            $"'{name}': the graph of this output was already freed by an earlier gradient computation; "
            + "pass retainGraph = true to the first one to differentiate it twice"))
    | _ -> ()

let private checkScalar (name: string) (output: Tensor) =
    if output.numel () <> 1L then
        invalidArg name $"must be a scalar (one element) to take its gradient, but has shape %A{output.shape}"

let private checkSameShape (name: string) (expected: Tensor) (actual: Tensor) =
    if isNull (box actual) then nullArg name
    if expected.shape <> actual.shape then
        invalidArg name $"must have the shape %A{expected.shape}, but has shape %A{actual.shape}"

/// Exceptions raised inside autograd callbacks that libtorch runs (the backward of a custom autograd function). An
/// exception must not unwind through libtorch's native frames: that terminates the process. The callback catches
/// it, stashes it here and returns undefined (zero) gradients; `gradients` and `backward` rethrow it as soon as
/// libtorch has returned.
module CallbackErrors =
    let private pending = Collections.Concurrent.ConcurrentQueue<exn> ()

    /// Runs the body of a backward callback of the autograd node `name` with `count` inputs; an exception is stashed
    /// and `count` undefined gradients are returned instead.
    let guard (name: string) (count: int) (body: unit -> Collections.Generic.List<Tensor>) : Collections.Generic.List<Tensor> =
        try body ()
        with e ->
            let first = (if isNull e.Message then "" else e.Message).Split('\n').[0].Trim ()
            pending.Enqueue (InvalidOperationException ($"the backward pass of {name} failed: {first}", e))
            Collections.Generic.List<Tensor> (Seq.replicate count (null: Tensor))

    /// Rethrows the first exception stashed by a callback since the last call (dropping any later ones).
    let rethrow () : unit =
        match pending.TryDequeue () with
        | true, e ->
            pending.Clear ()
            raise e
        | _ -> ()

/// Gradients of `outputs` with respect to `inputs`, weighted by `gradOutputs` (vector-Jacobian product), with all
/// preconditions checked. Inputs that the outputs do not depend on get zero gradients.
/// `retainGraph` keeps the graph for another pass; `createGraph` makes the result differentiable.
let gradients (outputs: Tensor[]) (gradOutputs: Tensor[] option) (inputs: Tensor[])
              (retainGraph: bool) (createGraph: bool) : Tensor[] =
    if isNull outputs || outputs.Length = 0 then invalidArg "outputs" "at least one output is needed"
    if isNull inputs || inputs.Length = 0 then invalidArg "inputs" "at least one input is needed"
    outputs |> Array.iteri (fun i o -> checkDifferentiable $"outputs[{i}]" o)
    inputs |> Array.iteri (fun i x ->
        if isNull (box x) then nullArg $"inputs[{i}]"
        if not x.requires_grad then invalidArg $"inputs[{i}]" "does not require grad; nothing can be differentiated with respect to it")
    match gradOutputs with
    | None -> outputs |> Array.iteri (fun i o -> checkScalar $"outputs[{i}]" o)
    | Some gs ->
        if gs.Length <> outputs.Length then
            invalidArg "gradOutputs" $"has {gs.Length} tensors for {outputs.Length} outputs"
        Array.iteri2 (fun i o g -> checkSameShape $"gradOutputs[{i}]" o g) outputs gs
    let retain = retainGraph || createGraph
    let result =
        torch.autograd.grad (outputs, inputs, (match gradOutputs with Some gs -> gs | None -> null),
                             retain_graph = retain, create_graph = createGraph, allow_unused = true)
    if not retain then
        for o in outputs do freed.AddOrUpdate (o, null)
    CallbackErrors.rethrow ()
    result
    |> Seq.mapi (fun i g -> if isUndefined g then torch.zeros_like inputs.[i] else g)
    |> Seq.toArray

/// Runs `loss.backward()` after checking that it is a scalar with a live graph (see the module guards).
let backward (loss: Tensor) : unit =
    checkDifferentiable "loss" loss
    checkScalar "loss" loss
    FunctionHandles.runFreeingGraph (fun () -> loss.backward ())
    FunctionHandles.release ()
    freed.AddOrUpdate (loss, null)
    CallbackErrors.rethrow ()

/// The input each operation differentiates against: a fresh leaf, or, when x is itself being differentiated by
/// an outer operation, a distinct view of x that keeps the link (avoids perturbation confusion).
let private entry (x: Tensor) : Tensor =
    if isNull (box x) then nullArg "x"
    if x.requires_grad then x.view_as x else x.detach().requires_grad_ true

let private nestedOrTracked (x: Tensor) = depth.Value > 0 || x.requires_grad

let private evaluate (f: Tensor -> Tensor) (x: Tensor) : Tensor =
    depth.Value <- depth.Value + 1
    try
        let y = f x
        if isNull (box y) then invalidOp "the differentiated function returned null"
        y
    finally
        depth.Value <- depth.Value - 1

let private valueOut (createGraph: bool) (y: Tensor) = if createGraph then y else y.detach ()

let private requireDependence (y: Tensor) =
    if not y.requires_grad then
        invalidArg "f" "the function's result does not depend on its argument, so it has no derivative"

/// Value and gradient of a scalar function: (f x, ∇f(x)).
let fgrad (f: Tensor -> Tensor) (x: Tensor) : Tensor * Tensor =
    let createGraph = nestedOrTracked x
    let xi = entry x
    let y = evaluate f xi
    checkScalar "f" y
    if not y.requires_grad then y, torch.zeros_like x
    else
        let g = gradients [| y |] None [| xi |] false createGraph
        valueOut createGraph y, g.[0]

/// Gradient ∇f(x) of a scalar function.
let grad (f: Tensor -> Tensor) (x: Tensor) : Tensor = snd (fgrad f x)

/// Value and vector-Jacobian product: (f x, vᵀ J_f(x)); v has the shape of f x.
let fvjp (f: Tensor -> Tensor) (x: Tensor) (v: Tensor) : Tensor * Tensor =
    let createGraph = nestedOrTracked x
    let xi = entry x
    let y = evaluate f xi
    checkSameShape "v" y v
    if not y.requires_grad then y, torch.zeros_like x
    else
        let g = gradients [| y |] (Some [| v |]) [| xi |] false createGraph
        valueOut createGraph y, g.[0]

/// Vector-Jacobian product vᵀ J_f(x).
let vjp (f: Tensor -> Tensor) (x: Tensor) (v: Tensor) : Tensor = snd (fvjp f x v)

/// Value and Jacobian-vector product: (f x, J_f(x) v); v has the shape of x. Computed as the derivative of the
/// (linear) vector-Jacobian product u ↦ uᵀ J_f(x) with respect to u, in direction v.
let fjvp (f: Tensor -> Tensor) (x: Tensor) (v: Tensor) : Tensor * Tensor =
    let createGraph = nestedOrTracked x
    let xi = entry x
    checkSameShape "v" xi v
    let y = evaluate f xi
    if not y.requires_grad then y, torch.zeros_like y
    else
        let u = torch.zeros_like(y).requires_grad_ true
        let g = gradients [| y |] (Some [| u |]) [| xi |] true true
        let jv =
            if g.[0].requires_grad then (gradients [| g.[0] |] (Some [| v |]) [| u |] false createGraph).[0]
            else torch.zeros_like y
        valueOut createGraph y, jv

/// Jacobian-vector product J_f(x) v.
let jvp (f: Tensor -> Tensor) (x: Tensor) (v: Tensor) : Tensor = snd (fjvp f x v)

/// Value and Hessian-vector product of a scalar function: (f x, ∇²f(x) v); v has the shape of x.
let fhvp (f: Tensor -> Tensor) (x: Tensor) (v: Tensor) : Tensor * Tensor =
    let createGraph = nestedOrTracked x
    let xi = entry x
    checkSameShape "v" xi v
    let y = evaluate f xi
    checkScalar "f" y
    if not y.requires_grad then y, torch.zeros_like x
    else
        let g = gradients [| y |] None [| xi |] true true
        let hv =
            if g.[0].requires_grad then (gradients [| g.[0] |] (Some [| v |]) [| xi |] false createGraph).[0]
            else torch.zeros_like x
        valueOut createGraph y, hv

/// Hessian-vector product ∇²f(x) v of a scalar function.
let hvp (f: Tensor -> Tensor) (x: Tensor) (v: Tensor) : Tensor = snd (fhvp f x v)

/// (∂²L/∂θ∂θ) v from the gradients g = ∂L/∂θ built with create_graph (so it can be called repeatedly, e.g. for
/// the terms of a Neumann series): the vector-Jacobian product of g with v, ∂⟨g, v⟩/∂θ. Components whose gradient
/// is constant in θ contribute zero. The graph is kept.
let hvpOfGradients (firstGradients: Tensor[]) (parameters: Tensor[]) (v: Tensor[]) : Tensor[] =
    if isNull v || v.Length <> parameters.Length then invalidArg "v" "needs one tensor per parameter"
    if isNull firstGradients || firstGradients.Length <> parameters.Length then invalidArg "gradients" "needs one gradient per parameter"
    Array.iteri2 (fun i p d -> checkSameShape $"v[{i}]" p d) parameters v
    let live = firstGradients |> Array.mapi (fun i gi -> i, gi) |> Array.filter (fun (_, gi: Tensor) -> gi.requires_grad)
    if live.Length = 0 then parameters |> Array.map torch.zeros_like
    else gradients (Array.map snd live) (Some (live |> Array.map (fun (i, _) -> v.[i]))) parameters true false

/// Hessian-vector products of a scalar `loss` with respect to several parameter tensors at once:
/// (∂²L/∂θ∂θ) v, with v given per parameter. The loss graph is kept (it is typically reused, e.g. for the
/// Neumann series of an implicit hypergradient).
let hvpOf (loss: Tensor) (parameters: Tensor[]) (v: Tensor[]) : Tensor[] =
    if isNull v || v.Length <> parameters.Length then
        invalidArg "v" "needs one tensor per parameter"
    Array.iteri2 (fun i p d -> checkSameShape $"v[{i}]" p d) parameters v
    hvpOfGradients (gradients [| loss |] None parameters true true) parameters v
