/// TM-SNN thresholds learned instead of hand-set (the thesis's stated future work, ch. 4): the weights W take the
/// ordinary eq. 4.1 steps (`TmSnnTraining.batchLoss`) while the task thresholds φ [K] are hyperparameters, updated
/// every `Interval` steps along the implicit hypergradient (`Hypergradient`, `Bilevel`) of a validation objective
///
///   L_V(W, φ) = L_y(validation batch of task k) + β · S(φ),  S = Σ_l SynOps_l / Σ_l MACs_l,
///
/// where SynOps_l = (spikes into layer l per sample) × (fan-out of those spikes) over the label path, so S is the
/// fraction of the ANN twin's multiply-accumulates the network spends (thesis table 14); β ≥ 0 is the SynOps budget
/// weight. The spike counts are differentiable through the surrogate, so S pulls thresholds up and the label loss
/// pulls them where the task is solved best. Hyper steps differentiate twice through the neurons: the model must
/// run on the reference kernel. Tensors are time-first [T; B; ...].
[<RequireQualifiedAccess>]
module Snn.ThresholdLearning

open System
open TorchSharp
open Snn.Modules
open Snn.Tensors

/// Settings of the threshold level.
type Settings =
    { /// Inverse-Hessian approximation, hyper-step interval and hyper learning rate.
      Bilevel: Bilevel.Settings
      /// β: weight of the SynOps fraction S in the validation objective (0: accuracy alone).
      SynOpsWeight: float
      /// Fraction of the training samples held out as the validation split of the outer objective (0 < f < 1).
      ValidationFraction: float
      /// Thresholds are kept at or above this value after every hyper step (> 0).
      MinimumThreshold: float }

    /// 3-term Neumann series (α = 0.1), a hyper step every 5 weight steps at learning rate 0.05, β = 0.1, 20 % held
    /// out, thresholds ≥ 0.1.
    static member Default =
        { Bilevel = { Bilevel.Settings.Default with Interval = 5; HyperLearningRate = 0.05 }
          SynOpsWeight = 0.1; ValidationFraction = 0.2; MinimumThreshold = 0.1 }

/// S = Σ_l SynOps_l / Σ_l MACs_l of one run: spikes entering each label-path Linear times its fan-out, per sample,
/// over the MACs of the same Linears in an ANN (fan-in × fan-out per time step). Differentiable in the spikes.
let synOpsFraction (model: TmSnn) (input: Tensor) (output: TmSnnOutput) : Tensor =
    let linears = model.LabelPathLinears
    let inputs = output.LabelPath input
    let batch = float input.shape.[1]
    let steps = float input.shape.[0]
    let mutable synOps = torch.zeros ([||], device = input.device)
    let mutable macs = 0.0
    for i in 0 .. linears.Length - 1 do
        let fanOut = float linears.[i].weight.shape.[0]
        let fanIn = float linears.[i].weight.shape.[1]
        synOps <- synOps + inputs.[i].sum () * (fanOut / batch)
        macs <- macs + fanIn * fanOut * steps
    synOps / macs

/// What a run did beyond the weight training.
type Outcome =
    { /// The one trainer's history (its `HyperSteps` hold every validation objective and hypergradient norm).
      History: Training.History
      /// The thresholds after every hyper step, in order.
      Thresholds: float[] list }

/// Trains `model` by the one trainer with the TM-SNN method (`TmSnnTraining.method`; its calibration, if asked,
/// uses the initial thresholds) on the first 1 − `ValidationFraction` of a seeded permutation of the samples
/// [N; T; F] with classes [N], and learns the thresholds by hypergradient on the rest. The model's `Thresholds`
/// become a trainable parameter.
let train (model: TmSnn) (training: Training.TrainerSettings) (tmSnn: TmSnnTraining.Settings) (settings: Settings)
          (samples: Tensor) (classes: Tensor) (onEpoch: Training.HistoryEntry -> unit)
          (cancellation: Threading.CancellationToken) : Outcome =
    if isNull (box model) then nullArg "model"
    if model.Config.Kernel <> Reference then
        invalidArg "model" "runs on the fused kernel; learned thresholds need double backward: build it with Kernel = Reference"
    if model.Config.Modulation <> ByThreshold then invalidArg "model" "is modulated by current (EC-SNN); only thresholds are learned"
    if not (settings.SynOpsWeight >= 0.0) then invalidArg "SynOpsWeight" $"must be ≥ 0, got {settings.SynOpsWeight}"
    if not (settings.MinimumThreshold > 0.0) then invalidArg "MinimumThreshold" $"must be > 0, got {settings.MinimumThreshold}"
    if training.BatchSize <= 0 then invalidArg "BatchSize" $"must be > 0, got {training.BatchSize}"
    let n = int samples.shape.[0]
    let trainIndices, validIndices = Bilevel.holdOut "ValidationFraction" settings.ValidationFraction n training.Seed
    let take (t: Tensor) (indices: int64[]) = (use index = torch.tensor indices in t.index_select (0L, index))
    let trainSamples, trainClasses = take samples trainIndices, take classes trainIndices
    if tmSnn.Calibrate && not (Trainer.resumes training) then TmSnnTraining.calibrate model tmSnn trainSamples
    let phi = new TorchSharp.Modules.Parameter (model.Thresholds.detach().clone ())
    model.Thresholds <- phi
    let thresholds = Collections.Generic.List<float[]> ()
    let outerLoss (batch: Trainer.Batch) =
        let validBatch = Trainer.heldOutBatch validIndices training.BatchSize batch.Step
        let validInput = Data.Dataset.batchOf samples validBatch
        let validClasses = take classes validBatch
        let output = model.Run (validInput, batch.Task, false)
        TmSnnTraining.labelLoss model tmSnn output.Labels validClasses batch.Task + synOpsFraction model validInput output * settings.SynOpsWeight
    let afterHyperStep () =
        use _ = torch.no_grad ()
        phi.clamp_min_ (settings.MinimumThreshold) |> ignore
        thresholds.Add (Tensors.toFloat64Array phi)
    let method =
        { TmSnnTraining.method model tmSnn training.BatchSize None with
            Hyper =
                Some { Hyperparameters = [| phi |]
                       Weights = model.parameters () |> Seq.map (fun p -> p :> Tensor) |> Array.ofSeq
                       Settings = settings.Bilevel
                       OuterLoss = outerLoss
                       AfterHyperStep = afterHyperStep } }
    let source = Trainer.tensorSource training.BatchSize training.Seed (trainSamples, trainClasses)
    let history = Trainer.run model training method source ignore onEpoch cancellation
    { History = history; Thresholds = List.ofSeq thresholds }

/// `train` without cancellation.
let fit (model: TmSnn) (training: Training.TrainerSettings) (tmSnn: TmSnnTraining.Settings) (settings: Settings)
        (samples: Tensor) (classes: Tensor) (onEpoch: Training.HistoryEntry -> unit) : Outcome =
    train model training tmSnn settings samples classes onEpoch Threading.CancellationToken.None
