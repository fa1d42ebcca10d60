/// Layers over time-first tensors [T; B; ...]: per-step layers run once over the merged [T·B] batch, dropout
/// with one mask shared by all steps, threshold-dependent batch normalisation, flattening, voting, and a
/// sequential container that merges runs of stateless layers.
namespace Snn.Modules

open System
open TorchSharp
open Snn.Tensors

/// The base of layers that understand the time dimension themselves (they take and return [T; B; ...]), so a
/// `SpikingSequential` hands them the whole sequence instead of the merged [T·B] batch.
[<AbstractClass>]
type TimeModule(name: string) =
    inherit torch.nn.Module<Tensor, Tensor>(name)

    /// Checks that x is time-first with at least `dims` dimensions.
    member _.CheckTimeFirst (x: Tensor, dims: int) =
        if isNull (box x) then nullArg "x"
        if x.dim () < int64 dims then invalidArg "x" $"must be time-first [T; B; ...] with at least {dims} dimensions, got shape %A{x.shape}"

/// Flattens every dimension after the batch: [T; B; d1; d2; ...] → [T; B; d1·d2·...].
type TimeFlatten(name: string) =
    inherit TimeModule(name)

    /// [T; B; ...] → [T; B; N].
    override this.forward (x: Tensor) : Tensor =
        this.CheckTimeFirst (x, 2)
        x.flatten(2L).clone ()

/// Dropout whose mask is drawn once per sequence and shared by every time step (SpikingJelly's
/// `layer.Dropout`): a neuron dropped at one step stays dropped for the whole sample, so dropout does not inject
/// spurious spikes and silences over time. Training: y_t = x_t ⊙ m / (1 - p), m ~ Bernoulli(1 - p) of shape
/// [1; B; ...]; evaluation: y = x.
type SharedDropout(name: string, p: float) =
    inherit TimeModule(name)
    do if not (p >= 0.0 && p < 1.0) then invalidArg "p" $"must lie in [0, 1), got {p}"

    /// The drop probability.
    member _.P = p

    /// [T; B; ...] → [T; B; ...] with the same mask at every step.
    override this.forward (x: Tensor) : Tensor =
        this.CheckTimeFirst (x, 2)
        if not this.training || p = 0.0 then x.clone ()
        else
            let maskShape = Array.append [| 1L |] x.shape.[1..]
            use keep = torch.rand (maskShape, dtype = x.dtype, device = x.device)
            let mask = keep.ge((p: float).ToScalar ()).``to``(x.dtype) / (1.0 - p)
            x * mask

/// Average voting (thesis ch. 3): the last dimension holds `groupSize` consecutive neurons per class, and the
/// output of class c is their mean, y_c = (1/g) Σ_{k<g} x_{c g + k}: [T; B; C·g] → [T; B; C].
type Voting(name: string, groupSize: int) =
    inherit TimeModule(name)
    do if groupSize <= 0 then invalidArg "groupSize" $"must be > 0, got {groupSize}"

    /// Neurons per class.
    member _.GroupSize = groupSize

    /// [T; B; C·g] → [T; B; C].
    override this.forward (x: Tensor) : Tensor =
        this.CheckTimeFirst (x, 3)
        let n = x.shape.[x.shape.Length - 1]
        if n % int64 groupSize <> 0L then invalidArg "x" $"has {n} neurons, not a multiple of the group size {groupSize}"
        let shape = Array.append x.shape.[.. x.shape.Length - 2] [| n / int64 groupSize; int64 groupSize |]
        x.reshape(shape).mean ([| -1L |])

/// Threshold-dependent batch normalisation (tdBN, Zheng et al. 2021): per channel c, statistics over time, batch
/// and space together, and a normalised value scaled to the firing threshold,
///     y = λ_c · α V_th (x - μ_c) / √(σ²_c + ε) + β_c,
/// with μ_c, σ²_c over (T, B, H, W) in training (running estimates in evaluation) and learnable λ (init 1), β (init 0).
/// Input [T; B; C] or [T; B; C; H; W].
type ThresholdDependentBatchNorm(name: string, channels: int, alpha: float, vThreshold: float) as this =
    inherit TimeModule(name)
    do
        if channels <= 0 then invalidArg "channels" $"must be > 0, got {channels}"
        if not (alpha > 0.0) || Double.IsInfinity alpha then invalidArg "alpha" $"must be a finite number > 0, got {alpha}"
        if not (vThreshold > 0.0) || Double.IsInfinity vThreshold then invalidArg "vThreshold" $"must be a finite number > 0, got {vThreshold}"
    // Normalisation over the merged [T·B] batch is exactly "statistics over T, B (and H, W)".
    let norm2d = torch.nn.BatchNorm2d (int64 channels, affine = false)
    let norm1d = torch.nn.BatchNorm1d (int64 channels, affine = false)
    let lambda = torch.nn.Parameter (torch.ones (int64 channels))
    let beta = torch.nn.Parameter (torch.zeros (int64 channels))
    do
        this.register_module ("norm2d", norm2d)
        this.register_module ("norm1d", norm1d)
        this.register_parameter ("lambda", lambda)
        this.register_parameter ("beta", beta)

    /// α = 1, V_th = 1.
    new(name: string, channels: int) = new ThresholdDependentBatchNorm(name, channels, 1.0, 1.0)

    /// The learnable scale λ [C].
    member _.Lambda : Tensor = lambda
    /// The learnable shift β [C].
    member _.Beta : Tensor = beta

    /// [T; B; C(; H; W)] → same shape.
    override this.forward (x: Tensor) : Tensor =
        this.CheckTimeFirst (x, 3)
        if x.shape.[2] <> int64 channels then invalidArg "x" $"has {x.shape.[2]} channels, expected {channels}"
        let t, b = x.shape.[0], x.shape.[1]
        let merged = x.flatten (0L, 1L)
        let normalised, view =
            match x.dim () with
            | 3L -> norm1d.forward merged, [| 1L; channels |> int64 |]
            | 5L -> norm2d.forward merged, [| 1L; int64 channels; 1L; 1L |]
            | _ -> invalidArg "x" $"must be [T; B; C] or [T; B; C; H; W], got shape %A{x.shape}"
        let y = normalised * (alpha * vThreshold) * lambda.reshape view + beta.reshape view
        y.unflatten (0L, [| t; b |])

/// Runs layers in order over time-first tensors [T; B; ...]. Consecutive stateless layers (plain TorchSharp
/// layers: Linear, Conv2d, BatchNorm, pooling, ...) are run once over the merged [T·B; ...] batch; time-aware
/// layers (neuron layers, `TimeModule`s, `TimeDistributed`, nested containers) get the whole sequence. Layers are
/// invoked through `call`, so forward hooks (monitors) see them.
type SpikingSequential(name: string, layers: torch.nn.Module<Tensor, Tensor>[]) as this =
    inherit torch.nn.Module<Tensor, Tensor>(name)
    do
        if isNull layers || layers.Length = 0 then invalidArg "layers" "needs at least one layer"
        layers |> Array.iteri (fun i l ->
            if isNull (box l) then nullArg $"layers[{i}]"
            this.register_module (string i, l))

    /// Whether a layer handles the time dimension itself (also a wrapper whose child "core" does).
    static member IsTimeAware (layer: torch.nn.Module<Tensor, Tensor>) : bool =
        match layer with
        | :? TimeModule | :? NeuronLayer | :? LifLayer | :? TimeDistributed | :? SpikingSequential -> true
        | wrapper ->
            // A facade module (the C# layers) that forwards to a time-aware layer registered as its child "core".
            wrapper.named_children ()
            |> Seq.exists (fun struct (name, child) ->
                name = "core" && (match child with :? torch.nn.Module<Tensor, Tensor> as c -> SpikingSequential.IsTimeAware c | _ -> false))

    /// The layers, in order.
    member _.Layers = layers

    /// Applies the layers to x ([T; B; ...]). Each intermediate output is released as soon as the next layer has
    /// run (autograd keeps what the backward pass needs), so a forward hook that keeps an output for later must
    /// keep a detached copy (as `Monitor` does), not the tensor it was given.
    override _.forward (x: Tensor) : Tensor =
        if isNull (box x) || x.dim () < 2 then invalidArg "x" "must be time-first [T; B; ...]"
        let t, b = x.shape.[0], x.shape.[1]
        // Replaces the current tensor by `next`, releasing it unless it is the caller's x.
        let advance (current: Tensor) (next: Tensor) =
            if not (obj.ReferenceEquals (current, x)) then releaseConsumed current next
            next
        let mutable y = x
        let mutable i = 0
        while i < layers.Length do
            if SpikingSequential.IsTimeAware layers.[i] then
                y <- advance y (layers.[i].call y)
                i <- i + 1
            else
                let mutable merged = advance y (y.flatten (0L, 1L))
                while i < layers.Length && not (SpikingSequential.IsTimeAware layers.[i]) do
                    merged <- advance merged (layers.[i].call merged)
                    i <- i + 1
                y <- advance merged (merged.unflatten (0L, [| t; b |]))
        y

    /// The layers: forward runs them in order.
    interface ILayerChain with
        member _.Chain = layers

/// Time-distributed versions of the usual stateless layers (each run once over the merged [T·B] batch).
[<RequireQualifiedAccess>]
module TimeLayers =
    /// Conv2d [T; B; C_in; H; W] → [T; B; C_out; H'; W'] with a square kernel.
    let conv2d (name: string) (inChannels: int) (outChannels: int) (kernel: int) (stride: int) (padding: int) : TimeDistributed =
        if inChannels <= 0 then invalidArg "inChannels" $"must be > 0, got {inChannels}"
        if outChannels <= 0 then invalidArg "outChannels" $"must be > 0, got {outChannels}"
        if kernel <= 0 then invalidArg "kernel" $"must be > 0, got {kernel}"
        if stride <= 0 then invalidArg "stride" $"must be > 0, got {stride}"
        if padding < 0 then invalidArg "padding" $"must be >= 0, got {padding}"
        new TimeDistributed(name, torch.nn.Conv2d (int64 inChannels, int64 outChannels, int64 kernel, stride = int64 stride, padding = int64 padding))

    /// Max pooling k × k with stride k: [T; B; C; H; W] → [T; B; C; H/k; W/k] (k = 2, the common case, through the
    /// fused kernel `MaxPool2x2Layer`).
    let maxPool2d (name: string) (kernel: int) : TimeDistributed =
        if kernel <= 0 then invalidArg "kernel" $"must be > 0, got {kernel}"
        let pool = if kernel = 2 then new MaxPool2x2Layer("pool") :> torch.nn.Module<Tensor, Tensor> else torch.nn.MaxPool2d (int64 kernel)
        new TimeDistributed(name, pool)

    /// Average pooling k × k with stride k: [T; B; C; H; W] → [T; B; C; H/k; W/k].
    let avgPool2d (name: string) (kernel: int) : TimeDistributed =
        if kernel <= 0 then invalidArg "kernel" $"must be > 0, got {kernel}"
        new TimeDistributed(name, torch.nn.AvgPool2d (int64 kernel))

    /// Batch normalisation over channels with statistics over (T, B, H, W): [T; B; C; H; W] → same shape (through
    /// `BatchNorm2dLayer`, torch's BatchNorm2d bit for bit).
    let batchNorm2d (name: string) (channels: int) : TimeDistributed =
        if channels <= 0 then invalidArg "channels" $"must be > 0, got {channels}"
        new TimeDistributed(name, new BatchNorm2dLayer("bn", channels))

    /// Fully connected layer [T; B; N_in] → [T; B; N_out].
    let linear (name: string) (inputs: int) (outputs: int) : TimeDistributed =
        if inputs <= 0 then invalidArg "inputs" $"must be > 0, got {inputs}"
        if outputs <= 0 then invalidArg "outputs" $"must be > 0, got {outputs}"
        new TimeDistributed(name, torch.nn.Linear (int64 inputs, int64 outputs))
