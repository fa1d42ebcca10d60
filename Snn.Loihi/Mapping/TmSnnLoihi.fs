/// A trained TM-SNN on Loihi: its label path (input → feature layers → label hidden → concatenated labels) as a
/// float CUBA-LIF network, quantized once, and run on the bit-accurate emulator per task by changing only the
/// threshold mantissas (thesis 4.4: the weights and the memory do not change between tasks). The task classifier
/// is not deployed (the thesis does not use it at test time).
///
/// The CuLIF neurons map as every deployed CuLIF layer does (`Deploy.cuLif`); the label path is not a plain chain of
/// modules (the feature block also feeds the task classifier), so its layers are listed here.
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
    if config.Modulation <> ByThreshold then invalidArg "model" "only threshold modulation maps onto Loihi thresholds (an external current has no exact Loihi counterpart)"
    if task < 0 || task >= model.TaskCount then invalidArg "task" $"must lie in [0, {model.TaskCount}), got {task}"
    let threshold = model.Thresholds.[int64 task].ToDouble ()
    let names = Array.append (Array.init config.FeatureSizes.Length (fun i -> $"feature{i + 1}")) [| "label1"; "label2" |]
    let input =
        { Name = "input"; Shape = [| config.Inputs |]; Incoming = None; CurrentDecay = 1.0; VoltageDecay = 1.0; Threshold = 0.0
          Bias = Array.zeroCreate config.Inputs; Recurrent = None }
    let layers =
        model.LabelPathLinears |> Array.mapi (fun i linear ->
            let mapping = Deploy.cuLif names.[i] config.Neuron threshold
            use w = linear.weight.detach().``to`` torch.float64
            let outputs, inputs = int w.shape.[0], int w.shape.[1]
            { Name = names.[i]; Shape = [| outputs |]
              Incoming = Some (FloatDense (inputs, toFloat64Array w |> Array.map (fun x -> x * mapping.WeightScale)))
              CurrentDecay = mapping.CurrentDecay; VoltageDecay = mapping.VoltageDecay; Threshold = threshold; Bias = Array.zeroCreate outputs; Recurrent = None })
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
let runTask (chip: ChipConstants) (deployment: Deployment) (tasks: LabelMap[]) (task: int) (samples: Tensor) (classes: Tensor) : TaskRun =
    let network = deployment.Quantized.Network
    let counts, profile = Deploy.emulate chip network (Some deployment.Thresholds.[task]) samples
    let truth = toInt64Array (MultiTask.taskLabels tasks task classes)
    let predicted = Deploy.predictions counts (MultiTask.offsets tasks).[task] tasks.[task].LabelCount
    let hits = Array.map2 (fun p t -> if int64 p = t then 1 else 0) predicted truth |> Array.sum
    { Task = task; Accuracy = float hits / float (max 1 counts.Length); Profile = profile
      StepsPerSample = int samples.shape.[1] + network.Layers.Length }
