using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Snn.CSharp;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace CSharpConsumer.Tests;

/// <summary>Inference, FrameSet.FromArrays, ToLoihi, PyTorch state dicts and the trainer's calibration from C#.</summary>
public class InferenceFacadeTests
{
    private static readonly (FrameSet Train, FrameSet Test) Data = MovingPatterns.Load(frames: 12, seed: 5, trainCount: 64, testCount: 40);

    private static string TempPath(string extension) => Path.Combine(Path.GetTempPath(), $"snn-infer-{Guid.NewGuid():N}{extension}");

    private static DenseSnn Network(double gain = 4)
    {
        torch.manual_seed(7);
        return new DenseSnn(512, 16, 10, new LifParameters(TauMem: 20, Dt: 10), weightGain: gain);
    }

    [Fact]
    public void FromArraysBuildsSampleFirstFramesFromEveryArrayForm()
    {
        var jagged = Enumerable.Range(0, 3).Select(n => new float[2, 4] { { n, 1, 2, 3 }, { 4, 5, 6, n } }).ToArray();
        var a = FrameSet.FromArrays(jagged, [0, 1, 2]);
        var cube = new float[3, 2, 4];
        for (var n = 0; n < 3; n++) for (var t = 0; t < 2; t++) for (var f = 0; f < 4; f++) cube[n, t, f] = jagged[n][t, f];
        var b = FrameSet.FromArrays(cube, [0, 1, 2]);
        var c = FrameSet.FromArrays(a.Frames.data<float>().ToArray(), [3, 2, 4], [0, 1, 2]);
        Assert.Equal(new long[] { 3, 2, 4 }, a.Frames.shape);
        Assert.Equal(3, a.Count);
        Assert.Equal(a.Frames.data<float>().ToArray(), b.Frames.data<float>().ToArray());
        Assert.Equal(a.Frames.data<float>().ToArray(), c.Frames.data<float>().ToArray());
        Assert.Equal(2f, a.Frames[2, 1, 3].item<float>());
        Assert.Equal(new long[] { 0, 1, 2 }, a.Labels.data<long>().ToArray());
    }

    [Fact]
    public void FromArraysNamesTheArgumentThatDisagrees()
    {
        var samples = new[] { new float[2, 4], new float[3, 4] };
        var ragged = Assert.Throws<ArgumentException>(() => FrameSet.FromArrays(samples, [0, 1]));
        Assert.Equal("samples", ragged.ParamName);
        Assert.Contains("samples[1] is 3×4 but samples[0] is 2×4", ragged.Message);
        Assert.Equal("labels", Assert.Throws<ArgumentException>(() => FrameSet.FromArrays(new float[2, 3, 4], [0])).ParamName);
        Assert.Equal("values", Assert.Throws<ArgumentException>(() => FrameSet.FromArrays(new float[23], [2, 3, 4], [0, 0])).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentException>(() => FrameSet.FromArrays(new float[24], [2, 12], [0, 0])).ParamName);
        Assert.Equal("labels", Assert.Throws<ArgumentException>(() => FrameSet.FromArrays(new float[2, 3, 4], [0, -1])).ParamName);
    }

    [Fact]
    public void PredictAndEvaluateAgreeWithTheTrainersAccuracy()
    {
        using var model = Network();
        var p = model.Predict(Data.Test, batchSize: 16);
        Assert.Equal(40, p.Classes.Count);
        Assert.Equal(10, p.SpikeCounts.GetLength(1));
        for (var n = 0; n < 40; n++)
        {
            var row = Enumerable.Range(0, 10).Select(c => p.SpikeCounts[n, c]).ToArray();
            Assert.Equal(Array.IndexOf(row, row.Max()), p.Classes[n]);
            Assert.Equal(1.0, Enumerable.Range(0, 10).Sum(c => (double)p.Probabilities[n, c]), 5);
        }
        var e = model.Evaluate(Data.Test);
        Assert.Equal(p.Classes, e.Predictions);
        Assert.Equal(40, e.ConfusionMatrix.Cast<int>().Sum());
        Assert.Equal(SnnTrainer.Evaluate(model, Data.Test), e.Accuracy);
        var labels = Data.Test.Labels.data<long>().ToArray();
        Assert.Equal(Enumerable.Range(0, 40).Count(n => p.Classes[n] == labels[n]) / 40.0, e.Accuracy, 10);
    }

    [Fact]
    public void DenseSnnAndComposedChainsGoToLoihiAndOthersAreRefusedByName()
    {
        using var model = Network();
        var loihi = model.ToLoihi();
        Assert.Equal(3, loihi.Layers.Count);
        var result = loihi.Evaluate(Data.Test);
        Assert.InRange(result.Accuracy, 0.0, 1.0);
        Assert.True(result.Profile.Layers.Sum(l => l.Spikes) > 0, "the emulated network fires");
        using var chain = Layers.Sequential(Layers.Linear(512, 16), NeuronLayer.If(), Layers.Linear(16, 10), NeuronLayer.CuLif(new CuLifParameters()));
        Assert.Throws<ArgumentException>(() => chain.ToLoihi(512)); // the CuLIF synapse has a bias
        using var ifChain = Layers.Sequential(Layers.Linear(512, 16), NeuronLayer.If(), Layers.Linear(16, 10), NeuronLayer.Lif());
        Assert.Equal(3, ifChain.ToLoihi(512).Layers.Count);
        using var plif = Layers.Sequential(Layers.Linear(512, 10), NeuronLayer.Plif());
        var refused = Assert.Throws<ArgumentException>(() => plif.ToLoihi(512));
        Assert.Contains("cannot be deployed on Loihi", refused.Message);
        Assert.Contains("plif", refused.Message);
        using var tm = new TmSnn(512, TaskDefinition.MovingPatternTasks.Take(2).ToList(), featureSizes: [16], labelHidden: 8, taskHidden: 0);
        Assert.Equal(4, tm.ToLoihi(task: 1).Layers.Count);
    }

    [Fact]
    public void PyTorchStateDictsLoadUnderPeerNames()
    {
        var path = TempPath(".pt");
        try
        {
            using var source = Network();
            source.SavePyTorch(path);
            using var target = Network(gain: 1);
            var report = target.LoadPyTorch(path);
            Assert.Equal(4, report.Loaded.Count);
            Assert.Empty(report.Ignored);
            Assert.Equal(source.state_dict()["fc2.inner.weight"].data<float>().ToArray(), target.state_dict()["fc2.inner.weight"].data<float>().ToArray());
            using var smaller = new DenseSnn(512, 8, 10);
            var e = Assert.Throws<ArgumentException>(() => smaller.LoadPyTorch(path));
            Assert.Contains("'fc1.inner.weight' has shape [16, 512] but the network's 'fc1.inner.weight' has shape [8, 512]", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void TheTrainerCalibratesASilentNetworkAndLogsIt()
    {
        using var silent = Network(gain: 1);
        var lines = new List<string>();
        new SnnTrainer(silent, new TrainerSettings { Epochs = 1, Log = lines.Add }).Train(Data.Train, Data.Test);
        Assert.Contains(lines, l => l.StartsWith("calibrated initialisation: fc1"));
        using var untouched = Network(gain: 1);
        var warnings = new List<string>();
        new SnnTrainer(untouched, new TrainerSettings { Epochs = 1, Calibration = WeightCalibration.None, Log = warnings.Add }).Train(Data.Train, Data.Test);
        Assert.Contains(warnings, l => l.Contains("fired no spike"));
    }
}
