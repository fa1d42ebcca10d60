/// Deployment of a trained Snn network on Loihi: any feed-forward chain of synapse layers (Linear, `SpikeLinear` or
/// Conv2d, optionally inside `TimeDistributed`) each followed by IF, LIF or CuLIF neurons becomes a float CUBA-LIF
/// network (`FloatNetwork`), quantized by `NetworkQuantizer` and run on the bit-accurate emulator. `DenseSnn`,
/// `SpikingSequential` chains and TM-SNN's label path are cases of it; whatever cannot be mapped is refused with a
/// message naming the layer and the reason.
///
/// Loihi's neuron per step (lava-dl CUBA, see `FloatNetwork`): I ← (1 - currentDecay) I + a, V ← (1 - voltageDecay) V
/// + I + bias, spike when V > θ, then V ← 0. Snn's neurons map onto it exactly (dt, τ in ms):
///   CuLIF  i ← α i + W x, v ← β v + (1 - β) i, α = e^{-dt/τ_syn}, β = e^{-dt/τ_mem}:
///          currentDecay = 1 - α, voltageDecay = 1 - β, weights (1 - β) W (Loihi's I is (1 - β) i); no synapse bias
///          (a bias enters Snn's current but Loihi's voltage).
///   LIF    v ← β v + c (W x + b), exact β = e^{-dt/τ}, Euler β = 1 - dt/τ, c = 1 - β in both:
///          currentDecay = 1 (no synaptic memory: I = a), voltageDecay = 1 - β, weights c W, bias c b.
///   IF     v ← v + W x + b: currentDecay = 1, voltageDecay = 0, weights W, bias b.
/// Every neuron must rest at 0 and reset hard to 0 with no refractory period and a current (not conductance) input.
/// Two differences of the deployment remain, measured by the emulated accuracy rather than hidden: Loihi adds one step
/// of latency per layer, and it spikes on V > θ where Snn spikes on v ≥ θ.
[<RequireQualifiedAccess>]
module Snn.Loihi.Deploy

open System
open TorchSharp
open Snn
open Snn.Modules
open Snn.Neurons
open Snn.Tensors

/// How one kind of neuron maps onto Loihi's CUBA neuron.
type NeuronMapping =
    { /// Fraction of the current lost per step.
      CurrentDecay: float
      /// Fraction of the voltage lost per step.
      VoltageDecay: float
      /// Factor applied to the incoming weights (and to a synapse bias, which becomes the voltage bias).
      WeightScale: float
      /// Whether a synapse bias can be mapped (it cannot when it would enter a decaying current).
      AcceptsBias: bool
      /// The threshold θ.
      Threshold: float }

let private refuse (layer: string) (reason: string) : 'a = invalidArg "model" $"layer '{layer}' cannot be deployed on Loihi: {reason}"

let private checkRestAndReset (layer: string) (vRest: float) (vReset: float) (reset: ResetMode) =
    if vRest <> 0.0 || vReset <> 0.0 then refuse layer $"Loihi rests and resets at 0; the neurons have VRest = {vRest}, VReset = {vReset}"
    if reset <> Hard then refuse layer $"Loihi's CUBA neuron resets hard; the neurons use a {reset} reset"

/// The CUBA mapping of CuLIF neurons with threshold `threshold`.
let cuLif (layer: string) (p: CuLifParameters) (threshold: float) : NeuronMapping =
    checkRestAndReset layer p.VRest p.VReset p.Reset
    let alpha, beta = CuLif.decays p
    { CurrentDecay = 1.0 - alpha; VoltageDecay = 1.0 - beta; WeightScale = 1.0 - beta; AcceptsBias = false; Threshold = threshold }

/// The CUBA mapping of LIF neurons with threshold `threshold`.
let lif (layer: string) (p: LifParameters) (threshold: float) : NeuronMapping =
    checkRestAndReset layer p.VRest p.VReset p.Reset
    if p.RefractorySteps <> 0 then refuse layer $"Loihi's CUBA neuron has no refractory period; the neurons have {p.RefractorySteps} steps"
    match p.Coupling with
    | Conductance _ -> refuse layer "conductance input has no Loihi counterpart (only current input maps)"
    | Direct -> ()
    let beta =
        match p.Scheme with
        | ExactExponential -> Math.Exp (-p.Dt / p.TauMem)
        | ForwardEuler -> 1.0 - p.Dt / p.TauMem
    { CurrentDecay = 1.0; VoltageDecay = 1.0 - beta; WeightScale = 1.0 - beta; AcceptsBias = true; Threshold = threshold }

/// The CUBA mapping of IF neurons with threshold `threshold`.
let integrateAndFire (layer: string) (p: IfParameters) (threshold: float) : NeuronMapping =
    checkRestAndReset layer 0.0 p.VReset p.Reset
    { CurrentDecay = 1.0; VoltageDecay = 0.0; WeightScale = 1.0; AcceptsBias = true; Threshold = threshold }

/// The threshold a neuron layer runs with: its modulation's scalar threshold when set, else the parameter's.
let private thresholdOf (layer: string) (neurons: NeuronLayer) (parameter: float) : float =
    match neurons.Modulation.ExternalCurrent with
    | Some _ -> refuse layer "an external current has no exact Loihi counterpart (only threshold modulation maps)"
    | None -> ()
    match neurons.Modulation.Threshold with
    | None -> parameter
    | Some t when t.numel () = 1L -> t.ToDouble ()
    | Some t -> refuse layer $"its threshold modulation has {t.numel ()} values; Loihi takes one threshold per layer"

/// Layer 0 of every deployed network: the input neurons of the given shape, whose spikes are given.
let inputLayer (shape: int[]) : FloatLayer =
    { Name = "input"; Shape = shape; Incoming = None; CurrentDecay = 1.0; VoltageDecay = 1.0; Threshold = 0.0
      Bias = Array.zeroCreate (shape |> Array.fold (*) 1); Recurrent = None }

/// The synapses of a deployable layer: the connection, its output shape and its bias.
type private Synapses = { Name: string; Connection: FloatConnection; OutShape: int[]; Bias: float[] option }

let private weightsOf (w: Tensor) = (use d = w.detach().``to`` torch.float64 in toFloat64Array (d.contiguous ()))

let private biasOf (bias: Tensor) =
    if isNull (box bias) || bias.Handle = IntPtr.Zero then None else Some (weightsOf bias)

let private linear (name: string) (inShape: int[]) (weight: Tensor) (bias: Tensor) : Synapses =
    let outputs, inputs = int weight.shape.[0], int weight.shape.[1]
    let count = inShape |> Array.fold (*) 1
    if count <> inputs then refuse name $"takes {inputs} inputs but the layer before gives {count}"
    { Name = name; Connection = FloatDense (inputs, weightsOf weight); OutShape = [| outputs |]; Bias = biasOf bias }

/// The synapses of a convolution with geometry g over input [C; H; W], weights [O; C; kh; kw] and bias [O] (or null).
let private convolution (name: string) (inShape: int[]) (g: ConvGeometry) (weight: Tensor) (bias: Tensor) : Synapses =
    if g.InChannels <> inShape.[0] then refuse name $"takes {g.InChannels} channels but the layer before gives {inShape.[0]}"
    // One bias per output channel, shared by its H' × W' neurons.
    let perNeuron (b: float[]) = Array.init (g.OutChannels * g.OutHeight * g.OutWidth) (fun k -> b.[k / (g.OutHeight * g.OutWidth)])
    { Name = name; Connection = FloatConv (g, weightsOf weight); OutShape = [| g.OutChannels; g.OutHeight; g.OutWidth |]
      Bias = biasOf bias |> Option.map perNeuron }

let private conv (name: string) (inShape: int[]) (c: TorchSharp.Modules.Conv2d) : Synapses =
    if inShape.Length <> 3 then refuse name $"is a convolution but its input is not [C; H; W] (shape %A{inShape})"
    if c.padding_mode <> PaddingModes.Zeros then refuse name "only zero padding maps onto Loihi's convolution"
    if c.padding_type.HasValue then refuse name "'same'/'valid' padding is not supported; give the padding in pixels"
    let g =
        { InChannels = int c.in_channels; InHeight = inShape.[1]; InWidth = inShape.[2]; OutChannels = int c.out_channels
          KernelHeight = int c.kernel_size.[0]; KernelWidth = int c.kernel_size.[1]
          StrideH = int c.stride.[0]; StrideW = int c.stride.[1]; PaddingH = int c.padding.[0]; PaddingW = int c.padding.[1]
          DilationH = int c.dilation.[0]; DilationW = int c.dilation.[1]; Groups = int c.groups }
    convolution name inShape g c.weight c.bias

let private spikeConv (name: string) (inShape: int[]) (c: SpikeConv2d) : Synapses =
    if inShape.Length <> 3 then refuse name $"is a convolution but its input is not [C; H; W] (shape %A{inShape})"
    let g =
        { InChannels = c.InChannels; InHeight = inShape.[1]; InWidth = inShape.[2]; OutChannels = c.OutChannels
          KernelHeight = c.KernelSize; KernelWidth = c.KernelSize; StrideH = c.Stride; StrideW = c.Stride
          PaddingH = c.Padding; PaddingW = c.Padding; DilationH = 1; DilationW = 1; Groups = 1 }
    convolution name inShape g c.Weight c.Bias

/// The layers of a module in the order they run: containers are opened, `TimeDistributed` unwrapped, and every
/// module Snn knows as one step of a chain (synapses, neurons, identities at inference) kept whole.
let rec private leaves (prefix: string) (m: torch.nn.Module) : (string * torch.nn.Module) list =
    // Containers such as SpikingSequential register their layers as "0", "1", ...: the layer's own name says more.
    let name (child: string) (c: torch.nn.Module) =
        let own = if child |> Seq.forall Char.IsDigit then c.GetName () else child
        if prefix = "" then own else $"{prefix}.{own}"
    match m with
    | :? TimeDistributed as t -> [ prefix, t.Inner :> torch.nn.Module ]
    | :? NeuronLayer | :? LifLayer | :? SpikeLinear | :? SpikeConv2d | :? TorchSharp.Modules.Linear | :? TorchSharp.Modules.Conv2d -> [ prefix, m ]
    | _ ->
        // A facade wrapper can hold its layer twice (registered as "core" and found again in its field): once is enough.
        let seen = Collections.Generic.HashSet<torch.nn.Module> (HashIdentity.Reference)
        let children = [ for struct (n, c) in m.named_children () do if seen.Add c then yield n, c ]
        if children.IsEmpty then [ prefix, m ] else children |> List.collect (fun (n, c) -> leaves (name n c) c)

/// The float CUBA-LIF network of `model` for inputs of shape `inputShape` ([F], or [C; H; W] before a convolution):
/// an input layer, then one layer per (synapses, neurons) pair of the chain. Raises ArgumentException naming the
/// layer when the model is not such a chain or a layer cannot be mapped.
let toFloatNetwork (inputShape: int[]) (model: torch.nn.Module) : FloatNetwork =
    if isNull (box model) then nullArg "model"
    if isNull inputShape || inputShape.Length = 0 || inputShape |> Array.exists (fun d -> d <= 0) then
        invalidArg "inputShape" $"must list positive sizes, got %A{inputShape}"
    let count (shape: int[]) = shape |> Array.fold (*) 1
    let layers = ResizeArray<FloatLayer> [ inputLayer inputShape ]
    let mutable shape = inputShape
    let mutable pending : Synapses option = None
    let addSynapses (name: string) (build: unit -> Synapses) =
        match pending with
        | Some before -> refuse name $"follows the synapses '{before.Name}' without neurons between them"
        | None -> pending <- Some (build ())
    let addNeurons (name: string) (mapping: NeuronMapping) =
        match pending with
        | None -> refuse name "has no synapses before it (Loihi layers are synapses followed by neurons)"
        | Some s ->
            let n = count s.OutShape
            let bias =
                match s.Bias with
                | Some b when b |> Array.exists (fun v -> v <> 0.0) && not mapping.AcceptsBias ->
                    refuse s.Name "has a bias, which enters the CuLIF current; Loihi adds a bias to the voltage (train it bias-free)"
                | Some b -> b |> Array.map (fun v -> v * mapping.WeightScale)
                | None -> Array.zeroCreate n
            let scaled =
                match s.Connection with
                | FloatDense (inputs, w) -> FloatDense (inputs, w |> Array.map (fun v -> v * mapping.WeightScale))
                | FloatConv (g, w) -> FloatConv (g, w |> Array.map (fun v -> v * mapping.WeightScale))
            layers.Add
                { Name = s.Name; Shape = s.OutShape; Incoming = Some scaled; CurrentDecay = mapping.CurrentDecay
                  VoltageDecay = mapping.VoltageDecay; Threshold = mapping.Threshold; Bias = bias; Recurrent = None }
            shape <- s.OutShape
            pending <- None
    for name, m in leaves "" model do
        match m with
        | :? TorchSharp.Modules.Linear as l -> addSynapses name (fun () -> linear name shape l.weight l.bias)
        | :? SpikeLinear as l ->
            let p = dict [ for struct (n, t) in l.named_parameters () -> n, t :> Tensor ]
            addSynapses name (fun () -> linear name shape p.["weight"] (if p.ContainsKey "bias" then p.["bias"] else null))
        | :? TorchSharp.Modules.Conv2d as c -> addSynapses name (fun () -> conv name shape c)
        | :? SpikeConv2d as c -> addSynapses name (fun () -> spikeConv name shape c)
        | :? LifLayer as l -> addNeurons name (lif name l.Neuron l.Neuron.VThreshold)
        | :? ModulatedLifLayer as l -> addNeurons name (lif name l.Neuron (thresholdOf name l l.Neuron.VThreshold))
        | :? IfLayer as l -> addNeurons name (integrateAndFire name l.Neuron (thresholdOf name l l.Neuron.VThreshold))
        | :? CuLifLayer as l ->
            if l.Trainable then refuse name "learns per-neuron decays (PCuLIF); Loihi takes one decay per layer"
            addNeurons name (cuLif name l.Neuron (thresholdOf name l l.Neuron.VThreshold))
        | :? SharedDropout | :? TorchSharp.Modules.Dropout -> ()   // the identity at inference
        | :? TimeFlatten | :? TorchSharp.Modules.Flatten -> shape <- [| count shape |]
        | other -> refuse name $"is a {other.GetType().Name}; only Linear/Conv2d synapses followed by IF, LIF or CuLIF neurons map onto Loihi"
    match pending with
    | Some s -> refuse s.Name "ends the chain without neurons after it"
    | None -> ()
    if layers.Count = 1 then invalidArg "model" "holds no synapse layer to deploy"
    FloatNetwork.validate { Layers = layers.ToArray () }

/// The model quantized for Loihi (`NetworkQuantizer.quantize` with its automatic scales).
let quantize (inputShape: int[]) (model: torch.nn.Module) : QuantizedNetwork =
    NetworkQuantizer.quantize None (toFloatNetwork inputShape model)

/// The emulator's output spike counts [N][outputs] for samples [N; T; F] (binary: a value > 0 is a spike), each
/// run from rest for T + layers steps (Loihi's latency), with the given per-layer threshold mantissas if any, and
/// the profile of all runs back to back.
let emulate (chip: ChipConstants) (network: Network) (thresholds: int[] option) (samples: Tensor) : int[][] * Profile =
    if isNull (box samples) || samples.dim () <> 3 then invalidArg "samples" "must be [N; T; F]"
    let n, steps, features = int samples.shape.[0], int samples.shape.[1], int samples.shape.[2]
    if features <> network.Layers.[0].Count then invalidArg "samples" $"has {features} features for {network.Layers.[0].Count} input neurons"
    let total = steps + network.Layers.Length
    let data = toFloat64Array (samples.``to`` torch.float64)
    let options = { RunOptions.For total with Thresholds = thresholds }
    let results =
        Array.init n (fun s ->
            let spikes = Array.init total (fun t -> Array.init features (fun f -> t < steps && data.[(s * steps + t) * features + f] > 0.0))
            Emulator.run network (InputSpikes spikes) options)
    let counts =
        results |> Array.map (fun r ->
            let out = r.Spikes.[r.Spikes.Length - 1]
            Array.init (if out.Length = 0 then 0 else out.[0].Length) (fun j -> out |> Array.sumBy (fun row -> if row.[j] then 1 else 0)))
    let joined =
        { Spikes = Array.init network.Layers.Length (fun l -> results |> Array.collect (fun r -> r.Spikes.[l]))
          U = None; V = None
          Activity =
            Array.init network.Layers.Length (fun l ->
                { Spikes = results |> Array.collect (fun r -> r.Activity.[l].Spikes)
                  SynOps = results |> Array.collect (fun r -> r.Activity.[l].SynOps)
                  ActiveNeurons = results |> Array.collect (fun r -> r.Activity.[l].ActiveNeurons) }) }
    counts, Profiler.profile chip network joined (Some total)

/// The class of each sample: the output with the most spikes among `first .. first + classes - 1` (ties to the lowest).
let predictions (counts: int[][]) (first: int) (classes: int) : int[] =
    counts |> Array.map (fun c ->
        Array.init classes (fun l -> l, c.[first + l]) |> Array.maxBy (fun (l, k) -> k, -l) |> fst)

/// Accuracy of a deployed classifier on the emulator: samples [N; T; F], labels [N]; the prediction is the output
/// neuron with the most spikes. Returns the accuracy and the profile.
let evaluate (chip: ChipConstants) (network: QuantizedNetwork) (samples: Tensor) (labels: Tensor) : float * Profile =
    let counts, profile = emulate chip network.Network None samples
    let truth = toInt64Array labels
    if truth.Length <> counts.Length then invalidArg "labels" $"has {truth.Length} entries for {counts.Length} samples"
    let classes = if counts.Length = 0 then 0 else counts.[0].Length
    let hits = Array.map2 (fun p t -> if int64 p = t then 1 else 0) (predictions counts 0 classes) truth |> Array.sum
    float hits / float (max 1 counts.Length), profile
