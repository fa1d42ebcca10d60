using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.FSharp.Core;
using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>Settings of a training run.</summary>
/// <param name="Epochs">Passes over the training set (&gt; 0).</param>
/// <param name="BatchSize">Samples per step (&gt; 0).</param>
/// <param name="LearningRate">Adam learning rate (&gt; 0).</param>
/// <param name="Seed">Seed of shuffling.</param>
public sealed record TrainingSettings(int Epochs = 10, int BatchSize = 64, double LearningRate = 1e-3, int Seed = 0);

/// <summary>What happened in one epoch.</summary>
/// <param name="Epoch">Epoch number, from 1.</param>
/// <param name="TrainLoss">Mean training loss.</param>
/// <param name="TrainAccuracy">Training accuracy in [0, 1].</param>
/// <param name="TestAccuracy">Test accuracy in [0, 1].</param>
/// <param name="ElapsedSeconds">Seconds since training started.</param>
public sealed record EpochReport(int Epoch, double TrainLoss, double TrainAccuracy, double TestAccuracy, double ElapsedSeconds);

/// <summary>Surrogate-gradient BPTT training of spiking classifiers (cross-entropy on output spike counts, Adam).</summary>
public static class Trainer
{
    /// <summary>Trains <paramref name="model"/> (output spikes [T, B, classes]) and reports every epoch.</summary>
    /// <param name="model">The network.</param>
    /// <param name="settings">Training settings.</param>
    /// <param name="train">Training split.</param>
    /// <param name="test">Test split, evaluated after every epoch.</param>
    /// <param name="progress">Receives each epoch's report; may be <c>null</c>.</param>
    /// <param name="cancellationToken">Checked before every batch.</param>
    /// <returns>The reports of all epochs.</returns>
    /// <exception cref="ArgumentException">A setting is out of range or the splits disagree in size.</exception>
    /// <exception cref="OperationCanceledException">Cancellation was requested.</exception>
    public static IReadOnlyList<EpochReport> Fit(
        nn.Module<Tensor, Tensor> model, TrainingSettings settings, FrameSet train, FrameSet test,
        IProgress<EpochReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        var core = new global::Snn.Training.Settings(settings.Epochs, settings.BatchSize, settings.LearningRate, settings.Seed);
        var reports = global::Snn.Training.fitCancellable(
            model, core,
            train.Frames, train.Labels, test.Frames, test.Labels,
            FuncConvert.FromAction<Tuple<int, int, int, double>>(_ => { }),
            FuncConvert.FromAction<global::Snn.Training.EpochReport>(r => progress?.Report(Convert(r))),
            cancellationToken);
        return reports.Select(Convert).ToList();
    }

    /// <summary>Runs <see cref="Fit"/> on the thread pool.</summary>
    /// <param name="model">The network.</param>
    /// <param name="settings">Training settings.</param>
    /// <param name="train">Training split.</param>
    /// <param name="test">Test split.</param>
    /// <param name="progress">Receives each epoch's report; may be <c>null</c>.</param>
    /// <param name="cancellationToken">Checked before every batch.</param>
    /// <returns>A task with the reports of all epochs.</returns>
    public static Task<IReadOnlyList<EpochReport>> FitAsync(
        nn.Module<Tensor, Tensor> model, TrainingSettings settings, FrameSet train, FrameSet test,
        IProgress<EpochReport>? progress = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Fit(model, settings, train, test, progress, cancellationToken), cancellationToken);

    /// <summary>Accuracy in [0, 1] of <paramref name="model"/> on a split (prediction = most output spikes).</summary>
    /// <param name="model">The network.</param>
    /// <param name="data">The split.</param>
    /// <param name="batchSize">Samples per forward pass.</param>
    /// <returns>The fraction of correctly classified samples.</returns>
    public static double Evaluate(nn.Module<Tensor, Tensor> model, FrameSet data, int batchSize = 256)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        return global::Snn.Training.evaluate(model, batchSize, data.Frames, data.Labels);
    }

    private static EpochReport Convert(global::Snn.Training.EpochReport r) =>
        new(r.Epoch, r.TrainLoss, r.TrainAccuracy, r.TestAccuracy, r.ElapsedSeconds);
}
