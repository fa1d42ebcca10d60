/// Bilevel training by implicit hypergradients (AuxiLearn's procedure, thesis § 3.4.3): the weights W take ordinary
/// optimiser steps on the training loss L_T(W, φ); every `Interval` steps the hyperparameters φ (a learned loss
/// combiner, per-task thresholds, ...) take one step along the implicit hypergradient of an outer loss L_V measured on
/// an auxiliary split the weights never train on (see `Hypergradient`).
[<RequireQualifiedAccess>]
module Snn.Bilevel

open System
open TorchSharp
open Snn.Tensors

/// Settings of the hyperparameter updates.
type Settings =
    { /// Inverse-Hessian approximation of the hypergradient.
      Inverse: Hypergradient.InverseHessian
      /// A hyper step after every `Interval` weight steps (≥ 1).
      Interval: int
      /// Adam learning rate of the hyperparameters.
      HyperLearningRate: float
      /// Clip of the hypergradient's Euclidean norm over all hyperparameters (AuxiLearn's `max_grad_norm`):
      /// g ← g · c / ‖g‖ when ‖g‖ > c, unchanged otherwise; None = no clipping.
      MaxGradNorm: float option }

    /// 3-term Neumann series (α = 0.1), a hyper step every 20 weight steps, hyper learning rate 1e-3, no
    /// hypergradient clipping. AuxiLearn clips at 10 by default, but on its own scale, which is 1/α times Snn's
    /// (see `Hypergradient.InverseHessian.Default`), so 10 would not port as 10; and under Adam the clip only
    /// changes single outlier steps, while leaving it off keeps every run's updates a function of the true
    /// hypergradient. Set it (e.g. 10α = 1 for AuxiLearn's default) to guard against spikes of the Neumann
    /// estimate when H is far from positive definite.
    static member Default =
        { Inverse = Hypergradient.InverseHessian.Default; Interval = 20; HyperLearningRate = 1e-3; MaxGradNorm = None }

/// The hypergradient with its Euclidean norm over all tensors clipped to `maxNorm` (AuxiLearn's `max_grad_norm`,
/// i.e. `clip_grad_norm_` without its 1e-6 guard): g · min(1, maxNorm / ‖g‖), with ‖g‖ = sqrt(Σ_k ‖g_k‖²). Returns
/// the input tensors themselves when the norm is within the bound, fresh scaled tensors otherwise.
let clipNorm (maxNorm: float) (gradients: Tensor[]) : Tensor[] =
    if not (maxNorm > 0.0) || Double.IsInfinity maxNorm then invalidArg "MaxGradNorm" $"must be a finite number > 0, got {maxNorm}"
    if isNull gradients then nullArg "gradients"
    let norm = sqrt (Hypergradient.dot gradients gradients)
    if norm <= maxNorm then gradients else gradients |> Array.map (fun g -> g * (maxNorm / norm))

/// Splits sample indices 0 .. n−1 by a permutation seeded with `seed` into (training, held-out) parts, the last
/// round(fraction · n) forming the held-out split of the outer loss. `name` is the setting the fraction came from,
/// for the error raised when either part would be empty or the fraction lies outside (0, 1).
let holdOut (name: string) (fraction: float) (n: int) (seed: int) : int64[] * int64[] =
    if not (fraction > 0.0 && fraction < 1.0) then invalidArg name $"must lie in (0, 1), got {fraction}"
    let held = int (round (fraction * float n))
    if held < 1 || held >= n then invalidArg name $"holds out {held} of {n} samples; both splits need at least one"
    let permutation = Data.Dataset.shuffle seed n |> Array.map int64
    permutation.[.. n - held - 1], permutation.[n - held ..]

/// What one call of `Trainer.Step` did.
type StepReport =
    { /// Training loss L_T before the weight step.
      TrainLoss: float
      /// Outer loss L_V when a hyper step was taken.
      OuterLoss: float option
      /// Euclidean norm of the hypergradient (before any clipping) when a hyper step was taken.
      HypergradientNorm: float option }

/// Runs the bilevel loop over the given tensors. `weights` are updated by `weightOptimizer`; `hyperparameters` by an
/// internal Adam (hence `Parameter`s, e.g. a combiner's `parameters ()`). The two sets must be disjoint and every
/// tensor must require grad. `weights` may be a block of what `weightOptimizer` trains (e.g. the readout layers):
/// the implicit step then holds the other weights fixed, which makes a hyper step much cheaper (bench/).
type Trainer(weights: Tensor[], hyperparameters: TorchSharp.Modules.Parameter[], weightOptimizer: torch.optim.Optimizer, settings: Settings) =
    do
        if isNull weights || weights.Length = 0 then invalidArg "weights" "needs at least one tensor"
        if isNull hyperparameters || hyperparameters.Length = 0 then invalidArg "hyperparameters" "needs at least one tensor"
        if settings.Interval < 1 then invalidArg "Interval" $"must be ≥ 1, got {settings.Interval}"
        if not (settings.HyperLearningRate > 0.0) then invalidArg "HyperLearningRate" $"must be > 0, got {settings.HyperLearningRate}"
        settings.Inverse.Validate ()
        settings.MaxGradNorm |> Option.iter (fun c ->
            if not (c > 0.0) || Double.IsInfinity c then invalidArg "MaxGradNorm" $"must be a finite number > 0, got {c}")
        let handles = weights |> Array.map (fun w -> w.Handle) |> Set.ofArray
        if hyperparameters |> Array.exists (fun (h: TorchSharp.Modules.Parameter) -> handles.Contains h.Handle) then
            invalidArg "hyperparameters" "shares a tensor with the weights; the two levels must be disjoint"
    let hyperOptimizer = torch.optim.Adam (hyperparameters :> seq<TorchSharp.Modules.Parameter>, settings.HyperLearningRate)
    let hyperTensors = hyperparameters |> Array.map (fun p -> p :> Tensor)
    let mutable steps = 0

    /// Weight steps taken so far.
    member _.Steps = steps

    /// The settings.
    member _.Settings = settings

    /// The Adam optimiser of the hyperparameters (its state belongs in a checkpoint of the run).
    member _.HyperOptimizer : torch.optim.Optimizer = hyperOptimizer

    /// One weight step on `trainLoss ()`; then, every `Interval` steps, one hyper step: the hypergradient of
    /// `outerLoss ()` (on the auxiliary split) through a fresh `trainLoss ()` at the updated weights.
    member t.Step (trainLoss: unit -> Tensor, outerLoss: unit -> Tensor) : StepReport =
        let value =
            use scope = torch.NewDisposeScope ()
            weightOptimizer.zero_grad ()
            let loss = trainLoss ()
            Diff.backward loss
            weightOptimizer.step () |> ignore
            loss.ToDouble ()
        steps <- steps + 1
        if steps % settings.Interval = 0 then
            let outer, norm = t.HyperStep (trainLoss, outerLoss)
            { TrainLoss = value; OuterLoss = Some outer; HypergradientNorm = Some norm }
        else { TrainLoss = value; OuterLoss = None; HypergradientNorm = None }

    /// One hyper step now: returns (L_V, ‖dL_V/dφ‖ before clipping). The Adam step uses the hypergradient clipped to
    /// `MaxGradNorm` when set. The weights' stored gradients are not touched.
    member _.HyperStep (trainLoss: unit -> Tensor, outerLoss: unit -> Tensor) : float * float =
        use scope = torch.NewDisposeScope ()
        let outer = outerLoss ()
        let outerValue = outer.ToDouble ()
        let raw = Hypergradient.ofLosses settings.Inverse (trainLoss ()) outer weights hyperTensors
        let norm = sqrt (Hypergradient.dot raw raw)
        let g = match settings.MaxGradNorm with Some c -> clipNorm c raw | None -> raw
        hyperOptimizer.zero_grad ()
        // Loads g into φ.grad: ∂/∂φ Σ ⟨φ, g⟩ = g (a sum of the hyperparameters' own terms, so nothing is created
        // off their device).
        let surrogate = Array.map2 (fun (p: Tensor) (gi: Tensor) -> (p * gi).sum ()) hyperTensors g |> Array.reduce (+)
        surrogate.backward ()
        Diff.CallbackErrors.rethrow ()
        hyperOptimizer.step () |> ignore
        outerValue, norm
