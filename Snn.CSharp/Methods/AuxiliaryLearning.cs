using System.Threading;
using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.FSharp.Core;
using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>
/// An auxiliary task of auxiliary learning (thesis ch. 3) as a label map: <c>Labels[c]</c> is the auxiliary label of
/// main class c. Valid maps cover every main class and use the labels 0 .. K-1 without gaps (K ≥ 2).
/// </summary>
public sealed class AuxiliaryTask
{
    internal global::Snn.LabelMap Core { get; }

    internal AuxiliaryTask(global::Snn.LabelMap core) => Core = core;

    /// <summary>The task's name.</summary>
    public string Name => Core.Name;

    /// <summary>The auxiliary label of every main class.</summary>
    public IReadOnlyList<int> Labels => Array.AsReadOnly(Core.ClassToLabel);

    /// <summary>K, the number of auxiliary labels.</summary>
    public int Classes => Core.LabelCount;

    /// <summary>A validated map from <c>labels[c]</c> = auxiliary label of main class c.</summary>
    /// <param name="name">The task's name.</param>
    /// <param name="labels">One auxiliary label per main class, 0 .. K-1 without gaps.</param>
    /// <returns>The task.</returns>
    /// <exception cref="ArgumentException">A label is negative, a label in 0 .. K-1 is unused, or K &lt; 2.</exception>
    public static AuxiliaryTask Create(string name, IReadOnlyList<int> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        return new(global::Snn.LabelMapModule.ofLabels(name, labels.ToArray()));
    }

    /// <summary>A validated map from groups of main classes: group g holds the classes with auxiliary label g.</summary>
    /// <param name="name">The task's name.</param>
    /// <param name="mainClasses">Number of main classes; each must be in exactly one group.</param>
    /// <param name="groups">The groups of class indices.</param>
    /// <returns>The task.</returns>
    /// <exception cref="ArgumentException">A class is missing, repeated or out of range, or a group is empty.</exception>
    public static AuxiliaryTask FromGroups(string name, int mainClasses, IReadOnlyList<IReadOnlyList<int>> groups)
    {
        ArgumentNullException.ThrowIfNull(groups);
        return new(global::Snn.AuxiliaryTasks.ofGroups(name, mainClasses, groups.Select(g => g?.ToArray()!).ToArray()));
    }

    /// <summary>A seeded random grouping of the main classes into <paramref name="labels"/> labels (thesis A4).</summary>
    /// <param name="name">The task's name.</param>
    /// <param name="mainClasses">Number of main classes.</param>
    /// <param name="labels">Number of auxiliary labels, in [2, mainClasses].</param>
    /// <param name="seed">Seed of the grouping.</param>
    /// <returns>The task.</returns>
    public static AuxiliaryTask Random(string name, int mainClasses, int labels, int seed) =>
        new(global::Snn.AuxiliaryTasks.random(name, mainClasses, labels, seed));

    /// <summary>Auxiliary labels [B] (int64) of main labels [B] (int64).</summary>
    /// <param name="labels">Main-task class indices.</param>
    /// <returns>The auxiliary labels.</returns>
    public Tensor Relabel(Tensor labels) => global::Snn.LabelMapModule.apply(Core, labels);

    /// <summary>The thesis's tasks for CIFAR10-DVS (table 3): A1 duplicate, A2 living / non-living, A3 morphology.</summary>
    /// <param name="id">"A1", "A2" or "A3".</param>
    /// <returns>The task.</returns>
    public static AuxiliaryTask Cifar10Dvs(string id) => id switch
    {
        "A1" => new(global::Snn.AuxiliaryTasks.Cifar10Dvs.a1),
        "A2" => new(global::Snn.AuxiliaryTasks.Cifar10Dvs.a2),
        "A3" => new(global::Snn.AuxiliaryTasks.Cifar10Dvs.a3),
        _ => throw new ArgumentException($"'{id}' is not one of A1, A2, A3", nameof(id)),
    };

    /// <summary>The thesis's tasks for DVS128 Gesture (table 3): A1 duplicate, A2 and A3 categorisations.</summary>
    /// <param name="id">"A1", "A2" or "A3".</param>
    /// <returns>The task.</returns>
    public static AuxiliaryTask DvsGesture(string id) => id switch
    {
        "A1" => new(global::Snn.AuxiliaryTasks.DvsGesture.a1),
        "A2" => new(global::Snn.AuxiliaryTasks.DvsGesture.a2),
        "A3" => new(global::Snn.AuxiliaryTasks.DvsGesture.a3),
        _ => throw new ArgumentException($"'{id}' is not one of A1, A2, A3", nameof(id)),
    };

    /// <summary>Tasks for Fashion-MNIST: A1 duplicate, A2 garments / accessories, A3 tops / bottoms / footwear / bags.</summary>
    /// <param name="id">"A1", "A2" or "A3".</param>
    /// <returns>The task.</returns>
    public static AuxiliaryTask FashionMnist(string id) => id switch
    {
        "A1" => new(global::Snn.AuxiliaryTasks.FashionMnist.a1),
        "A2" => new(global::Snn.AuxiliaryTasks.FashionMnist.a2),
        "A3" => new(global::Snn.AuxiliaryTasks.FashionMnist.a3),
        _ => throw new ArgumentException($"'{id}' is not one of A1, A2, A3", nameof(id)),
    };

    /// <summary>Tasks for the synthetic MovingPatterns set: A1 duplicate, A2 translation / rotation, A3 axis of motion.</summary>
    /// <param name="id">"A1", "A2" or "A3".</param>
    /// <returns>The task.</returns>
    public static AuxiliaryTask MovingPatterns(string id) => id switch
    {
        "A1" => new(global::Snn.AuxiliaryTasks.MovingPatterns.a1),
        "A2" => new(global::Snn.AuxiliaryTasks.MovingPatterns.a2),
        "A3" => new(global::Snn.AuxiliaryTasks.MovingPatterns.a3),
        _ => throw new ArgumentException($"'{id}' is not one of A1, A2, A3", nameof(id)),
    };
}

/// <summary>Outputs of one run of an <see cref="AlSnn"/>.</summary>
/// <param name="Main">Main-classifier votes [T, B, classes].</param>
/// <param name="Auxiliary">Votes [T, B, K_i] of every auxiliary classifier; empty in evaluation mode.</param>
public sealed record AlSnnOutput(Tensor Main, IReadOnlyList<Tensor> Auxiliary);

/// <summary>
/// The auxiliary-learning SNN of thesis fig. 8: a feature block feeding a main classifier and one classifier per
/// auxiliary task (dropout 0.5, Linear to 1/4 of the features, PLIF, Linear to 10 × classes, PLIF, average voting).
/// <c>forward</c> is the main path only; <see cref="Run"/> adds the auxiliary heads in training mode only.
/// Tensors are time-first [T, B, ...]. Its state dict is the F# <c>Snn.Modules.AlSnn</c>'s, key for key.
/// </summary>
public sealed class AlSnn : nn.Module<Tensor, Tensor>
{
    internal global::Snn.Modules.AlSnn Core { get; }

    private AlSnn(global::Snn.Modules.AlSnn core) : base("AlSnn")
    {
        Core = core;
        // The core's blocks become this module's own children under their own names (not under "core."), so the
        // state dict is the F# network's; the core holds no tensors outside them.
        foreach (var (name, child) in core.named_children()) register_module(name, child);
    }

    /// <summary>Switches training / evaluation mode here, in the adopted layers and in the F# core itself.</summary>
    /// <param name="train">Training mode when <c>true</c>.</param>
    public override void train(bool train = true)
    {
        base.train(train);
        Core.train(train);
    }

    /// <summary>A fully connected AL-SNN for inputs [T, B, inputs] (feature block: Linear → BN → PLIF per layer).</summary>
    /// <param name="inputs">Input features per step.</param>
    /// <param name="hidden">Feature-block layer sizes.</param>
    /// <param name="mainClasses">Main-task classes.</param>
    /// <param name="tasks">The auxiliary tasks (one classifier each).</param>
    /// <param name="weightGain">Scale of the classifiers' Linear initialisation (1 = the default).</param>
    /// <param name="neuron">PLIF parameters; <c>null</c> means the defaults.</param>
    /// <returns>The network.</returns>
    public static AlSnn Mlp(int inputs, IReadOnlyList<int> hidden, int mainClasses, IReadOnlyList<AuxiliaryTask> tasks,
                            double weightGain = 1.0, PlifParameters? neuron = null)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentNullException.ThrowIfNull(tasks);
        return new(global::Snn.Modules.AlSnn.Mlp(inputs, hidden.ToArray(), mainClasses, tasks.Select(t => t.Classes).ToArray(),
                                                 (neuron ?? new PlifParameters()).ToCore(), weightGain));
    }

    /// <summary>The thesis configuration on frames [T, B, C, H, W]: a VGG feature block of conv-BN-PLIF-pool layers.</summary>
    /// <param name="inChannels">Input channels C.</param>
    /// <param name="height">Input height H.</param>
    /// <param name="width">Input width W.</param>
    /// <param name="layers">Feature-block layers (thesis: 4 for CIFAR10-DVS, 5 for DVS128 Gesture).</param>
    /// <param name="channels">Convolution channels (thesis: 128).</param>
    /// <param name="mainClasses">Main-task classes.</param>
    /// <param name="tasks">The auxiliary tasks.</param>
    /// <param name="neuron">PLIF parameters; <c>null</c> means the defaults.</param>
    /// <returns>The network.</returns>
    public static AlSnn Vgg(int inChannels, int height, int width, int layers, int channels, int mainClasses,
                            IReadOnlyList<AuxiliaryTask> tasks, PlifParameters? neuron = null)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        return new(global::Snn.Modules.AlSnn.Vgg(inChannels, height, width, layers, channels, mainClasses,
                                                 tasks.Select(t => t.Classes).ToArray(), (neuron ?? new PlifParameters()).ToCore()));
    }

    /// <summary>Main and (in training mode) auxiliary votes for input [T, B, ...].</summary>
    /// <param name="input">Time-first input.</param>
    /// <returns>The votes.</returns>
    public AlSnnOutput Run(Tensor input)
    {
        var output = Core.Run(input);
        return new AlSnnOutput(output.Main, output.Auxiliary);
    }

    /// <summary>Main votes [T, B, classes] for input [T, B, ...]: the main path only, in either mode.</summary>
    /// <param name="input">Time-first input.</param>
    /// <returns>The main votes.</returns>
    public override Tensor forward(Tensor input) => Core.forward(input);
}

/// <summary>Settings of an auxiliary-learning run.</summary>
/// <param name="Tasks">The auxiliary tasks, in the model's order.</param>
/// <param name="Alpha">α of eq. 3.3, in [0, 1]; ignored when <paramref name="Combine"/> is given.</param>
/// <param name="Gammas">γ_i of eq. 3.3, one per task; <c>null</c> means 1 for every task.</param>
/// <param name="Combine">
/// A custom combination (mainPerSample [B], auxPerSample [B, K]) → scalar loss, e.g. a learned h_φ; <c>null</c> uses eq. 3.3.
/// </param>
public sealed record AuxiliaryTrainingSettings(IReadOnlyList<AuxiliaryTask> Tasks, double Alpha = 0.5, IReadOnlyList<double>? Gammas = null,
                                               Func<Tensor, Tensor, Tensor>? Combine = null);

/// <summary>
/// Auxiliary learning (thesis eqs. 3.2-3.3) on per-sample losses: a combination maps the main losses [B] and the
/// auxiliary losses [B, K] to the training loss, so eq. 3.3 and learned combiners are interchangeable.
/// </summary>
public static class AuxiliaryLearning
{
    /// <summary>Per-sample cross-entropy on summed outputs: l_b = -log softmax(Σ_t o_tb)_{y_b}; [T, B, C] → [B].</summary>
    /// <param name="outputs">Outputs [T, B, C].</param>
    /// <param name="labels">Class indices [B].</param>
    /// <returns>Losses [B].</returns>
    public static Tensor CrossEntropyPerSample(Tensor outputs, Tensor labels) => global::Snn.AuxiliaryLearning.crossEntropyOnCounts(outputs, labels);

    /// <summary>Eq. 3.3 on per-sample losses: L = mean_b[(1 - α) l_M,b + α Σ_i γ_i l_A,bi].</summary>
    /// <param name="alpha">α in [0, 1].</param>
    /// <param name="gammas">One γ_i per auxiliary task.</param>
    /// <returns>The combination (mainPerSample [B], auxPerSample [B, K]) → scalar.</returns>
    public static Func<Tensor, Tensor, Tensor> Manual(double alpha, IReadOnlyList<double> gammas)
    {
        ArgumentNullException.ThrowIfNull(gammas);
        var f = global::Snn.AuxiliaryLearning.manual(alpha, gammas.ToArray());
        return (main, aux) => FSharpFunc<Tensor, Tensor>.InvokeFast(f, main, aux);
    }

    /// <summary>Trains an <see cref="AlSnn"/> by the one trainer; tests the main task after every epoch.</summary>
    /// <param name="model">The network (one auxiliary classifier per task).</param>
    /// <param name="settings">Tasks and combination.</param>
    /// <param name="train">Training frames [N, T, ...] and labels [N].</param>
    /// <param name="test">Test frames [M, T, ...] and labels [M].</param>
    /// <param name="trainer">Epochs, batch size, optimiser, checkpoints, ...; <c>null</c> means <see cref="TrainerSettings.AuxiliaryLearningDefaults"/>.</param>
    /// <param name="progress">Receives each epoch's record (its measures hold "main loss" and one "auxiliary loss i (name)" per task); may be <c>null</c>.</param>
    /// <param name="cancellationToken">Checked before every batch.</param>
    /// <returns>The history of the run.</returns>
    /// <exception cref="ArgumentException">A setting is out of range or the tasks do not fit the model.</exception>
    public static TrainingHistory Fit(AlSnn model, AuxiliaryTrainingSettings settings, FrameSet train, FrameSet test,
                                      TrainerSettings? trainer = null, IProgress<TrainingEpoch>? progress = null,
                                      CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(settings.Tasks);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        var gammas = settings.Gammas ?? Enumerable.Repeat(1.0, settings.Tasks.Count).ToList();
        var combine = settings.Combine ?? Manual(settings.Alpha, gammas);
        var core = new global::Snn.AuxiliaryLearning.Settings(
            tasks: settings.Tasks.Select(t => t.Core).ToArray(),
            loss: FuncConvert.FromFunc<Tensor, Tensor, Tensor>(global::Snn.AuxiliaryLearning.crossEntropyOnCounts),
            combine: FuncConvert.FromFunc(combine));
        var history = global::Snn.AuxiliaryLearning.train(model.Core, (trainer ?? TrainerSettings.AuxiliaryLearningDefaults).ToCore(), core,
            train.Frames, train.Labels, test.Frames, test.Labels, TrainingHistory.Reporter(progress), cancellationToken);
        return TrainingHistory.FromCore(history);
    }
}
