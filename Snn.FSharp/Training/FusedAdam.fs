/// Adam and AdamW whose step is one fused pass per parameter (`Kernels/AdamUpdate.fs`) and gives the same bits as
/// TorchSharp's own optimizers: they are TorchSharp's `Adam` / `AdamW` (state, options, parameter groups,
/// learning-rate schedules, state dictionaries and checkpoints unchanged) with `step` replaced. A step that the fused
/// pass cannot take (a parameter off the CPU, not float32 or not contiguous, AMSGrad, a libtorch without MKL) is
/// TorchSharp's own step, whole.
namespace Snn

open System
open TorchSharp
open TorchSharp.Modules
open Snn.Tensors

/// One parameter of a fused step with its moments, its step counter and its group's options.
type internal AdamSlot =
    { Parameter: Parameter
      FirstMoment: Tensor
      SecondMoment: Tensor
      /// Counts the step in the parameter's state and returns its number t (from 1).
      NextStep: unit -> int64
      LearningRate: float
      Beta1: float
      Beta2: float
      Epsilon: float
      /// Adam's λ, added to the gradient.
      L2Penalty: float
      /// AdamW's λ, p ← p·(1 − ηλ).
      DecoupledDecay: float
      Maximize: bool
      AmsGrad: bool }

module internal FusedAdamStep =

    let private gradientOf (p: Parameter) = let g = p.grad in if isNull (box g) || g.Handle = IntPtr.Zero then None else Some g

    /// Whether t is float32, contiguous, on the CPU, as long as p and addressable as one span of bytes.
    let private fits (p: Tensor) (t: Tensor) =
        t.device_type = DeviceType.CPU && t.dtype = torch.float32 && t.is_contiguous () && t.NumberOfElements = p.NumberOfElements
        && t.NumberOfElements <= int64 (Int32.MaxValue / 4)

    /// Whether the fused pass can take every slot, given each slot's gradient (None: TorchSharp skips it).
    let private eligible (slots: AdamSlot[]) (gradients: Tensor option[]) =
        AdamUpdate.available.Force ()
        && Array.forall2 (fun s g ->
            not s.AmsGrad
            && match g with
               | None -> true
               | Some g -> fits s.Parameter s.Parameter && fits s.Parameter g && fits s.Parameter s.FirstMoment && fits s.Parameter s.SecondMoment)
            slots gradients

    /// The slots of every parameter of the groups; `slot` reads one parameter's state and its group's options.
    let slots (groups: ParamGroup seq) (slot: ParamGroup -> Parameter -> AdamSlot) : AdamSlot[] =
        [| for g in groups do for p in g.Parameters -> slot g p |]

    /// The closure's loss, evaluated with gradients on, as TorchSharp's optimizers do before their step (null
    /// without a closure).
    let loss (closure: Func<Tensor>) : Tensor =
        if isNull closure then null else (use _ = torch.enable_grad () in closure.Invoke ())

    /// Updates every parameter with a gradient in place when the fused pass can take them all (TorchSharp skips a
    /// parameter without a gradient and does not count its step); false, having changed nothing, when it cannot.
    let tryRun (slots: AdamSlot[]) : bool =
        let gradients = slots |> Array.map (fun s -> gradientOf s.Parameter)
        try
            let fused = eligible slots gradients
            if fused then
                use _ = torch.no_grad ()
                Array.iter2 (fun s g ->
                    match g with
                    | None -> ()
                    | Some (g: Tensor) ->
                        let c = AdamUpdate.coefficients s.LearningRate s.Beta1 s.Beta2 s.Epsilon s.L2Penalty s.DecoupledDecay s.Maximize (s.NextStep ())
                        AdamUpdate.update c (Raw.address s.Parameter) (Raw.address g) (Raw.address s.FirstMoment)
                                          (Raw.address s.SecondMoment) (int s.Parameter.NumberOfElements))
                    slots gradients
            fused
        finally
            for g in gradients do g |> Option.iter (fun g -> g.Dispose ())

/// TorchSharp's Adam (an L2 penalty λ is added to the gradient) with a fused step of the same bits.
type FusedAdam(parameters: Parameter seq, learningRate: float, ?beta1: float, ?beta2: float, ?epsilon: float, ?weightDecay: float) =
    inherit Adam(parameters, learningRate, defaultArg beta1 0.9, defaultArg beta2 0.999, defaultArg epsilon 1e-8, defaultArg weightDecay 0.0)

    override this.step (closure: Func<Tensor>) =
        let states = this._state
        // The closure first, so the gradients it computes are the ones checked.
        let loss = FusedAdamStep.loss closure
        let slots =
            FusedAdamStep.slots this._parameter_groups (fun g p ->
                let o, s = (g :?> Adam.ParamGroup).Options, states.[p.Handle] :?> Adam.State
                { Parameter = p; FirstMoment = s.exp_avg; SecondMoment = s.exp_avg_sq; NextStep = (fun () -> s.step <- s.step + 1L; s.step)
                  LearningRate = o.LearningRate.Value; Beta1 = o.beta1.Value; Beta2 = o.beta2.Value; Epsilon = o.eps.Value
                  L2Penalty = o.weight_decay.Value; DecoupledDecay = 0.0; Maximize = o.maximize.Value; AmsGrad = o.amsgrad.Value })
        if not (FusedAdamStep.tryRun slots) then base.step null |> ignore
        loss

/// TorchSharp's AdamW (decoupled weight decay: p ← p·(1 − ηλ) before the step) with a fused step of the same bits.
type FusedAdamW(parameters: Parameter seq, learningRate: float, ?beta1: float, ?beta2: float, ?epsilon: float, ?weightDecay: float) =
    inherit AdamW(parameters, learningRate, defaultArg beta1 0.9, defaultArg beta2 0.999, defaultArg epsilon 1e-8, defaultArg weightDecay 0.01)

    override this.step (closure: Func<Tensor>) =
        let states = this._state
        // The closure first, so the gradients it computes are the ones checked.
        let loss = FusedAdamStep.loss closure
        let slots =
            FusedAdamStep.slots this._parameter_groups (fun g p ->
                let o, s = (g :?> AdamW.ParamGroup).Options, states.[p.Handle] :?> AdamW.State
                { Parameter = p; FirstMoment = s.exp_avg; SecondMoment = s.exp_avg_sq; NextStep = (fun () -> s.step <- s.step + 1L; s.step)
                  LearningRate = o.LearningRate.Value; Beta1 = o.beta1.Value; Beta2 = o.beta2.Value; Epsilon = o.eps.Value
                  L2Penalty = 0.0; DecoupledDecay = o.weight_decay.Value; Maximize = o.maximize.Value; AmsGrad = o.amsgrad.Value })
        if not (FusedAdamStep.tryRun slots) then base.step null |> ignore
        loss
