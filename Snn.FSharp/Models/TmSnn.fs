/// The threshold-modulated multi-task SNN (TM-SNN, thesis ch. 4, fig. 10) and its external-current variant (EC-SNN,
/// table 12): one set of weights that performs task k when its modulated layers run with task k's firing
/// threshold φ_k (or external current I_k).
///
///     feature block    input → Linear → CuLIF → ... (FeatureSizes, thesis 2 × 512)        modulated by φ_k / I_k
///     label classifier → Linear → CuLIF (LabelHidden, 128) → Linear → CuLIF (Σ_k labels_k)  modulated by φ_k / I_k
///     task classifier  → Linear → CuLIF (TaskHidden) → Linear → CuLIF (K tasks)             never modulated
///
/// Neurons are current-based LIF (CuLIF = lava-dl's CUBA neuron, so the label path maps onto Loihi), with exact
/// exponential decays α = exp(-dt/τ_syn), β = exp(-dt/τ_mem) (dt, τ in ms) and a hard reset to 0. Linear layers have
/// no bias (a bias on the synaptic current has no exact Loihi counterpart) and run once over the merged [T·B] batch.
/// Tensors are time-first: input [T; B; Inputs], outputs [T; B; ...].
///
/// The thresholds φ [K] and currents I [K] are plain tensors, not registered parameters: an optimiser over
/// `parameters()` never changes them, and a caller may replace them by tensors with `requires_grad` (gradients
/// reach them through the layers' input scaling, see `TmSnnCore.runCuLif`).
namespace Snn.Modules

open System
open TorchSharp
open Snn
open Snn.Neurons
open Snn.Tensors

/// What tells the network which task to perform.
type TaskModulation =
    /// Task k runs the feature and label blocks with threshold φ_k (TM-SNN).
    | ByThreshold
    /// Task k adds the external current I_k to every modulated neuron's input at every step, thresholds fixed at
    /// the neuron's own (EC-SNN, thesis table 12).
    | ByCurrent

/// How the spike function's surrogate derivative depends on the task threshold θ. The layers run in units of θ (input
/// (x + I)/θ, firing at 1, see `TmSnnCore.runCuLif`); written for the membrane v in input units, dz/dv is:
type SpikeGradient =
    /// The neuron's own surrogate g on u = v/θ: dz/dv = g'(v/θ - 1)/θ. Width ∝ θ, height ∝ 1/θ: a task at θ = 10 gets
    /// 8x smaller peak gradients than one at 1.25.
    | UnitThreshold
    /// dz/dv = scale_ρ exp(-|v - θ| / τ_ρ) with τ_ρ = tau_grad·θ: width ∝ θ, peak height scale_ρ whatever θ (the
    /// θ-independent height issue 14 attributes to lava-dl).
    | ConstantHeight of tauGrad: float * scaleRho: float
    /// lava-dl's CUBA neuron as its source computes it (slayer/neuron/cuba.py and spike/spike.py): dz/dv =
    /// s / (2τ) exp(-|v - θ| / τ) with τ = 100·tau_grad·θ and s = 0.1·scale_grad (its TAU_RHO_MULT and
    /// SCALE_RHO_MULT). Width ∝ θ and, like `UnitThreshold`, height ∝ 1/θ.
    | LavaDlCuba of tauGrad: float * scaleGrad: float
    /// dz/dv = s / (2τ) exp(-|v - θ| / τ) with τ and s fixed in input units, whatever θ: width and height independent
    /// of θ. This is lava-dl's derivative when a CUBA neuron's threshold is reassigned after construction (its τ_ρ is
    /// computed once, in the constructor, from the threshold given there), as a threshold-switching training loop on
    /// lava-dl does; e.g. tau_grad 0.03, scale_grad 3 at θ = 1.25 give τ = 100·0.03·1.25 = 3.75, s = 0.1·3 = 0.3.
    | FixedLaplace of tauRho: float * scaleRho: float

/// The configuration of a TM-SNN.
type TmSnnConfig =
    { /// Input features per step.
      Inputs: int
      /// Sizes of the feature-block layers (thesis: 512, 512).
      FeatureSizes: int[]
      /// Hidden neurons of the label classifier (thesis: 128).
      LabelHidden: int
      /// Hidden neurons of the task classifier; 0 builds no task classifier (thesis tables 10 and 13 train without).
      TaskHidden: int
      /// The tasks; the label classifier has Σ_k labels_k outputs.
      Tasks: LabelMap[]
      /// Neuron parameters of every layer; `VThreshold` is the task classifier's (unmodulated) threshold and the
      /// threshold of every layer under current modulation.
      Neuron: CuLifParameters
      /// Scale of the default Linear initialisation (uniform in ±gain/√fan_in).
      WeightGain: float
      /// Threshold or current modulation.
      Modulation: TaskModulation
      /// Initial thresholds φ_k, one per task (used under `ByThreshold`).
      Thresholds: float[]
      /// Initial external currents I_k, one per task (used under `ByCurrent`).
      Currents: float[]
      /// The fused multi-step kernel or the reference per-step functions (which also support double backward).
      Kernel: Kernel
      /// How the surrogate derivative depends on the task threshold (default `UnitThreshold`).
      SpikeGradient: SpikeGradient }

    /// The thesis network (2 × 512 features, 128 label hidden, 128 task hidden) for `inputs` features and the given
    /// tasks, CuLIF with τ_syn = 10 ms, τ_mem = 20 ms, dt = 1 ms, base threshold 1.25, thresholds 1.25 / 5 / 10 / 15.
    static member Thesis (inputs: int) (tasks: LabelMap[]) =
        { Inputs = inputs; FeatureSizes = [| 512; 512 |]; LabelHidden = 128; TaskHidden = 128; Tasks = tasks
          Neuron = { CuLifParameters.Default with TauSyn = 10.0; TauMem = 20.0; VThreshold = 1.25 }
          WeightGain = 4.0; Modulation = ByThreshold
          Thresholds = Array.truncate (if isNull tasks then 0 else tasks.Length) MultiTask.thesisThresholds
          Currents = Array.zeroCreate (if isNull tasks then 0 else tasks.Length); Kernel = Fused; SpikeGradient = UnitThreshold }

/// Every layer's spikes of one run (for the activity and SynOps of thesis table 14).
type TmSnnOutput =
    { /// Spikes of the feature-block layers, [T; B; FeatureSizes.[i]].
      Features: Tensor[]
      /// Spikes of the label classifier's hidden layer, [T; B; LabelHidden].
      LabelHidden: Tensor
      /// Spikes of the concatenated label outputs, [T; B; Σ_k labels_k].
      Labels: Tensor
      /// Spikes of the task classifier's outputs [T; B; K] when it was run.
      Tasks: Tensor option }

    /// The label path's spikes from the input to the outputs: [input; features...; label hidden; labels].
    member o.LabelPath (input: Tensor) : Tensor[] = Array.concat [ [| input |]; o.Features; [| o.LabelHidden; o.Labels |] ]

/// Pure helpers of the TM-SNN module.
[<RequireQualifiedAccess>]
module TmSnnCore =

    /// Checks a configuration; raises ArgumentException naming the field.
    let validate (c: TmSnnConfig) : TmSnnConfig =
        if c.Inputs <= 0 then invalidArg "Inputs" $"must be > 0, got {c.Inputs}"
        if isNull c.FeatureSizes || c.FeatureSizes.Length = 0 then invalidArg "FeatureSizes" "needs at least one layer"
        c.FeatureSizes |> Array.iteri (fun i s -> if s <= 0 then invalidArg "FeatureSizes" $"FeatureSizes[{i}] must be > 0, got {s}")
        if c.LabelHidden <= 0 then invalidArg "LabelHidden" $"must be > 0, got {c.LabelHidden}"
        if c.TaskHidden < 0 then invalidArg "TaskHidden" $"must be >= 0, got {c.TaskHidden}"
        if isNull c.Tasks || c.Tasks.Length = 0 then invalidArg "Tasks" "needs at least one task"
        if isNull c.Thresholds || c.Thresholds.Length <> c.Tasks.Length then
            invalidArg "Thresholds" $"needs one threshold per task ({c.Tasks.Length})"
        c.Thresholds |> Array.iteri (fun i t -> if not (t > 0.0) || Double.IsInfinity t then invalidArg "Thresholds" $"Thresholds[{i}] must be a finite number > 0, got {t}")
        if isNull c.Currents || c.Currents.Length <> c.Tasks.Length then invalidArg "Currents" $"needs one current per task ({c.Tasks.Length})"
        c.Currents |> Array.iteri (fun i t -> Neuron.finite $"Currents[{i}]" t)
        if not (c.WeightGain > 0.0) || Double.IsInfinity c.WeightGain then invalidArg "WeightGain" $"must be a finite number > 0, got {c.WeightGain}"
        CuLif.validate c.Neuron |> ignore
        if c.Neuron.VRest <> 0.0 || c.Neuron.VReset <> 0.0 then
            invalidArg "Neuron" $"needs VRest = VReset = 0 (the layers run in units of the threshold), got {c.Neuron.VRest} and {c.Neuron.VReset}"
        if c.Neuron.Reset <> Hard then invalidArg "Neuron" $"needs a hard reset (the layers run in units of the threshold), got {c.Neuron.Reset}"
        if not (c.Neuron.VThreshold > 0.0) then invalidArg "Neuron" $"needs VThreshold > 0, got {c.Neuron.VThreshold}"
        let positive (name: string) (v: float) = if not (v > 0.0) || Double.IsInfinity v then invalidArg "SpikeGradient" $"{name} must be a finite number > 0, got {v}"
        match c.SpikeGradient with
        | UnitThreshold -> ()
        | ConstantHeight (tauGrad, scaleRho) -> positive "tauGrad" tauGrad; positive "scaleRho" scaleRho
        | LavaDlCuba (tauGrad, scaleGrad) -> positive "tauGrad" tauGrad; positive "scaleGrad" scaleGrad
        | FixedLaplace (tauRho, scaleRho) -> positive "tauRho" tauRho; positive "scaleRho" scaleRho
        c

    /// The surrogate on u = v/θ that gives `gradient`'s dz/dv at threshold θ: since dz/dv = (dz/du)/θ, the
    /// Laplace-shaped families become SlayerExp(τ_u, s_u) with g'(x) = s_u/(2τ_u) e^{-|x|/τ_u}:
    /// ConstantHeight → τ_u = tau_grad, s_u = 2·tau_grad·scale_ρ·θ; LavaDlCuba → τ_u = 100·tau_grad, s_u = 0.1·scale_grad;
    /// FixedLaplace → τ_u = τ/θ, s_u = s.
    let unitSurrogate (gradient: SpikeGradient) (neuron: CuLifParameters) (theta: float) : Surrogate =
        match gradient with
        | UnitThreshold -> neuron.Surrogate
        | ConstantHeight (tauGrad, scaleRho) -> SlayerExp (tauGrad, 2.0 * tauGrad * scaleRho * theta)
        | LavaDlCuba (tauGrad, scaleGrad) -> SlayerExp (100.0 * tauGrad, 0.1 * scaleGrad)
        | FixedLaplace (tauRho, scaleRho) -> SlayerExp (tauRho / theta, scaleRho)

    /// The modulation of task k's feature and label layers: threshold φ_k or current I_k taken from the [K] tensors.
    let modulationOf (kind: TaskModulation) (thresholds: Tensor) (currents: Tensor) (task: int) : Modulation =
        match kind with
        | ByThreshold -> Modulation.WithThreshold (thresholds.[int64 task])
        | ByCurrent -> Modulation.WithCurrent (currents.[int64 task])

    /// CuLIF spikes [T; B; N] for input currents [T; B; N] under a modulation, run in units of the threshold: with
    /// θ the modulation's threshold (or the neuron's), the neurons get (x + I)/θ and fire at 1. With rest and reset
    /// at 0 the recurrence is linear in (x, v, θ), so the spikes are exactly those of threshold θ on x + I; only the
    /// surrogate's width scales with θ, as lava-dl's SLAYER surrogate does (τ_ρ ∝ θ), so every task's layers get
    /// gradients of the same shape; its height follows `gradient` (see `SpikeGradient`). Gradients reach θ and I
    /// through the division (fused or reference kernel).
    let runCuLif (kernel: Kernel) (gradient: SpikeGradient) (neuron: CuLifParameters) (m: Modulation) (input: Tensor) : Tensor =
        let drive = Neuron.drive m input
        let scaled, theta =
            match m.Threshold with
            | Some theta -> drive / theta, (match gradient with UnitThreshold -> 1.0 | _ -> theta.ToDouble ())
            | None -> drive / neuron.VThreshold, neuron.VThreshold
        Dynamics.cuLif kernel { neuron with VThreshold = 1.0; Surrogate = unitSurrogate gradient neuron theta } scaled

/// The TM-SNN / EC-SNN network (see the namespace comment). `forward` runs the label path of the current `Task`
/// and returns the concatenated label spikes [T; B; Σ_k labels_k]; `Run` returns every layer's spikes.
type TmSnn(config: TmSnnConfig) as this =
    inherit torch.nn.Module<Tensor, Tensor>("TmSnn")
    let config = TmSnnCore.validate config
    let linear name i o =
        let layer = torch.nn.Linear (int64 i, int64 o, hasBias = false)
        use _ = torch.no_grad ()
        layer.weight.mul_ (torch.tensor config.WeightGain) |> ignore
        new TimeDistributed(name, layer)
    let featureSizes = Array.append [| config.Inputs |] config.FeatureSizes
    let features = Array.init config.FeatureSizes.Length (fun i -> linear $"feature{i + 1}" featureSizes.[i] featureSizes.[i + 1])
    let labelTotal = MultiTask.totalLabels config.Tasks
    let labelHidden = linear "label1" (Array.last featureSizes) config.LabelHidden
    let labelOut = linear "label2" config.LabelHidden labelTotal
    let taskLayers =
        if config.TaskHidden = 0 then None
        else Some (linear "task1" (Array.last featureSizes) config.TaskHidden, linear "task2" config.TaskHidden config.Tasks.Length)
    let mutable thresholds = torch.tensor config.Thresholds |> fun t -> t.``to`` torch.float32
    let mutable currents = torch.tensor config.Currents |> fun t -> t.``to`` torch.float32
    let mutable task = 0
    do
        features |> Array.iteri (fun i f -> this.register_module ($"feature{i + 1}", f))
        this.register_module ("label1", labelHidden)
        this.register_module ("label2", labelOut)
        taskLayers |> Option.iter (fun (a, b) -> this.register_module ("task1", a); this.register_module ("task2", b))

    let checkTask (k: int) = if k < 0 || k >= config.Tasks.Length then invalidArg "task" $"must lie in [0, {config.Tasks.Length}), got {k}"

    /// The validated configuration.
    member _.Config = config

    /// The tasks, in output order.
    member _.Tasks = config.Tasks

    /// The number of tasks K.
    member _.TaskCount = config.Tasks.Length

    /// Whether the network has a task classifier block.
    member _.HasTaskClassifier = taskLayers.IsSome

    /// The per-task thresholds φ [K] (float32). Not a registered parameter; assign a tensor with `requires_grad`
    /// to learn them (e.g. by a hypergradient).
    member _.Thresholds
        with get () : Tensor = thresholds
        and set (value: Tensor) =
            if isNull (box value) || value.shape <> [| int64 config.Tasks.Length |] then invalidArg "Thresholds" $"must have shape [{config.Tasks.Length}]"
            thresholds <- value

    /// The per-task external currents I [K] (float32), used under current modulation; not a registered parameter.
    member _.Currents
        with get () : Tensor = currents
        and set (value: Tensor) =
            if isNull (box value) || value.shape <> [| int64 config.Tasks.Length |] then invalidArg "Currents" $"must have shape [{config.Tasks.Length}]"
            currents <- value

    /// The task `forward` performs (default 0).
    member _.Task
        with get () = task
        and set (k: int) = checkTask k; task <- k

    /// The modulation task k's feature and label layers run with.
    member _.ModulationOf (k: int) : Modulation =
        checkTask k
        TmSnnCore.modulationOf config.Modulation thresholds currents k

    /// The kernel the layers run now: the configured one while autograd records, and the fused kernel under
    /// no-grad (evaluation, calibration), where its spikes equal the reference's and nothing is differentiated;
    /// a network configured with the reference kernel for double backward so evaluates at fused speed.
    member _.KernelNow () : Kernel = if torch.is_grad_enabled () then config.Kernel else Fused

    /// The Linear layers of the label path in order (feature layers, label hidden, label output): weights [out; in].
    member _.LabelPathLinears : TorchSharp.Modules.Linear[] =
        Array.append features [| labelHidden; labelOut |] |> Array.map (fun l -> l.Inner :?> TorchSharp.Modules.Linear)

    /// The task classifier on feature spikes [T; B; FeatureSizes.[last]]: task-output spikes [T; B; K], always at
    /// the neuron's own threshold and without external current, whatever the task. Raises when there is none.
    member this.RunTaskClassifier (features: Tensor) : Tensor =
        match taskLayers with
        | None -> invalidOp "this TM-SNN has no task classifier (TaskHidden = 0)"
        | Some (a, b) ->
            let cuLif (x: Tensor) = TmSnnCore.runCuLif (this.KernelNow ()) config.SpikeGradient config.Neuron Modulation.None x
            features |> a.call |> cuLif |> b.call |> cuLif

    /// Runs the network for task k on input [T; B; Inputs]: the feature and label blocks under task k's modulation,
    /// and the task classifier (unmodulated) when `withTaskClassifier` and the network has one.
    member this.Run (input: Tensor, k: int, withTaskClassifier: bool) : TmSnnOutput =
        checkTask k
        if isNull (box input) || input.dim () <> 3 || input.shape.[2] <> int64 config.Inputs then
            invalidArg "input" $"must be [T; B; {config.Inputs}], got %A{(if isNull (box input) then [||] else input.shape)}"
        // φ and I are plain tensors that stay where they were made; task k's entry follows the input.
        let m = (TmSnnCore.modulationOf config.Modulation thresholds currents k).OnDevice input.device
        let cuLif modulation (x: Tensor) = TmSnnCore.runCuLif (this.KernelNow ()) config.SpikeGradient config.Neuron modulation x
        let featureSpikes =
            features |> Array.scan (fun (x: Tensor) layer -> cuLif m (layer.call x)) input |> Array.skip 1
        let last = Array.last featureSpikes
        let hidden = cuLif m (labelHidden.call last)
        let labels = cuLif m (labelOut.call hidden)
        let tasks =
            match taskLayers with
            | Some _ when withTaskClassifier -> Some (this.RunTaskClassifier last)
            | _ -> None
        { Features = featureSpikes; LabelHidden = hidden; Labels = labels; Tasks = tasks }

    /// Data-driven initialisation (LSUV-style, Mishkin & Matas 2016, for spiking layers): layer by layer, scales
    /// each Linear's weights (by a log-scale bisection over 10^±4) so that the layer fires at `rate` spikes per
    /// neuron and step on `input` [T; B; Inputs], with the label path run at threshold `threshold` and the task
    /// classifier at the neuron's own. Sparse event inputs leave a default-initialised network silent at high
    /// thresholds, where no gradient reaches the weights. Returns the scale applied to each Linear (label path, then
    /// task classifier).
    member this.CalibrateWeights (input: Tensor, threshold: float, rate: float) : float[] =
        if not (threshold > 0.0) || Double.IsInfinity threshold then invalidArg "threshold" $"must be a finite number > 0, got {threshold}"
        if not (rate > 0.0 && rate < 1.0) then invalidArg "rate" $"must lie in (0, 1), got {rate}"
        if isNull (box input) || input.dim () <> 3 || input.shape.[2] <> int64 config.Inputs then
            invalidArg "input" $"must be [T; B; {config.Inputs}]"
        use _ = torch.no_grad ()
        let run modulation (x: Tensor) = TmSnnCore.runCuLif (this.KernelNow ()) config.SpikeGradient config.Neuron modulation x
        let calibrate (layer: TimeDistributed) (modulation: Modulation) (x: Tensor) =
            let linear = layer.Inner :?> TorchSharp.Modules.Linear
            use a = layer.call x
            let firing (scale: float) = use z = run modulation (a * scale) in z.mean().ToDouble ()
            // The layer is linear in its weights: the rate of W·s is the rate of s·(W x).
            let scale = Snn.Modules.Calibration.scaleForRate firing rate
            linear.weight.mul_ (torch.tensor (scale, device = linear.weight.device)) |> ignore
            scale
        let m = Modulation.WithThreshold (torch.tensor (threshold, device = input.device))
        let scales = ResizeArray<float> ()
        let mutable x = input
        for layer in Array.append features [| labelHidden; labelOut |] do
            scales.Add (calibrate layer m x)
            x <- run m (layer.call x)
        match taskLayers with
        | Some (a, b) ->
            let mutable f = input
            for layer in features do f <- run m (layer.call f)
            scales.Add (calibrate a Modulation.None f)
            let h = run Modulation.None (a.call f)
            scales.Add (calibrate b Modulation.None h)
        | None -> ()
        scales.ToArray ()

    /// The concatenated label spikes [T; B; Σ_k labels_k] for task `Task` (no task classifier).
    override this.forward (input: Tensor) : Tensor = (this.Run (input, task, false)).Labels
