/// The first-spike convolutional network of Mozafari et al. (2018), trained without gradients: convolutional layers
/// learn features by first-spike STDP with k-winners-take-all, and a decision layer learns by R-STDP (reward when
/// its earliest neuron belongs to the label's class, punishment otherwise).
///
///     input first-spike times [B; C; H; W] (DoG + intensity-to-latency, or the first event of a DVS pixel)
///     → conv (non-leaky IF, one spike) → point-wise inhibition → max pool    (repeated per layer, learnt by STDP)
///     → decision conv whose kernel covers the whole map, N = classes × per-class neurons  (learnt by R-STDP)
///     → class of the neuron that fires first (ties: larger potential)
///
/// Spikes are cumulative and time-first, [T; B; ...]: a neuron stays at 1 from its first spike on, so the potential
/// V_t = Σ W ⋆ s_t grows monotonically with non-negative weights and the first spike is the first t with V_t ≥ θ.
/// Weights lie in [0, 1] and are initialised N(mean, std) clamped to it.
namespace Snn.Modules

open System
open TorchSharp
open Snn
open Snn.Tensors

/// One convolutional STDP layer.
type StdpConvSettings =
    { /// Output features (channels).
      Features: int
      /// Square kernel size.
      Kernel: int
      /// Zero padding of the convolution.
      Padding: int
      /// Firing threshold θ of the non-leaky integrate-and-fire neurons.
      Threshold: float
      /// Max-pooling window after the layer (1 = none).
      PoolKernel: int
      /// Max-pooling stride.
      PoolStride: int
      /// Max-pooling padding (at most half the window).
      PoolPadding: int
      /// Winners k per sample during STDP.
      Winners: int
      /// Lateral-inhibition radius of the winners (in positions of the feature map); 0 = no spatial inhibition
      /// (SpykeTorch's convention: only the winner's feature is inhibited).
      InhibitionRadius: int
      /// First-spike STDP rates of the layer (the starting rates; see `StdpLayerSchedule`).
      Stdp: Plasticity.FirstSpikeStdpParameters }

/// The decision layer: one convolution whose kernel covers the whole input map.
type StdpDecisionSettings =
    { /// Number of classes.
      Classes: int
      /// Neurons per class (Mozafari 2018: 20); neuron n belongs to class n / FeaturesPerClass.
      FeaturesPerClass: int
      /// Threshold θ; 0 means a neuron fires as soon as its potential is positive (Mozafari's decision layer).
      /// A neuron below θ at the last step fires there when its potential is positive (forced decision).
      Threshold: float
      /// R-STDP rates.
      RStdp: Plasticity.RStdpParameters }

/// The whole network.
type StdpNetworkSettings =
    { /// Input channels C.
      Channels: int
      /// Input height H.
      Height: int
      /// Input width W.
      Width: int
      /// Time steps T of the latency code.
      Steps: int
      /// Convolutional STDP layers, input side first.
      Layers: StdpConvSettings[]
      /// The R-STDP decision layer.
      Decision: StdpDecisionSettings
      /// Mean of the initial weights.
      WeightMean: float
      /// Standard deviation of the initial weights.
      WeightStd: float
      /// Seed of the weight initialisation.
      Seed: int64 }

    /// Mozafari et al. (2018) adapted to a C × H × W input: conv 30 features 5×5 (θ 15, k 5, r 3), pool 2/2 pad 1;
    /// conv 100 features 3×3 (θ 10, k 8, r 1), pool 3/3; decision 20 neurons per class; T = 15; weights N(0.8, 0.05).
    /// (The paper's second layer has 250 features; 100 keeps a CPU run to minutes.) The thresholds assume image
    /// inputs coded by SpykeTorch's front end, i.e. DoG kernels of the `Encoding.Density` form, which is what
    /// `StdpInput.ImageCode.Default` uses; the `Encoding.UnitSum` form weighs the two Gaussians differently, which
    /// changes the filtered maps and so which inputs cross the DoG threshold.
    static member Mozafari2018 (channels: int) (height: int) (width: int) (classes: int) =
        { Channels = channels; Height = height; Width = width; Steps = 15
          Layers =
            [| { Features = 30; Kernel = 5; Padding = 2; Threshold = 15.0; PoolKernel = 2; PoolStride = 2; PoolPadding = 1
                 Winners = 5; InhibitionRadius = 3; Stdp = Plasticity.FirstSpikeStdpParameters.Default }
               { Features = 100; Kernel = 3; Padding = 1; Threshold = 10.0; PoolKernel = 3; PoolStride = 3; PoolPadding = 0
                 Winners = 8; InhibitionRadius = 1; Stdp = Plasticity.FirstSpikeStdpParameters.Default } |]
          Decision = { Classes = classes; FeaturesPerClass = 20; Threshold = 0.0; RStdp = Plasticity.RStdpParameters.Default }
          WeightMean = 0.8; WeightStd = 0.05; Seed = 0L }

/// Shapes and checks of `StdpNetworkSettings`.
[<RequireQualifiedAccess>]
module StdpNetworkSettings =
    /// The (channels, height, width) entering each convolutional layer, then the decision layer (length L + 1).
    let inputShapes (s: StdpNetworkSettings) : (int * int * int)[] =
        let shapes = Collections.Generic.List<int * int * int> [ s.Channels, s.Height, s.Width ]
        for l in s.Layers do
            let _, h, w = shapes.[shapes.Count - 1]
            let ch, cw = h + 2 * l.Padding - l.Kernel + 1, w + 2 * l.Padding - l.Kernel + 1
            let ph, pw = (ch + 2 * l.PoolPadding - l.PoolKernel) / l.PoolStride + 1, (cw + 2 * l.PoolPadding - l.PoolKernel) / l.PoolStride + 1
            shapes.Add ((l.Features, ph, pw))
        shapes.ToArray ()

    /// Raises ArgumentException naming the first bad field (with the layer index).
    let validate (s: StdpNetworkSettings) : unit =
        if s.Channels < 1 then invalidArg "Channels" $"must be >= 1, got {s.Channels}"
        if s.Height < 1 || s.Width < 1 then invalidArg "Height" $"input must be at least 1x1, got {s.Height}x{s.Width}"
        if s.Steps < 1 then invalidArg "Steps" $"must be >= 1, got {s.Steps}"
        if isNull s.Layers then nullArg "Layers"
        if not (s.WeightMean >= 0.0 && s.WeightMean <= 1.0) then invalidArg "WeightMean" $"must lie in [0, 1], got {s.WeightMean}"
        if not (s.WeightStd >= 0.0) || Double.IsInfinity s.WeightStd then invalidArg "WeightStd" $"must be >= 0, got {s.WeightStd}"
        let mutable h, w = s.Height, s.Width
        s.Layers |> Array.iteri (fun i l ->
            let name field = $"Layers[{i}].{field}"
            if l.Features < 1 then invalidArg (name "Features") $"must be >= 1, got {l.Features}"
            if l.Kernel < 1 then invalidArg (name "Kernel") $"must be >= 1, got {l.Kernel}"
            if l.Padding < 0 then invalidArg (name "Padding") $"must be >= 0, got {l.Padding}"
            if not (l.Threshold > 0.0) then invalidArg (name "Threshold") $"must be > 0, got {l.Threshold}"
            if l.PoolKernel < 1 || l.PoolStride < 1 then invalidArg (name "PoolKernel") $"window and stride must be >= 1, got {l.PoolKernel}/{l.PoolStride}"
            if l.PoolPadding < 0 || 2 * l.PoolPadding > l.PoolKernel then invalidArg (name "PoolPadding") $"must lie in [0, PoolKernel/2], got {l.PoolPadding}"
            if l.Winners < 1 then invalidArg (name "Winners") $"must be >= 1, got {l.Winners}"
            if l.InhibitionRadius < 0 then invalidArg (name "InhibitionRadius") $"must be >= 0, got {l.InhibitionRadius}"
            Plasticity.validateFirstSpike l.Stdp
            let ch, cw = h + 2 * l.Padding - l.Kernel + 1, w + 2 * l.Padding - l.Kernel + 1
            if ch < 1 || cw < 1 then invalidArg (name "Kernel") $"{l.Kernel} does not fit the {h}x{w} input"
            let ph, pw = (ch + 2 * l.PoolPadding - l.PoolKernel) / l.PoolStride + 1, (cw + 2 * l.PoolPadding - l.PoolKernel) / l.PoolStride + 1
            if ch + 2 * l.PoolPadding < l.PoolKernel || ph < 1 || pw < 1 then invalidArg (name "PoolKernel") $"{l.PoolKernel} does not fit the {ch}x{cw} map"
            h <- ph
            w <- pw)
        let d = s.Decision
        if d.Classes < 2 then invalidArg "Decision.Classes" $"must be >= 2, got {d.Classes}"
        if d.FeaturesPerClass < 1 then invalidArg "Decision.FeaturesPerClass" $"must be >= 1, got {d.FeaturesPerClass}"
        if d.Threshold < 0.0 then invalidArg "Decision.Threshold" $"must be >= 0, got {d.Threshold}"
        Plasticity.validateRStdp d.RStdp

/// The potentials and spikes of one layer for a batch.
type StdpLayerOutput =
    { /// Potentials V [T; B; F; H; W].
      Potentials: Tensor
      /// First-spike times [B; F; H; W] (T = never), after point-wise inhibition for conv layers.
      Times: Tensor
      /// Ranking score among neurons that fire at the same step, Σ_t s_t V_t [B; F; H; W] (the potentials summed
      /// over the steps at which the neuron is above threshold; 0 for silent neurons). With cumulative inputs it
      /// weighs every input by how early it arrived, which is what breaks ties in SpykeTorch's winner selection.
      Score: Tensor }

/// The network's weights (not trained by gradients: `requires_grad` is off) and its forward pass. The number of
/// layers already trained is part of the state (buffer `trained`), so a checkpoint records how far layer-by-layer
/// training got.
type StdpNetwork(settings: StdpNetworkSettings) as this =
    inherit torch.nn.Module<Tensor, Tensor>("StdpNetwork")
    do StdpNetworkSettings.validate settings
    let shapes = StdpNetworkSettings.inputShapes settings
    let generator = new torch.Generator (uint64 settings.Seed) // used only while the weights are drawn below
    let init (shape: int64[]) =
        let w = torch.randn (shape, dtype = torch.float32, generator = generator) * settings.WeightStd + settings.WeightMean
        torch.nn.Parameter (w.clamp_min(0.0).clamp_max (1.0), requires_grad = false)
    let convWeights =
        settings.Layers |> Array.mapi (fun i l ->
            let c, _, _ = shapes.[i]
            init [| int64 l.Features; int64 c; int64 l.Kernel; int64 l.Kernel |])
    let decisionWeight =
        let c, h, w = shapes.[shapes.Length - 1]
        init [| int64 (settings.Decision.Classes * settings.Decision.FeaturesPerClass); int64 c; int64 h; int64 w |]
    let trained = torch.zeros ([| 1L |], dtype = torch.int64)
    do
        // Disposed only after the last draw: a generator the collector finalized during a draw would be freed while
        // libtorch reads it.
        generator.Dispose ()
        convWeights |> Array.iteri (fun i w -> this.register_parameter ($"conv{i}", w))
        this.register_parameter ("decision", decisionWeight)
        this.register_buffer ("trained", trained)

    /// The settings the network was built with.
    member _.Settings = settings
    /// The weight [F; C; k; k] of convolutional layer i (a parameter without gradient; update it under no_grad).
    member _.ConvWeight (i: int) : Tensor = convWeights.[i]
    /// The decision weight [N; C; h; w] (the kernel covers the whole map entering the decision layer).
    member _.DecisionWeight : Tensor = decisionWeight
    /// The (channels, height, width) entering conv layer i (i = L: the decision layer).
    member _.InputShape (i: int) : int * int * int = shapes.[i]
    /// How many stages are trained: 0..L conv layers, L + 1 once the decision layer is trained too.
    member _.TrainedStages
        with get () : int = int (trained.[0].ToInt64 ())
        and set (v: int) = trained.[0] <- torch.tensor (int64 v)

    /// Cumulative spikes [T; B; C; H; W] from first-spike times [B; C; H; W] (T or more = never).
    member _.SpikesOf (times: Tensor) : Tensor =
        (Encoding.spikesAt settings.Steps times).cumsum(0L).clamp_max (1.0)

    /// Runs a convolution of `weight` (stride 1, `padding`) over cumulative spikes [T; B; C; H; W] as one merged
    /// [T·B] batch, fires at V ≥ θ (θ = 0: V > 0) and returns potentials, first-spike times and tie-breaking scores.
    /// With `forceAtEnd`, a neuron that has not reached θ by the last step fires there when V_{T-1} > 0 (a forced
    /// decision at the end of the window, so every sample with any input gets a decision).
    member _.Fire (weight: Tensor) (padding: int) (threshold: float) (forceAtEnd: bool) (spikes: Tensor) : StdpLayerOutput =
        let t, b = spikes.shape.[0], spikes.shape.[1]
        let merged = spikes.reshape (Array.append [| t * b |] spikes.shape.[2..])
        let v = torch.nn.functional.conv2d (merged, weight, padding = [| int64 padding; int64 padding |])
        let v = v.reshape (Array.append [| t; b |] v.shape.[1..])
        let fired = (if threshold > 0.0 then v.ge (threshold.ToScalar ()) else v.gt ((0.0).ToScalar ())).``to`` torch.float32
        let fired =
            if not forceAtEnd then fired
            else
                // A neuron still below θ at the last step fires there if its potential is positive.
                let last = v.narrow(0L, t - 1L, 1L).gt((0.0).ToScalar ()).``to`` torch.float32
                torch.cat ([| fired.narrow (0L, 0L, t - 1L); torch.maximum (fired.narrow (0L, t - 1L, 1L), last) |], 0L)
        { Potentials = v; Times = Plasticity.firstSpikeTimes fired; Score = (fired * v).sum (0L) }

    /// Conv layer i on input first-spike times [B; C; H; W]: its output after point-wise inhibition (before pooling).
    member this.Layer (i: int) (inputTimes: Tensor) : StdpLayerOutput =
        let l = settings.Layers.[i]
        let out = this.Fire convWeights.[i] l.Padding l.Threshold false (this.SpikesOf inputTimes)
        let keep = Plasticity.pointwiseInhibition settings.Steps out.Times out.Score
        let never = float settings.Steps
        { out with Times = torch.where (keep.gt ((0.0).ToScalar ()), out.Times, torch.zeros_like (out.Times) + never) }

    /// First-spike times after pooling layer i's output: max pooling of cumulative spikes = min pooling of times.
    member _.Pool (i: int) (times: Tensor) : Tensor =
        let l = settings.Layers.[i]
        if l.PoolKernel = 1 && l.PoolStride = 1 then times
        else
            // Pad with "never" so border windows never pick a padded value.
            let never = float settings.Steps
            let negated = torch.nn.functional.pad (-times, [| int64 l.PoolPadding; int64 l.PoolPadding; int64 l.PoolPadding; int64 l.PoolPadding |], value = -never)
            -(torch.nn.functional.max_pool2d (negated, [| int64 l.PoolKernel; int64 l.PoolKernel |], [| int64 l.PoolStride; int64 l.PoolStride |]))

    /// Input first-spike times [B; C; H; W] → the first-spike times entering layer `stage` (0 = the input itself,
    /// L = the decision layer's input).
    member this.Features (stage: int) (inputTimes: Tensor) : Tensor =
        if stage < 0 || stage > settings.Layers.Length then invalidArg "stage" $"must lie in [0, {settings.Layers.Length}], got {stage}"
        let mutable x = inputTimes
        for i in 0 .. stage - 1 do
            x <- this.Pool i (this.Layer i x).Times
        x

    /// The decision layer on its input first-spike times [B; C; h; w]: potentials and first-spike times [.; N; 1; 1].
    /// Neurons fire at V ≥ θ, or at the last step when V > 0 (forced decision; see `Fire`).
    member this.DecisionLayer (decisionInput: Tensor) : StdpLayerOutput =
        this.Fire decisionWeight 0 settings.Decision.Threshold true (this.SpikesOf decisionInput)

    /// The decision of every sample from the decision layer's output: the class of the neuron that fires first
    /// (ties: larger score Σ_t s_t V_t), -1 when none fires. Also returns the winners (one per deciding sample).
    member _.Decide (output: StdpLayerOutput) : int[] * Plasticity.Winner[] =
        let winners = Plasticity.kWinners 1 0 settings.Steps output.Times output.Score
        let decisions = Array.create (int output.Times.shape.[0]) -1
        for w in winners do decisions.[w.Sample] <- w.Feature / settings.Decision.FeaturesPerClass
        decisions, winners

    /// Predicted class of every sample (-1 = no decision) for input first-spike times [B; C; H; W].
    member this.Predict (inputTimes: Tensor) : int[] =
        fst (this.Decide (this.DecisionLayer (this.Features settings.Layers.Length inputTimes)))

    /// Predicted classes as int64 [B] (-1 = no decision) for input first-spike times [B; C; H; W].
    override this.forward (inputTimes: Tensor) : Tensor =
        torch.tensor (this.Predict inputTimes |> Array.map int64)
