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
    let layers =
        model.LabelPathLinears |> Array.mapi (fun i linear ->
            let mapping = Deploy.cuLif names.[i] config.Neuron threshold
            use w = linear.weight.detach().``to`` torch.float64
            let outputs, inputs = int w.shape.[0], int w.shape.[1]
            { Name = names.[i]; Shape = [| outputs |]
              Incoming = Some (FloatDense (inputs, toFloat64Array w |> Array.map (fun x -> x * mapping.WeightScale)))
              CurrentDecay = mapping.CurrentDecay; VoltageDecay = mapping.VoltageDecay; Threshold = threshold; Bias = Array.zeroCreate outputs; Recurrent = None })
    FloatNetwork.validate { Layers = Array.append [| Deploy.inputLayer [| config.Inputs |] |] layers }

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

/// What `deployToFolder` wrote and measured.
type FolderDeployment =
    { /// The quantized label path and every task's threshold mantissas.
      Deployment: Deployment
      /// One emulator run per task.
      Runs: TaskRun[]
      /// The files written: the NetX network, the NIR graph and the profile text.
      Files: string list
      /// "no value was clipped" or how many values the quantization clipped.
      ClipSummary: string }

/// The main job's deployment (thesis 4.4): the label path of a trained `model` quantized once, written as
/// `tmsnn.net` (NetX) and `tmsnn.nir` (NIR, time step `binMs`) into `directory`, every task run on the emulator for
/// samples [N; T; F] with classes [N] changing only the threshold mantissas, and the per-task accuracy, SynOps and
/// energy estimate written to `loihi-profile.txt`. Every file is written atomically.
let deployToFolder (chip: ChipConstants) (directory: string) (model: TmSnn) (binMs: float) (samples: Tensor) (classes: Tensor) : FolderDeployment =
    if String.IsNullOrWhiteSpace directory then invalidArg "directory" "must name a folder"
    IO.Directory.CreateDirectory directory |> ignore
    let deployment = deploy model
    let netx = IO.Path.Combine (directory, "tmsnn.net")
    let nir = IO.Path.Combine (directory, "tmsnn.nir")
    let profile = IO.Path.Combine (directory, "loihi-profile.txt")
    AtomicFile.write netx (fun p -> Netx.write p deployment.Quantized.Network)
    AtomicFile.write nir (fun p -> Nir.write p (NirMapping.ofNetwork (binMs / 1000.0) deployment.Quantized.Network))
    let tasks = model.Tasks
    let runs = Array.init model.TaskCount (fun k -> runTask chip deployment tasks k samples classes)
    let thresholds = Tensors.toFloat64Array (model.Thresholds.detach ())
    let n = int samples.shape.[0]
    let text =
        runs |> Array.map (fun r ->
            $"task {r.Task + 1} ({tasks.[r.Task].Name}), phi = {thresholds.[r.Task]}, threshold mantissas %A{deployment.Thresholds.[r.Task]}, emulated accuracy {100.0 * r.Accuracy:F2}%% on {n} samples, {r.StepsPerSample} steps per sample{Environment.NewLine}{Profiler.report r.Profile}")
    let clipped = if deployment.Clips.IsEmpty then "no value was clipped" else $"{deployment.Clips.Length} values were clipped"
    AtomicFile.write profile (fun p ->
        IO.File.WriteAllText (p, String.Join (Environment.NewLine + Environment.NewLine, text) + Environment.NewLine + $"quantization: {clipped}" + Environment.NewLine))
    { Deployment = deployment; Runs = runs; Files = [ netx; nir; profile ]; ClipSummary = clipped }

/// The metrics JSON of a run: settings, per-epoch history, per-task evaluation (accuracy, precision, recall, F1,
/// confusion, per-layer activity) and, when run, the Loihi emulation per task.
let metricsJson (settings: (string * string) list) (history: Training.History)
                (tasks: TmSnnTraining.TaskEvaluation[]) (loihi: TaskRun[]) : string =
    Snn.Report.MetricsJson.document (fun w ->
     w.WriteStartObject ()
     Snn.Report.MetricsJson.writeSettings w settings
     w.WriteStartArray "history"
     for e in history.Entries do
         w.WriteStartObject ()
         w.WriteNumber ("epoch", e.Epoch)
         w.WriteNumber ("train_loss", e.TrainLoss)
         w.WriteNumber ("train_accuracy", e.TrainAccuracy)
         w.WriteNumber ("seconds", e.Seconds)
         // Per task k and label-path layer l: mean ‖∂L/∂W_l‖ and firing rate over task k's batches of the epoch.
         Snn.Report.MetricsJson.writeRows w "gradient_norm_per_task_and_layer" (TmSnnTraining.gradientNorms tasks.Length e)
         Snn.Report.MetricsJson.writeRows w "firing_rate_per_task_and_layer" (TmSnnTraining.firingRates tasks.Length e)
         w.WriteEndObject ()
     w.WriteEndArray ()
     w.WriteStartArray "tasks"
     for t in tasks do
         w.WriteStartObject ()
         w.WriteNumber ("task", t.Task)
         w.WriteString ("name", t.Name)
         w.WriteNumber ("threshold", t.Threshold)
         w.WriteNumber ("current", t.Current)
         w.WriteNumber ("accuracy", t.Report.Accuracy)
         w.WriteNumber ("macro_precision", t.Report.MacroPrecision)
         w.WriteNumber ("macro_recall", t.Report.MacroRecall)
         w.WriteNumber ("macro_f1", t.Report.MacroF1)
         Snn.Report.MetricsJson.writeFloats w "precision" t.Report.Precision
         Snn.Report.MetricsJson.writeFloats w "recall" t.Report.Recall
         Snn.Report.MetricsJson.writeFloats w "f1" t.Report.F1
         Snn.Report.MetricsJson.writeMatrix w "confusion" t.Confusion
         w.WriteStartArray "layers"
         for a in t.Activity do
             w.WriteStartObject ()
             w.WriteNumber ("layer", a.Layer)
             w.WriteNumber ("neurons", a.Neurons)
             w.WriteNumber ("events_per_sample", a.Events)
             w.WriteNumber ("syn_ops_per_sample", a.SynOps)
             w.WriteNumber ("ann_activations", a.Activations)
             w.WriteNumber ("ann_macs", a.Macs)
             w.WriteEndObject ()
         w.WriteEndArray ()
         match loihi |> Array.tryFind (fun r -> r.Task = t.Task) with
         | Some r ->
             w.WriteStartObject "loihi"
             w.WriteNumber ("accuracy", r.Accuracy)
             w.WriteNumber ("steps_per_sample", r.StepsPerSample)
             let samples = max 1 (r.Profile.Steps / r.StepsPerSample)
             w.WriteNumber ("syn_ops_per_sample", float (r.Profile.Layers |> Array.sumBy (fun l -> l.SynOps)) / float samples)
             w.WriteNumber ("spikes_per_sample", float (r.Profile.Layers |> Array.sumBy (fun l -> l.Spikes)) / float samples)
             r.Profile.EnergyPerSample |> Option.iter (fun e -> w.WriteNumber ("dynamic_energy_per_sample_joules", e))
             w.WriteString ("chip", r.Profile.Chip.Name)
             w.WriteEndObject ()
         | None -> ()
         w.WriteEndObject ()
     w.WriteEndArray ()
     w.WriteEndObject ())
