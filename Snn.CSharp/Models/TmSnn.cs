using System.Threading;
using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.FSharp.Core;
using static TorchSharp.torch;
using F = global::Snn;
using FM = global::Snn.Modules;

namespace Snn.CSharp;

/// <summary>
/// One task of a threshold-modulated multi-task SNN: a map from the dataset's class index to the task's labels.
/// </summary>
/// <param name="Name">Short name for reports.</param>
/// <param name="LabelNames">The task's label names, indexed by label.</param>
/// <param name="ClassToLabel">The task label of every dataset class.</param>
public sealed record TaskDefinition(string Name, IReadOnlyList<string> LabelNames, IReadOnlyList<int> ClassToLabel)
{
    /// <summary>Digit tasks (thesis table 13): the digit, odd/even, greater than 5, value mod 3.</summary>
    public static IReadOnlyList<TaskDefinition> DigitTasks => F.MultiTask.digitTasks.Select(Of).ToList();

    /// <summary>Moving-patterns tasks: the pattern, translation/rotation, vertical motion, horizontal direction.</summary>
    public static IReadOnlyList<TaskDefinition> MovingPatternTasks => F.MultiTask.movingPatternTasks.Select(Of).ToList();

    /// <summary>Fashion-MNIST tasks: the item, upper body, footwear, garment group.</summary>
    public static IReadOnlyList<TaskDefinition> FashionTasks => F.MultiTask.fashionTasks.Select(Of).ToList();

    internal static TaskDefinition Of(F.LabelMap t) => new(t.Name, t.LabelNames, t.ClassToLabel);

    internal F.LabelMap ToCore() => new(name: Name, labelNames: LabelNames.ToArray(), classToLabel: ClassToLabel.ToArray());
}

/// <summary>What tells a TM-SNN which task to perform.</summary>
public enum TaskModulation
{
    /// <summary>Task k runs the feature and label blocks with threshold φ_k (TM-SNN).</summary>
    Threshold,
    /// <summary>Task k adds the current I_k to every modulated neuron's input (EC-SNN, thesis table 12).</summary>
    Current,
}

/// <summary>Every layer's spikes of one TM-SNN run, time-first.</summary>
/// <param name="Features">Spikes of the feature-block layers, [T, B, N_i].</param>
/// <param name="LabelHidden">Spikes of the label classifier's hidden layer.</param>
/// <param name="Labels">Spikes of the concatenated label outputs, [T, B, Σ labels].</param>
/// <param name="Tasks">Spikes of the task classifier [T, B, K], or <c>null</c> when it was not run.</param>
public sealed record TmSnnOutput(IReadOnlyList<Tensor> Features, Tensor LabelHidden, Tensor Labels, Tensor? Tasks);

/// <summary>What TM-SNN adds to a <see cref="TrainerSettings"/> run.</summary>
/// <param name="Gamma">γ of eq. 4.1, L = (1 - γ) L_y + γ L_t, in [0, 1].</param>
public sealed record TmSnnTrainingSettings(double Gamma = 0.0);

/// <summary>The evaluation of one task under its own modulation (thesis tables 10-16).</summary>
/// <param name="Task">Task index.</param>
/// <param name="Name">Task name.</param>
/// <param name="Threshold">φ_k (the base threshold under current modulation).</param>
/// <param name="Current">I_k (0 under threshold modulation).</param>
/// <param name="Report">Accuracy, precision, recall and F1.</param>
/// <param name="Layers">Events and SynOps per label-path layer and sample, with the ANN twin's activations and MACs.</param>
public sealed record TaskEvaluation(int Task, string Name, double Threshold, double Current, ClassificationReport Report, IReadOnlyList<LayerActivity> Layers);

/// <summary>
/// The threshold-modulated multi-task SNN (thesis ch. 4): a feature block, a label classifier whose outputs are the
/// concatenated labels of every task, and an unmodulated task classifier. Task k runs the feature and label blocks
/// under threshold φ_k (or current I_k). CuLIF neurons (lava-dl's CUBA), times in ms; tensors are time-first
/// [T, B, ...]; samples for training and evaluation are [N, T, F] with class indices [N].
/// </summary>
/// <remarks>
/// Functions return fresh tensors and never dispose their inputs. <see cref="Thresholds"/> and
/// <see cref="Currents"/> are plain tensors, not parameters: assign tensors with <c>requires_grad</c> to learn them.
/// </remarks>
public sealed class TmSnn : nn.Module<Tensor, Tensor>
{
    private readonly FM.TmSnn _core;

    /// <summary>Creates the network with freshly initialised weights (seed them with <c>torch.manual_seed</c>).</summary>
    /// <param name="inputs">Input features per step.</param>
    /// <param name="tasks">The tasks, in output order.</param>
    /// <param name="thresholds">φ_k per task; <c>null</c> means the thesis values 1.25, 5, 10, 15.</param>
    /// <param name="featureSizes">Feature-block sizes; <c>null</c> means the thesis' 512, 512.</param>
    /// <param name="labelHidden">Hidden neurons of the label classifier; <c>null</c> means the thesis' 128.</param>
    /// <param name="taskHidden">Hidden neurons of the task classifier (0: none); <c>null</c> means the thesis' 128.</param>
    /// <param name="modulation">Threshold or current modulation.</param>
    /// <param name="currents">I_k per task for current modulation; <c>null</c> means zeros.</param>
    /// <param name="dt">Step in ms; <c>null</c> means the thesis' 1 ms.</param>
    /// <param name="tauSyn">Synaptic time constant in ms; <c>null</c> means the thesis' 10 ms.</param>
    /// <param name="tauMem">Membrane time constant in ms; <c>null</c> means the thesis' 20 ms.</param>
    /// <param name="baseThreshold">The task classifier's threshold (and every layer's under current modulation);
    /// <c>null</c> means the thesis' 1.25.</param>
    /// <remarks>Every omitted value is read from the F# core's <c>TmSnnConfig.Thesis</c>, and the state dict is the
    /// F# <c>Snn.Modules.TmSnn</c>'s, key for key (feature1.inner.weight, …, label2.inner.weight, task2.inner.weight).</remarks>
    /// <exception cref="ArgumentException">A size, threshold or time constant is out of range.</exception>
    public TmSnn(int inputs, IReadOnlyList<TaskDefinition> tasks, IReadOnlyList<double>? thresholds = null,
                 IReadOnlyList<int>? featureSizes = null, int? labelHidden = null, int? taskHidden = null,
                 TaskModulation modulation = TaskModulation.Threshold, IReadOnlyList<double>? currents = null,
                 double? dt = null, double? tauSyn = null, double? tauMem = null, double? baseThreshold = null) : base("TmSnn")
    {
        ArgumentNullException.ThrowIfNull(tasks);
        if (tasks.Count == 0) throw new ArgumentException("needs at least one task", nameof(tasks));
        var coreTasks = tasks.Select(t => t.ToCore()).ToArray();
        var thesis = FM.TmSnnConfig.Thesis(inputs, coreTasks);
        var neuron = thesis.Neuron;
        var config = new FM.TmSnnConfig(
            inputs: inputs,
            featureSizes: featureSizes?.ToArray() ?? thesis.FeatureSizes,
            labelHidden: labelHidden ?? thesis.LabelHidden,
            taskHidden: taskHidden ?? thesis.TaskHidden,
            tasks: coreTasks,
            neuron: new global::Snn.Neurons.CuLifParameters(
                tauSyn: tauSyn ?? neuron.TauSyn, tauMem: tauMem ?? neuron.TauMem, dt: dt ?? neuron.Dt, vRest: neuron.VRest,
                vReset: neuron.VReset, vThreshold: baseThreshold ?? neuron.VThreshold, reset: neuron.Reset,
                detachReset: neuron.DetachReset, surrogate: neuron.Surrogate),
            weightGain: thesis.WeightGain,
            modulation: modulation == TaskModulation.Threshold ? FM.TaskModulation.ByThreshold : FM.TaskModulation.ByCurrent,
            thresholds: thresholds?.ToArray() ?? thesis.Thresholds,
            currents: currents?.ToArray() ?? thesis.Currents,
            kernel: thesis.Kernel,
            spikeGradient: thesis.SpikeGradient);
        _core = new FM.TmSnn(config);
        // The core's layers become this module's own children under their own names (not under "core."), so the
        // state dict is the F# network's; the thresholds and currents are plain tensors outside it.
        foreach (var (name, child) in _core.named_children()) register_module(name, child);
    }

    /// <summary>Switches training / evaluation mode here, in the adopted layers and in the F# core itself.</summary>
    /// <param name="train">Training mode when <c>true</c>.</param>
    public override void train(bool train = true)
    {
        base.train(train);
        _core.train(train);
    }

    /// <summary>The number of tasks.</summary>
    public int TaskCount => _core.TaskCount;

    /// <summary>The tasks, in output order.</summary>
    public IReadOnlyList<TaskDefinition> Tasks => _core.Tasks.Select(TaskDefinition.Of).ToList();

    /// <summary>The per-task thresholds φ [K] (float32); not a parameter.</summary>
    public Tensor Thresholds { get => _core.Thresholds; set => _core.Thresholds = value; }

    /// <summary>The per-task external currents I [K] (float32); not a parameter.</summary>
    public Tensor Currents { get => _core.Currents; set => _core.Currents = value; }

    /// <summary>The task <see cref="forward"/> performs.</summary>
    public int Task { get => _core.Task; set => _core.Task = value; }

    /// <summary>Runs task <paramref name="task"/> on input [T, B, inputs] and returns every layer's spikes.</summary>
    /// <param name="input">Time-first input.</param>
    /// <param name="task">Task index.</param>
    /// <param name="withTaskClassifier">Also run the (unmodulated) task classifier.</param>
    /// <returns>The spikes of every block.</returns>
    public TmSnnOutput Run(Tensor input, int task, bool withTaskClassifier = false)
    {
        var o = _core.Run(input, task, withTaskClassifier);
        return new(o.Features, o.LabelHidden, o.Labels, FSharpOption<Tensor>.get_IsSome(o.Tasks) ? o.Tasks.Value : null);
    }

    /// <summary>Task <paramref name="task"/>'s slice [T, B, labels_k] of the concatenated label spikes.</summary>
    /// <param name="labels">Concatenated label spikes [T, B, Σ labels].</param>
    /// <param name="task">Task index.</param>
    /// <returns>The slice.</returns>
    public Tensor Slice(Tensor labels, int task) => F.MultiTask.slice(_core.Tasks, task, labels);

    /// <summary>Trains the weights (thresholds and currents stay fixed) by the one trainer and reports every epoch.</summary>
    /// <param name="samples">Training frames [N, T, inputs].</param>
    /// <param name="classes">Dataset class indices [N] (int64).</param>
    /// <param name="settings">TM-SNN's own settings; <c>null</c> means the defaults.</param>
    /// <param name="trainer">Epochs, batch size, optimiser, checkpoints, ...; <c>null</c> means <see cref="TrainerSettings.TmSnnDefaults"/>.</param>
    /// <param name="progress">Receives each epoch's record.</param>
    /// <param name="cancellationToken">Checked before every batch.</param>
    /// <returns>The history of the run.</returns>
    public TrainingHistory Fit(Tensor samples, Tensor classes, TmSnnTrainingSettings? settings = null, TrainerSettings? trainer = null,
                               IProgress<TrainingEpoch>? progress = null, CancellationToken cancellationToken = default)
    {
        var s = settings ?? new TmSnnTrainingSettings();
        var core = F.TmSnnTraining.Settings.Default;
        var coreSettings = new F.TmSnnTraining.Settings(
            gamma: s.Gamma, labelLoss: core.LabelLoss, calibrate: core.Calibrate, calibrateAt: core.CalibrateAt, calibrationRate: core.CalibrationRate,
            selectedTaskOnly: core.SelectedTaskOnly);
        var history = F.TmSnnTraining.train(_core, (trainer ?? TrainerSettings.TmSnnDefaults).ToCore(), coreSettings, samples, classes,
            FSharpOption<Tuple<Tensor, Tensor>>.None, FuncConvert.FromAction<Tuple<int, int, int, double>>(_ => { }),
            TrainingHistory.Reporter(progress), cancellationToken);
        return TrainingHistory.FromCore(history);
    }

    /// <summary>Evaluates every task under its own modulation, reading only its slice.</summary>
    /// <param name="samples">Test frames [N, T, inputs].</param>
    /// <param name="classes">Dataset class indices [N] (int64).</param>
    /// <param name="batchSize">Samples per forward pass.</param>
    /// <returns>One evaluation per task.</returns>
    public IReadOnlyList<TaskEvaluation> Evaluate(Tensor samples, Tensor classes, int batchSize = 100) =>
        F.TmSnnTraining.evaluate(_core, batchSize, samples, classes).Select(e =>
        {
            var r = e.Report;
            return new TaskEvaluation(e.Task, e.Name, e.Threshold, e.Current,
                new ClassificationReport(r.Precision, r.Recall, r.F1, r.Support, r.MacroPrecision, r.MacroRecall, r.MacroF1, r.Accuracy),
                e.Activity.Select(a => new LayerActivity(a.Layer, a.Neurons, a.Events, a.SynOps, a.Activations, a.Macs)).ToList());
        }).ToList();

    /// <summary>Concatenated label spikes [T, B, Σ labels] for task <see cref="Task"/>.</summary>
    /// <param name="input">Time-first input [T, B, inputs].</param>
    /// <returns>Time-first label spikes.</returns>
    public override Tensor forward(Tensor input) => _core.forward(input);

    /// <summary>The label path (input → feature layers → label hidden → concatenated labels) on Loihi with every
    /// layer at task <paramref name="task"/>'s threshold, quantized with lava-dl's rules (the task classifier is not
    /// deployed; F# <c>TmSnnLoihi</c>).</summary>
    /// <param name="task">The task whose threshold the layers take.</param>
    /// <returns>The quantized network.</returns>
    /// <exception cref="ArgumentException">Current modulation (no exact Loihi counterpart), a task out of range, or
    /// neurons that cannot be mapped; the message says which.</exception>
    public LoihiNetwork ToLoihi(int task = 0) =>
        LoihiNetwork.FromQuantized(global::Snn.Loihi.NetworkQuantizer.quantize(null, global::Snn.Loihi.TmSnnLoihi.toFloatNetwork(_core, task)));
}
