/// Hypergradients by implicit differentiation (thesis § 3.4.3; Lorraine, Vicol & Duvenaud 2020; AuxiLearn, Navon et
/// al. 2021).
///
/// Bilevel problem: the weights W minimise an inner (training) loss that depends on hyperparameters φ,
///   W*(φ) = argmin_W L_T(W, φ),
/// and φ is judged by an outer loss on held-out data, L_V(W*(φ), φ). At a stationary point ∂L_T/∂W = 0 the implicit
/// function theorem gives dW*/dφ = −H⁻¹ ∂²L_T/∂W∂φ with H = ∂²L_T/∂W∂W, so
///
///   dL_V/dφ = ∂L_V/∂φ − (∂L_V/∂W) H⁻¹ (∂²L_T/∂W∂φ).
///
/// The row vector p = (∂L_V/∂W) H⁻¹ is approximated without forming H, from Hessian-vector products (double
/// backward through the network, surrogate spikes included):
/// - Neumann series: H⁻¹ = α Σ_{j≥0} (I − αH)ʲ when the spectral radius of I − αH is below 1 (0 < α < 2/λ_max, H
///   positive definite), truncated after J terms: p ≈ α Σ_{j=0}^{J} v (I − αH)ʲ.
/// - Conjugate gradient on (H + λI) p = v (H symmetric; the damping λ ≥ 0 keeps it positive definite).
/// The mixed term p ∂²L_T/∂W∂φ is one more vector-Jacobian product: ∂/∂φ ⟨∂L_T/∂W, p⟩ with p held fixed.
///
/// Parameters are arrays of tensors (the leaves of a module), so the functions apply unchanged to network weights.
[<RequireQualifiedAccess>]
module Snn.Hypergradient

open System
open TorchSharp

type private Tensor = torch.Tensor

/// How the inverse-Hessian-vector product v H⁻¹ is approximated.
type InverseHessian =
    /// Truncated Neumann series α Σ_{j=0}^{terms} v (I − αH)ʲ; `scale` is α (must satisfy α λ_max(H) < 2).
    | Neumann of terms: int * scale: float
    /// Conjugate gradient on (H + damping·I) p = v, stopped after `iterations` or when ‖residual‖ ≤ tolerance·‖v‖.
    | ConjugateGradient of iterations: int * tolerance: float * damping: float

    /// AuxiLearn's setting: 3 Neumann terms with α = 0.1 (thesis § 3.4.3 uses the AuxiLearn procedure).
    ///
    /// Scale: this series returns α Σ_j v (I − αH)ʲ, the estimate of v H⁻¹ itself (exact as J → ∞). AuxiLearn's
    /// `Hypergrad` returns Σ_j v (I − αH)ʲ without the leading α, so its mixed term, and hence its hypergradient
    /// when φ has no direct effect on L_V, is 1/α times Snn's (10× at α = 0.1). Porting AuxiLearn's hyper-learning
    /// rates: with SGD multiply them by 1/α; with Adam (as `Bilevel` uses) a constant scale of the gradient
    /// barely matters. Its `max_grad_norm` clip likewise corresponds to α · max_grad_norm here.
    static member Default = Neumann (3, 0.1)

    /// Raises ArgumentException naming the offending field.
    member m.Validate () =
        match m with
        | Neumann (terms, scale) ->
            if terms < 0 then invalidArg "terms" $"Neumann terms must be ≥ 0, got {terms}"
            if not (scale > 0.0) || Double.IsInfinity scale then invalidArg "scale" $"Neumann scale α must be > 0, got {scale}"
        | ConjugateGradient (iterations, tolerance, damping) ->
            if iterations < 1 then invalidArg "iterations" $"conjugate-gradient iterations must be ≥ 1, got {iterations}"
            if not (tolerance >= 0.0) then invalidArg "tolerance" $"conjugate-gradient tolerance must be ≥ 0, got {tolerance}"
            if not (damping >= 0.0) then invalidArg "damping" $"conjugate-gradient damping must be ≥ 0, got {damping}"

let private checkParameters (name: string) (parameters: Tensor[]) =
    if isNull parameters || parameters.Length = 0 then invalidArg name "needs at least one tensor"
    parameters |> Array.iteri (fun i p ->
        if isNull (box p) then nullArg $"{name}[{i}]"
        if not p.requires_grad then invalidArg $"{name}[{i}]" "does not require grad, so nothing can be differentiated with respect to it")

/// Σ_k ⟨a_k, b_k⟩ over parameter lists, as a double.
let dot (a: Tensor[]) (b: Tensor[]) : float =
    Array.fold2 (fun acc (x: Tensor) (y: Tensor) -> acc + (x * y).sum().ToDouble ()) 0.0 a b

let private axpy (alpha: float) (x: Tensor[]) (y: Tensor[]) = Array.map2 (fun (xi: Tensor) (yi: Tensor) -> yi + xi * alpha) x y

/// Gradients ∂L/∂W that stay differentiable (create_graph), the starting point of Hessian-vector products.
let differentiableGradients (loss: Tensor) (weights: Tensor[]) : Tensor[] =
    checkParameters "weights" weights
    Diff.gradients [| loss |] None weights true true

/// H v for H = ∂²L/∂W∂W, given `gradients` = ∂L/∂W from `differentiableGradients`. The graph is kept, so it can be
/// called repeatedly. Components whose gradient is constant in W contribute zero.
let hessianVector (gradients: Tensor[]) (weights: Tensor[]) (v: Tensor[]) : Tensor[] =
    Diff.hvpOfGradients gradients weights v |> Array.map (fun t -> t.detach ())

/// v H⁻¹ (= H⁻¹ v, H being symmetric) by the chosen approximation, from `gradients` = ∂L_T/∂W built with
/// create_graph. Returns detached tensors shaped like the weights.
let inverseHessianVector (inverse: InverseHessian) (gradients: Tensor[]) (weights: Tensor[]) (v: Tensor[]) : Tensor[] =
    inverse.Validate ()
    if isNull gradients || gradients.Length <> weights.Length then invalidArg "gradients" "needs one gradient per weight"
    let v = v |> Array.map (fun t -> t.detach ())
    let hv = hessianVector gradients weights
    match inverse with
    | Neumann (terms, alpha) ->
        // term_{j+1} = term_j (I − αH); p = α Σ term_j
        let mutable term = v
        let mutable sum = v
        for _ in 1 .. terms do
            term <- axpy -alpha (hv term) term
            sum <- Array.map2 (fun (s: Tensor) (t: Tensor) -> s + t) sum term
        sum |> Array.map (fun s -> s * alpha)
    | ConjugateGradient (iterations, tolerance, damping) ->
        let apply (x: Tensor[]) = if damping = 0.0 then hv x else axpy damping x (hv x)
        let mutable x = v |> Array.map torch.zeros_like
        let mutable r = v
        let mutable d = v
        let mutable rr = dot r r
        let stop = (tolerance * sqrt rr) ** 2.0
        let mutable k = 0
        while k < iterations && rr > stop && rr > 0.0 do
            let ad = apply d
            let curvature = dot d ad
            if not (curvature > 0.0) then
                invalidOp $"conjugate gradient met non-positive curvature dᵀ(H + λI)d = {curvature} at iteration {k + 1}: the inner loss is not locally convex; increase the damping or use the Neumann series"
            let step = rr / curvature
            x <- axpy step d x
            r <- axpy -step ad r
            let rrNext = dot r r
            d <- axpy (rrNext / rr) d r
            rr <- rrNext
            k <- k + 1
        x

/// The implicit hypergradient dL_V/dφ = ∂L_V/∂φ − (∂L_V/∂W) H⁻¹ ∂²L_T/∂W∂φ at the current weights.
///
/// `trainLoss` and `outerLoss` are scalar losses already evaluated with graphs through `weights` (W) and, for the
/// inner loss, through `hyperparameters` (φ); the outer loss may or may not depend on φ directly. Returns one
/// detached tensor per hyperparameter; gradients already stored in `.grad` are left untouched.
let ofLosses (inverse: InverseHessian) (trainLoss: Tensor) (outerLoss: Tensor) (weights: Tensor[]) (hyperparameters: Tensor[]) : Tensor[] =
    checkParameters "weights" weights
    checkParameters "hyperparameters" hyperparameters
    let everything = Array.append weights hyperparameters
    let outer = Diff.gradients [| outerLoss |] None everything false false
    let outerW = outer.[.. weights.Length - 1]
    let direct = outer.[weights.Length ..]
    let gradients = differentiableGradients trainLoss weights
    let p = inverseHessianVector inverse gradients weights outerW
    // ∂/∂φ ⟨∂L_T/∂W, p⟩ with p constant: the mixed second derivative applied to p.
    let live = gradients |> Array.mapi (fun i g -> i, g) |> Array.filter (fun (_, g: Tensor) -> g.requires_grad)
    let mixed =
        if live.Length = 0 then hyperparameters |> Array.map torch.zeros_like
        else Diff.gradients (Array.map snd live) (Some (live |> Array.map (fun (i, _) -> p.[i]))) hyperparameters false false
    Array.map2 (fun (d: Tensor) (m: Tensor) -> (d - m).detach ()) direct mixed

/// `ofLosses` for losses given as functions of (W, φ): evaluates both at `weights`, `hyperparameters` (leaves that
/// require grad) and returns the hypergradient.
let compute (inverse: InverseHessian) (trainLoss: Tensor[] -> Tensor[] -> Tensor) (outerLoss: Tensor[] -> Tensor[] -> Tensor)
            (weights: Tensor[]) (hyperparameters: Tensor[]) : Tensor[] =
    ofLosses inverse (trainLoss weights hyperparameters) (outerLoss weights hyperparameters) weights hyperparameters
