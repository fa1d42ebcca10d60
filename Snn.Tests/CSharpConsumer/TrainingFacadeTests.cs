using System;
using System.Collections.Generic;
using System.Linq;
using Snn.CSharp;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace CSharpConsumer.Tests;

public class TrainingFacadeTests
{
    [Fact]
    public void LossesMatchHandComputedValuesAndCombine()
    {
        // Counts [1, 2, 0] for label 0; SLAYER targets [3, 0.5, 0.5]: (4 + 2.25 + 0.25) / 2.
        var spikes = tensor(new double[] { 1, 1, 0, 0, 1, 0 }).reshape(2, 1, 3);
        var labels = tensor(new long[] { 0 });
        Assert.Equal(3.25, Losses.SlayerSpikeCount(spikes, labels, 3.0, 0.5).item<double>(), 12);
        Assert.Equal(new[] { 0.0, 0.0, 2.0 }, Losses.FirstSpikeTimes(spikes).data<double>().ToArray());
        var combined = Losses.Auxiliary(tensor(2.0), new[] { tensor(1.0), tensor(3.0) }, alpha: 0.4, gammas: new[] { 0.5, 0.25 });
        Assert.Equal(1.7, combined.item<double>(), 12);
        Assert.Equal(2.6, Losses.MultiTask(tensor(2.0), tensor(4.0), gamma: 0.3).item<double>(), 12);
        var error = Assert.ThrowsAny<ArgumentException>(() => Losses.FirstSpikeLoss(spikes, tensor(new long[] { 5 })));
        Assert.Equal("labels", error.ParamName);
    }

    [Fact]
    public void EncodersProduceTimeFirstSpikeTrains()
    {
        var x = tensor(new float[] { 1.0f, 0.5f, 0.0f }).reshape(1, 3);
        var latency = Encoding.Latency(x, steps: 5);
        Assert.Equal(new long[] { 5, 1, 3 }, latency.shape);
        Assert.Equal(1f, latency[0, 0, 0].item<float>());
        Assert.Equal(1f, latency[2, 0, 1].item<float>());
        Assert.Equal(0f, latency.select(2, 2).sum().item<float>());
        var poisson = Encoding.Poisson(full(new long[] { 1, 100 }, 0.3f), steps: 200, seed: 1);
        Assert.InRange(poisson.mean().item<float>(), 0.25f, 0.35f);
        var s1c1 = Encoding.S1C1(rand(2, 1, 12, 12), steps: 4);
        Assert.Equal(new long[] { 4, 2, 2, 12, 12 }, s1c1.shape);
    }

    [Fact]
    public void ParityOptionsReachTheCore()
    {
        // DoG forms: the 3×3 off-centre kernel of Mozafari's σ (6/9, 3/9) differs between the two weightings.
        var density = Encoding.DifferenceOfGaussians(3, 6.0 / 9.0, 3.0 / 9.0);
        var unitSum = Encoding.DifferenceOfGaussians(3, 6.0 / 9.0, 3.0 / 9.0, DogForm.UnitSum);
        Assert.True((density - unitSum).abs().max().item<float>() > 0.5f);
        // 4 non-zero values over 3 steps: equal bins of 1 leave the weakest silent; the default fires all four.
        var x = tensor(new float[] { 4, 3, 2, 1 }).reshape(1, 4);
        Assert.Equal(4f, Encoding.IntensityToLatency(x, 3).sum().item<float>());
        Assert.Equal(3f, Encoding.IntensityToLatency(x, 3, bins: LatencyBins.EqualBins).sum().item<float>());
        // Silent neurons ranked by peak potential: T + rank (neuron 1 peaks higher than neuron 2).
        var spikes = tensor(new double[] { 1, 0, 0, 0, 0, 0 }).reshape(2, 1, 3);
        var potentials = tensor(new double[] { 2, 0.5, 0.1, 0, 0.2, 0.9 }).reshape(2, 1, 3);
        Assert.Equal(new[] { 0.0, 4.0, 3.0 }, Losses.FirstSpikeTimes(spikes, potentials).data<double>().ToArray());
        // Seed 003's AdLIF runs as a layer (hard reset to 0: the potential after a spike is 0).
        var seed = AdLifParameters.Liu2023(tauMem: 5.0, tauAdapt: 100.0, a: 0.3, b: 0.4);
        Assert.Equal(ResetMode.Hard, seed.Reset);
        Assert.True(seed.DetachReset);
        Assert.Equal(AdLifAdaptation.Unfiltered, seed.Adaptation);
        using var layer = NeuronLayer.AdLif(seed);
        var output = layer.forward(full(new long[] { 10, 1, 1 }, 6.0f));
        Assert.True(output.sum().item<float>() > 0f);
    }

    [Fact]
    public void MetricsReportConfusionAndAuc()
    {
        var m = Metrics.ConfusionMatrix(2, new long[] { 0, 1, 1, 1 }, new long[] { 0, 0, 1, 1 });
        Assert.Equal(1, m[0, 0]);
        Assert.Equal(1, m[0, 1]);
        Assert.Equal(2, m[1, 1]);
        var report = Metrics.Report(m);
        Assert.Equal(2.0 / 3.0, report.Precision[1], 12);
        Assert.Equal(0.5, report.Recall[0], 12);
        Assert.Equal(0.75, Metrics.RocAuc(new[] { 0.1, 0.4, 0.35, 0.8 }, new[] { false, false, true, true }), 12);
    }

    [Fact]
    public void LayersComposeIntoTheThesisClassifier()
    {
        manual_seed(2);
        using var net = Layers.Sequential(Layers.Conv2d(2, 4), Layers.BatchNorm2d(4), NeuronLayer.Plif(), Layers.MaxPool2d(),
                                          Layers.Flatten(), Layers.Linear(64, 20), NeuronLayer.Plif(), Layers.Voting(10));
        var votes = net.forward(rand(new long[] { 3, 2, 2, 8, 8 }));
        Assert.Equal(new long[] { 3, 2, 2 }, votes.shape);
        using var vgg = Layers.VggSnn(2, 8, 8, featureLayers: 2, classes: 3, channels: 8);
        Assert.Equal(new long[] { 3, 2, 3 }, vgg.forward(rand(new long[] { 3, 2, 2, 8, 8 })).shape);
    }
}
