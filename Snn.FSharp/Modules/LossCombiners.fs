namespace Snn.Modules

open System
open TorchSharp
open Snn
open Snn.Tensors

/// A learned loss combiner h_φ (thesis eq. 3.2; AuxiLearn): maps the per-sample auxiliary losses [B; K] to one
/// scalar, the batch mean of h_φ(ℓ_b). Its parameters φ are hyperparameters: they are trained by the implicit
/// hypergradient on an auxiliary split (`Snn.Bilevel`), never by the training loss itself.
[<AbstractClass>]
type LossCombiner(name: string, tasks: int) =
    inherit torch.nn.Module<Tensor, Tensor>(name)
    do if tasks < 1 then invalidArg "tasks" $"a loss combiner needs at least one auxiliary loss, got {tasks}"

    /// Number of auxiliary losses K it combines.
    member _.Tasks = tasks

    /// Checks that `losses` is [B; K] with K = `Tasks`.
    member _.CheckLosses (losses: Tensor) =
        if isNull (box losses) then nullArg "losses"
        if losses.dim () <> 2L || losses.shape.[1] <> int64 tasks then
            invalidArg "losses" $"must be per-sample auxiliary losses [B; {tasks}], got shape %A{losses.shape}"

/// Linear combiner with non-negative weights: h_φ(ℓ) = Σ_k softplus(ρ_k) ℓ_k, φ = ρ. The softplus keeps every
/// weight positive without a projection step, so a hypergradient step can never make the training loss reward an
/// auxiliary loss for growing.
type LinearLossCombiner(tasks: int, initialWeight: float) as this =
    inherit LossCombiner("LinearLossCombiner", tasks)
    do if not (initialWeight > 0.0) then invalidArg "initialWeight" $"must be > 0 (weights are softplus-positive), got {initialWeight}"
    // softplus⁻¹(γ) = log(exp γ − 1), computed stably as γ + log(1 − exp(−γ)).
    let raw = torch.nn.Parameter (torch.zeros ([| int64 tasks |], dtype = torch.float32) + (initialWeight + log (1.0 - exp (-initialWeight))))
    do this.register_parameter ("raw", raw)

    /// The weights γ_k = softplus(ρ_k) > 0, [K].
    member _.Weights : Tensor = torch.nn.functional.softplus raw

    /// Batch mean of Σ_k γ_k ℓ_{b,k} for losses [B; K].
    override c.forward (losses: Tensor) : Tensor =
        c.CheckLosses losses
        (losses * c.Weights).sum(1L).mean ()

/// Non-linear combiner (thesis § 3.4.3, "a traditional ANN with three hidden layers"): h_φ(ℓ) = softplus(MLP(ℓ)),
/// with three ReLU hidden layers of `hidden` units. The output softplus keeps the combined loss non-negative.
type NonlinearLossCombiner(tasks: int, hidden: int) as this =
    inherit LossCombiner("NonlinearLossCombiner", tasks)
    do if hidden < 1 then invalidArg "hidden" $"hidden units must be ≥ 1, got {hidden}"
    let layers =
        [| torch.nn.Linear (int64 tasks, int64 hidden); torch.nn.Linear (int64 hidden, int64 hidden)
           torch.nn.Linear (int64 hidden, int64 hidden); torch.nn.Linear (int64 hidden, 1L) |]
    do layers |> Array.iteri (fun i l -> this.register_module ($"fc{i}", l))

    /// Batch mean of softplus(MLP(ℓ_b)) for losses [B; K].
    override c.forward (losses: Tensor) : Tensor =
        c.CheckLosses losses
        let mutable h = losses
        for i in 0 .. layers.Length - 2 do
            h <- torch.nn.functional.relu (layers.[i].forward h)
        (torch.nn.functional.softplus (layers.[layers.Length - 1].forward h)).mean ()
