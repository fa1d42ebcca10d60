/// A trained TM-SNN on Loihi: its label path (input → feature layers → label hidden → concatenated labels) as a
/// float CUBA-LIF network, quantized once, and run on the bit-accurate emulator per task by changing only the
/// threshold mantissas (thesis 4.4: the weights and the memory do not change between tasks). The task classifier
/// is not deployed (the thesis does not use it at test time).
///
/// Mapping of the CuLIF recurrence (dt, τ in ms, α = exp(-dt/τ_syn), β = exp(-dt/τ_mem)):
///     i ← α i + W x,  v ← β v + (1 - β) i,  spike if v ≥ φ, v ← 0
/// equals lava-dl's CUBA neuron I ← (1 - currentDecay) I + a, V ← (1 - voltageDecay) V + I with currentDecay = 1 - α,
/// voltageDecay = 1 - β and weights (1 - β) W (the state I is (1 - β) i). Loihi adds one step of latency per layer
/// and spikes on V > threshold (strict); both are differences of the deployment, measured by the emulated accuracy.
[<RequireQualifiedAccess>]
module Snn.Loihi.TmSnnLoihi

open System
open TorchSharp
open Snn
open Snn.Modules
open Snn.Neurons
open Snn.Tensors

/// The label path of `model` as a float network with every layer's threshold set to task `task`'s φ. Raises
/// ArgumentException when the model cannot be mapped (current modulation, a non-zero resting or reset potential,
/// or a reset other than hard).
let toFloatNetwork (model: TmSnn) (task: int) : FloatNetwork =
    let config = model.Config
    let p = config.Neuron
    if config.Modulation <> ByThreshold then invalidArg "model" "only threshold modulation maps onto Loihi thresholds (an external current has no exact Loihi counterpart)"
    if p.VRest <> 0.0 || p.VReset <> 0.0 then invalidArg "model" $"Loihi resets to 0 and rests at 0; the neurons have VRest = {p.VRest}, VReset = {p.VReset}"
    if p.Reset <> Hard then invalidArg "model" $"Loihi CUBA-LIF has a hard reset; the neurons use {p.Reset}"
    if task < 0 || task >= model.TaskCount then invalidArg "task" $"must lie in [0, {model.TaskCount}), got {task}"
    let alpha, beta = CuLif.decays p
    let threshold = model.Thresholds.[int64 task].ToDouble ()
    let linears = model.LabelPathLinears
    let names = Array.append (Array.init config.FeatureSizes.Length (fun i -> $"feature{i + 1}")) [| "label1"; "label2" |]
    let input =
        { Name = "input"; Shape = [| config.Inputs |]; Incoming = None; CurrentDecay = 1.0; VoltageDecay = 1.0; Threshold = 0.0
          Bias = Array.zeroCreate config.Inputs }
    let layers =
        linears |> Array.mapi (fun i linear ->
            use w = linear.weight.detach().``to`` torch.float64
            let outputs, inputs = int w.shape.[0], int w.shape.[1]
            { Name = names.[i]; Shape = [| outputs |]
              Incoming = Some (FloatDense (inputs, toFloat64Array w |> Array.map (fun x -> x * (1.0 - beta))))
              CurrentDecay = 1.0 - alpha; VoltageDecay = 1.0 - beta; Threshold = threshold; Bias = Array.zeroCreate outputs })
    FloatNetwork.validate { Layers = Array.append [| input |] layers }

/// The label path quantized once (scales chosen for task 0's thresholds) and the threshold mantissas of every task
/// under those scales: `Thresholds.[k]` goes into `RunOptions.Thresholds` to run task k.
type Deployment =
    { /// The quantized network (task 0's thresholds).
      Quantized: QuantizedNetwork
      /// Per task, one threshold mantissa per layer.
      Thresholds: int[][]
      /// Values clipped by the quantization or by a task's threshold.
      Clips: Quantization.Clip list }

/// Quantizes the label path of `model` and computes every task's threshold mantissas.
let deploy (model: TmSnn) : Deployment =
    // The scale must leave room for the largest threshold: quantize with the largest φ, then map every task's.
    let largest = [| 0 .. model.TaskCount - 1 |] |> Array.maxBy (fun k -> model.Thresholds.[int64 k].ToDouble ())
    let quantized = NetworkQuantizer.quantize None (toFloatNetwork model largest)
    let perTask, clips =
        Array.init model.TaskCount (fun k ->
            let t = model.Thresholds.[int64 k].ToDouble ()
            NetworkQuantizer.thresholdMantissas quantized (Array.init quantized.Network.Layers.Length (fun l -> if l = 0 then 0.0 else t)))
        |> Array.unzip
    { Quantized = quantized; Thresholds = perTask; Clips = quantized.Clips @ List.concat clips }

/// The outcome of running one task on the emulator.
type TaskRun =
    { /// Task index k.
      Task: int
      /// Accuracy of the emulated network on the task's labels (most spikes in the task's slice wins).
      Accuracy: float
      /// The profile of all samples run back to back (a reset between samples), `Steps` per sample.
      Profile: Profile
      /// Steps per sample: T plus one per layer (Loihi's latency).
      StepsPerSample: int }

/// Runs task k on the emulator for samples [N; T; F] (binary; a value > 0 is a spike) with classes [N]; each sample
/// runs from rest for T + layers steps. Profiles with `chip`.
let runTask (chip: ChipConstants) (deployment: Deployment) (tasks: MultiTask.TaskDefinition[]) (task: int) (samples: Tensor) (classes: Tensor) : TaskRun =
    if isNull (box samples) || samples.dim () <> 3 then invalidArg "samples" "must be [N; T; F]"
    let network = deployment.Quantized.Network
    let n, steps, features = int samples.shape.[0], int samples.shape.[1], int samples.shape.[2]
    if features <> network.Layers.[0].Count then invalidArg "samples" $"has {features} features for {network.Layers.[0].Count} input neurons"
    let total = steps + network.Layers.Length
    let offset, labels = (MultiTask.offsets tasks).[task], tasks.[task].Labels
    let truth = toInt64Array (MultiTask.taskLabels tasks task classes)
    let data = toFloat64Array (samples.``to`` torch.float64)
    let options = { RunOptions.For total with Thresholds = Some deployment.Thresholds.[task] }
    let results =
        Array.init n (fun s ->
            let spikes = Array.init total (fun t -> Array.init features (fun f -> t < steps && data.[(s * steps + t) * features + f] > 0.0))
            Emulator.run network (InputSpikes spikes) options)
    let hits =
        results |> Array.mapi (fun s r ->
            let out = r.Spikes.[r.Spikes.Length - 1]
            let counts = Array.init labels (fun l -> out |> Array.sumBy (fun row -> if row.[offset + l] then 1 else 0))
            let best = counts |> Array.mapi (fun i c -> i, c) |> Array.maxBy (fun (i, c) -> c, -i) |> fst
            if int64 best = truth.[s] then 1 else 0)
        |> Array.sum
    let joined =
        { Spikes = Array.init network.Layers.Length (fun l -> results |> Array.collect (fun r -> r.Spikes.[l]))
          U = None; V = None
          Activity =
            Array.init network.Layers.Length (fun l ->
                { Spikes = results |> Array.collect (fun r -> r.Activity.[l].Spikes)
                  SynOps = results |> Array.collect (fun r -> r.Activity.[l].SynOps)
                  ActiveNeurons = results |> Array.collect (fun r -> r.Activity.[l].ActiveNeurons) }) }
    { Task = task; Accuracy = float hits / float (max 1 n); Profile = Profiler.profile chip network joined (Some total); StepsPerSample = total }
