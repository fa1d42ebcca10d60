using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.FSharp.Core;
using static TorchSharp.torch;
using CoreTraining = global::Snn.Training;

namespace Snn.CSharp;

/// <summary>One epoch of a <see cref="SnnTrainer"/> run, as stored in the checkpoint's history.json.</summary>
/// <param name="Epoch">Epoch number, from 1.</param>
/// <param name="LearningRate">Learning rate used in the epoch.</param>
/// <param name="TrainLoss">Mean training loss over the epoch's batches.</param>
/// <param name="TrainAccuracy">Training accuracy in [0, 1] (most output spikes), measured while training.</param>
/// <param name="TestAccuracy">Test accuracy in [0, 1] after the epoch.</param>
/// <param name="GradientNorm">Global gradient L2 norm before clipping, averaged over the epoch's steps.</param>
/// <param name="Seconds">Wall-clock seconds of the epoch.</param>
/// <param name="BatchesPerTask">Batches trained per task (multi-task methods; one entry for single-task ones).</param>
/// <param name="Measures">What the method measures beyond the loss (e.g. "main loss"), each the mean over the epoch's batches.</param>
public sealed record TrainingEpoch(int Epoch, double LearningRate, double TrainLoss, double TrainAccuracy, double TestAccuracy,
                                   double GradientNorm, double Seconds, IReadOnlyList<int> BatchesPerTask,
                                   IReadOnlyDictionary<string, double> Measures)
{
    internal static TrainingEpoch FromCore(CoreTraining.HistoryEntry e) =>
        new(e.Epoch, e.LearningRate, e.TrainLoss, e.TrainAccuracy, e.TestAccuracy, e.GradientNorm, e.Seconds,
            Array.AsReadOnly(e.BatchesPerTask), e.Measures.ToDictionary(m => m.Name, m => m.Value));

    /// <summary>Value equality, the lists and measures compared by content.</summary>
    /// <param name="other">The other epoch.</param>
    /// <returns>Whether every field is equal.</returns>
    public bool Equals(TrainingEpoch? other) =>
        other is not null && Epoch == other.Epoch && LearningRate.Equals(other.LearningRate) && TrainLoss.Equals(other.TrainLoss)
        && TrainAccuracy.Equals(other.TrainAccuracy) && TestAccuracy.Equals(other.TestAccuracy) && GradientNorm.Equals(other.GradientNorm)
        && Seconds.Equals(other.Seconds) && BatchesPerTask.SequenceEqual(other.BatchesPerTask)
        && Measures.Count == other.Measures.Count
        && Measures.All(m => other.Measures.TryGetValue(m.Key, out var v) && v.Equals(m.Value));

    /// <summary>A hash of the scalar fields (consistent with <see cref="Equals(TrainingEpoch)"/>).</summary>
    /// <returns>The hash code.</returns>
    public override int GetHashCode() => HashCode.Combine(Epoch, LearningRate, TrainLoss, TrainAccuracy, TestAccuracy, GradientNorm, Seconds);

    /// <summary>The F# core's entry.</summary>
    internal CoreTraining.HistoryEntry ToCore() =>
        new(epoch: Epoch, learningRate: LearningRate, trainLoss: TrainLoss, trainAccuracy: TrainAccuracy, testAccuracy: TestAccuracy,
            gradientNorm: GradientNorm, seconds: Seconds, batchesPerTask: (BatchesPerTask ?? Array.Empty<int>()).ToArray(),
            measures: (Measures ?? new Dictionary<string, double>()).Select(m => new CoreTraining.Measure(name: m.Key, value: m.Value)).ToArray());
}

/// <summary>One hyper step of a bilevel method (a learned loss combiner, learned thresholds).</summary>
/// <param name="Epoch">The epoch it was taken in, from 1.</param>
/// <param name="OuterLoss">The outer loss on the held-out batch.</param>
/// <param name="HypergradientNorm">The Euclidean norm of the hypergradient.</param>
public sealed record HyperStep(int Epoch, double OuterLoss, double HypergradientNorm);

/// <summary>Progress inside an epoch.</summary>
/// <param name="Epoch">Epoch number, from 1.</param>
/// <param name="Batch">Batches done in this epoch.</param>
/// <param name="Batches">Batches in the epoch.</param>
/// <param name="RunningLoss">Mean loss of the epoch's batches so far.</param>
public sealed record TrainingBatch(int Epoch, int Batch, int Batches, double RunningLoss);

/// <summary>The outcome of a <see cref="SnnTrainer"/> run.</summary>
/// <param name="Epochs">Every epoch so far, including those restored from a checkpoint.</param>
/// <param name="BestEpoch">The epoch with the best test accuracy (0 when none ran).</param>
/// <param name="StoppedEarly">Whether early stopping ended the run before the last epoch.</param>
/// <param name="HyperSteps">The hyper steps of this run, in order (empty for single-level methods).</param>
public sealed record TrainingHistory(IReadOnlyList<TrainingEpoch> Epochs, int BestEpoch, bool StoppedEarly, IReadOnlyList<HyperStep> HyperSteps)
{
    internal static TrainingHistory FromCore(CoreTraining.History h) =>
        new(h.Entries.Select(TrainingEpoch.FromCore).ToList(), h.BestEpoch, h.StoppedEarly,
            h.HyperSteps.Select(s => new HyperStep(s.Epoch, s.OuterLoss, s.HypergradientNorm)).ToList());

    internal static FSharpFunc<CoreTraining.HistoryEntry, Unit> Reporter(IProgress<TrainingEpoch>? progress) =>
        FuncConvert.FromAction<CoreTraining.HistoryEntry>(e => progress?.Report(TrainingEpoch.FromCore(e)));
}

/// <summary>
/// Surrogate-gradient BPTT training of a spiking classifier (output [T, B, classes]) with a choice of optimiser,
/// learning-rate schedule, loss, gradient clipping, early stopping and resumable checkpoints. Every epoch sets the
/// scheduled rate, shuffles with seed + epoch and per batch runs zero-grad, forward, loss, backward, clip, step; then
/// the test split is scored (prediction = most output spikes). Tensors are time-first: samples [N, T, ...] are
/// batched to [T, B, ...].
/// </summary>
/// <example><code>
/// var trainer = new SnnTrainer(model, new TrainerSettings { Epochs = 5, Optimizer = OptimizerKind.AdamW(0.01),
///     Schedule = LearningRateSchedule.Cosine(), CheckpointDirectory = "runs/a", Resume = true });
/// var history = trainer.Train(train, test, epochProgress: new Progress&lt;TrainingEpoch&gt;(Console.WriteLine));
/// </code></example>
public sealed class SnnTrainer
{
    /// <summary>Creates a trainer of <paramref name="model"/>.</summary>
    /// <param name="model">The network; trained in place.</param>
    /// <param name="settings">The run's settings.</param>
    public SnnTrainer(nn.Module<Tensor, Tensor> model, TrainerSettings settings)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        Settings = settings ?? throw new ArgumentNullException(nameof(settings));
    }

    /// <summary>The network being trained.</summary>
    public nn.Module<Tensor, Tensor> Model { get; }

    /// <summary>The run's settings.</summary>
    public TrainerSettings Settings { get; }

    /// <summary>Trains on <paramref name="train"/>, scoring <paramref name="test"/> after every epoch.</summary>
    /// <param name="train">Training split: frames [N, T, ...] and labels [N].</param>
    /// <param name="test">Test split.</param>
    /// <param name="epochProgress">Receives every finished epoch; may be <c>null</c>.</param>
    /// <param name="batchProgress">Receives every finished batch; may be <c>null</c>.</param>
    /// <param name="cancellationToken">Checked before every batch; the checkpoint keeps the last finished epoch.</param>
    /// <returns>The history of the run (with the epochs of a resumed checkpoint).</returns>
    /// <exception cref="ArgumentException">A setting is out of range or the splits disagree in size.</exception>
    /// <exception cref="OperationCanceledException">Cancellation was requested.</exception>
    public TrainingHistory Train(FrameSet train, FrameSet test, IProgress<TrainingEpoch>? epochProgress = null,
                                 IProgress<TrainingBatch>? batchProgress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        var history = global::Snn.Trainer.trainWithProgress(
            Model, Settings.ToCore(), train.Frames, train.Labels, test.Frames, test.Labels,
            FuncConvert.FromAction<Tuple<int, int, int, double>>(b =>
                batchProgress?.Report(new TrainingBatch(b.Item1, b.Item2, b.Item3, b.Item4))),
            TrainingHistory.Reporter(epochProgress),
            cancellationToken);
        return TrainingHistory.FromCore(history);
    }

    /// <summary>Runs <see cref="Train"/> on the thread pool.</summary>
    /// <param name="train">Training split.</param>
    /// <param name="test">Test split.</param>
    /// <param name="epochProgress">Receives every finished epoch; may be <c>null</c>.</param>
    /// <param name="batchProgress">Receives every finished batch; may be <c>null</c>.</param>
    /// <param name="cancellationToken">Checked before every batch.</param>
    /// <returns>A task with the history of the run.</returns>
    public Task<TrainingHistory> TrainAsync(FrameSet train, FrameSet test, IProgress<TrainingEpoch>? epochProgress = null,
                                            IProgress<TrainingBatch>? batchProgress = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Train(train, test, epochProgress, batchProgress, cancellationToken), cancellationToken);

    /// <summary>Whether a directory holds a complete checkpoint (model, optimiser state and history).</summary>
    /// <param name="directory">The checkpoint directory.</param>
    /// <returns><c>true</c> when a run with <see cref="TrainerSettings.Resume"/> would continue from it.</returns>
    public static bool HasCheckpoint(string directory) => CoreTraining.Checkpoint.exists(directory);

    /// <summary>The epochs saved in a checkpoint directory's history.json.</summary>
    /// <param name="directory">The checkpoint directory.</param>
    /// <returns>The saved epochs, in order; empty when the directory holds no checkpoint.</returns>
    /// <exception cref="InvalidDataException">The newest checkpoint is damaged (a file differs from its manifest).</exception>
    public static IReadOnlyList<TrainingEpoch> ReadHistory(string directory) =>
        CoreTraining.Checkpoint.readHistory(directory).Select(TrainingEpoch.FromCore).ToList();

    /// <summary>Accuracy in [0, 1] of <paramref name="model"/> on a split (prediction = most output spikes); the
    /// confusion matrix and per-class report are in <see cref="Inference.Evaluate"/>.</summary>
    /// <param name="model">The network.</param>
    /// <param name="data">The split.</param>
    /// <param name="batchSize">Samples per forward pass.</param>
    /// <returns>The fraction of correctly classified samples.</returns>
    public static double Evaluate(nn.Module<Tensor, Tensor> model, FrameSet data, int batchSize = 256) =>
        Inference.Evaluate(model, data, batchSize).Accuracy;
}
