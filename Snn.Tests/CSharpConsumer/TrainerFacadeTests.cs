using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using Snn.CSharp;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace CSharpConsumer.Tests;

public class TrainerFacadeTests
{
    /// <summary>Reports synchronously (Progress&lt;T&gt; posts to the thread pool, which would race the assertions).</summary>
    private sealed class Recorder<T> : IProgress<T>
    {
        public List<T> Items { get; } = new();
        public Action<T>? OnReport { get; init; }
        public void Report(T value) { Items.Add(value); OnReport?.Invoke(value); }
    }

    private static readonly (FrameSet Train, FrameSet Test) Data = MovingPatterns.Load(frames: 12, seed: 3, trainCount: 64, testCount: 32);

    private static DenseSnn Model()
    {
        manual_seed(7);
        return new DenseSnn(512, 16, 10, new LifParameters(TauMem: 20.0, Dt: 10.0), weightGain: 8.0);
    }

    private static string TemporaryDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"snn-facade-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Fact]
    public void TrainerReportsProgressCheckpointsAndResumes()
    {
        var dir = TemporaryDirectory();
        try
        {
            var settings = new TrainerSettings
            {
                Epochs = 2, BatchSize = 16, LearningRate = 5e-3, Optimizer = OptimizerKind.AdamW(0.01),
                // Step decay does not depend on the number of epochs, so a 2-epoch run resumed to 3 equals a 3-epoch run.
                Schedule = LearningRateSchedule.Step(1, 0.5), ClipGradientNorm = 5.0, CheckpointDirectory = dir, Resume = true,
            };
            using var first = Model();
            var epochs = new Recorder<TrainingEpoch>();
            var batches = new Recorder<TrainingBatch>();
            var h1 = new SnnTrainer(first, settings).Train(Data.Train, Data.Test, epochs, batches);
            Assert.Equal(new[] { 1, 2 }, h1.Epochs.Select(e => e.Epoch));
            Assert.Equal(h1.Epochs, epochs.Items);
            Assert.Equal(8, batches.Items.Count);
            Assert.Equal(new TrainingBatch(2, 4, 4, batches.Items[^1].RunningLoss), batches.Items[^1]);
            Assert.Equal(settings.Schedule.LearningRate(5e-3, 2, 2), h1.Epochs[1].LearningRate, 12);
            Assert.True(SnnTrainer.HasCheckpoint(dir));
            Assert.Equal(h1.Epochs, SnnTrainer.ReadHistory(dir));

            // A fresh model resumed to 3 epochs continues after epoch 2 and matches an uninterrupted run.
            using var resumed = Model();
            var h2 = new SnnTrainer(resumed, settings with { Epochs = 3 }).Train(Data.Train, Data.Test);
            Assert.Equal(new[] { 1, 2, 3 }, h2.Epochs.Select(e => e.Epoch));
            Assert.Equal(h1.Epochs, h2.Epochs.Take(2));
            using var straight = Model();
            var h3 = new SnnTrainer(straight, settings with { Epochs = 3, CheckpointDirectory = null, Resume = false }).Train(Data.Train, Data.Test);
            Assert.Equal(h3.Epochs[2].TrainLoss, h2.Epochs[2].TrainLoss, 4);
            Assert.NotEqual(h3.Epochs[0].TrainLoss, h3.Epochs[2].TrainLoss);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void CancellationStopsBeforeTheNextBatchAndACustomLossIsUsed()
    {
        using var model = Model();
        using var cancel = new CancellationTokenSource();
        var calls = 0;
        var settings = new TrainerSettings
        {
            Epochs = 3, BatchSize = 16, Optimizer = OptimizerKind.Sgd(0.9),
            Loss = (output, labels) => { calls++; return Losses.CrossEntropyOnCounts(output, labels); },
        };
        var batches = new Recorder<TrainingBatch> { OnReport = b => { if (b.Batch == 2) cancel.Cancel(); } };
        Assert.Throws<OperationCanceledException>(() =>
            new SnnTrainer(model, settings).Train(Data.Train, Data.Test, batchProgress: batches, cancellationToken: cancel.Token));
        Assert.Equal(2, batches.Items.Count);
        Assert.Equal(2, calls);
        var bad = Assert.ThrowsAny<ArgumentException>(() => new SnnTrainer(model, settings with { BatchSize = 0 }).Train(Data.Train, Data.Test));
        Assert.Equal("BatchSize", bad.ParamName);
    }

    [Fact]
    public void SettingsComeFromAConfigurationFileWithOverrides()
    {
        var dir = TemporaryDirectory();
        try
        {
            var path = Path.Combine(dir, "run.yaml");
            File.WriteAllText(path, "epochs: 4\noptimizer:\n  name: sgd\n  lr: 0.1\n  momentum: 0.5\nschedule:\n  name: step\n  every: 2\n");
            var settings = TrainerSettings.FromConfig(path, "optimizer.lr=0.05", "early_stopping.patience=3");
            Assert.Equal(4, settings.Epochs);
            Assert.Equal(0.05, settings.LearningRate);
            Assert.Equal(3, settings.EarlyStoppingPatience);
            Assert.Equal(0.05 * 0.5, settings.Schedule.LearningRate(0.05, 4, 3), 12);
            Assert.Equal("SGD(momentum 0.5)", settings.Optimizer.ToString());
            var unknown = Assert.Throws<InvalidDataException>(() => TrainerSettings.FromConfig(path, "optimiser.lr=1"));
            Assert.Contains("unknown key 'optimiser.lr'", unknown.Message);
            File.WriteAllText(path, "epochs: four\n");
            var wrong = Assert.Throws<InvalidDataException>(() => TrainerSettings.FromConfig(path));
            Assert.Contains("run.yaml:1: key 'epochs' expects an integer", wrong.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void MonitorRecordsSpikesAndMembranesWithoutChangingTheNetwork()
    {
        manual_seed(9);
        var adlif = NeuronLayer.AdLif();
        using var net = Layers.Sequential(Layers.Linear(6, 5), adlif, Layers.Linear(5, 3), NeuronLayer.Izhikevich());
        var x = rand(new long[] { 30, 2, 6 }) * 40;
        var plain = net.forward(x).data<float>().ToArray();
        using (var monitor = new SpikeMonitor(new Dictionary<string, nn.Module<Tensor, Tensor>> { ["adlif"] = adlif }, recordMembrane: true))
        {
            var watched = net.forward(x).data<float>().ToArray();
            Assert.Equal(plain, watched);
            Assert.Equal(new long[] { 30, 2, 5 }, monitor.Membranes("adlif")[0].shape);
            Assert.Equal(new long[] { 30, 2, 5 }, monitor.Spikes("adlif")[0].shape);
            Assert.InRange(monitor.FiringRate("adlif"), 0.0, 1.0);
        }
        using var all = SpikeMonitor.ForNeuronLayers(net, recordMembrane: true);
        Assert.True(all.Names.Count == 2, string.Join(", ", all.Names));
        Assert.Equal(plain, net.forward(x).data<float>().ToArray());
        foreach (var name in all.Names)
        {
            Assert.Single(all.Membranes(name));
            Assert.Equal(3, all.Membranes(name)[0].dim());
        }
        Assert.Equal(2, all.FiringRates().Count);
    }
}
