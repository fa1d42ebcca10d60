using System;
using System.Collections.Generic;
using System.Linq;
using Snn.CSharp;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace CSharpConsumer.Tests;

public class FacadeTests
{
    [Fact]
    public void LifLayerRunsOverTimeAndEmitsBinarySpikes()
    {
        using var scope = NewDisposeScope();
        using var layer = new LifLayer(new LifParameters(TauMem: 10.0, Dt: 1.0, VThreshold: 1.0));
        // A constant input of 1.5 first crosses the threshold at step 11 (1.5 (1 - e^{-0.1 t}) > 1).
        var input = full(new long[] { 30, 2, 3 }, 1.5f);
        var spikes = layer.forward(input);
        Assert.Equal(new long[] { 30, 2, 3 }, spikes.shape);
        var values = spikes.data<float>().ToArray();
        Assert.All(values, v => Assert.True(v == 0f || v == 1f));
        Assert.Equal(0f, spikes[..10].sum().item<float>());
        Assert.Equal(1f, spikes[10, 0, 0].item<float>());
    }

    [Fact]
    public void StepReturnsTheHandComputedPotential()
    {
        var (v, spikes) = Lif.Step(new LifParameters(), zeros(1, dtype: float64), tensor(new[] { 1.5 }));
        Assert.Equal(1.5 * (1 - Math.Exp(-0.1)), v.item<double>(), 12);
        Assert.Equal(0.0, spikes.item<double>());
    }

    [Fact]
    public void InvalidParametersNameTheParameter()
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => new LifParameters(TauMem: 0).Validate());
        Assert.Contains("TauMem", error.Message);
        Assert.ThrowsAny<ArgumentException>(() => Surrogate.ATan(alpha: -1));
    }

    [Fact]
    public void DiffTakesGradientsAndHessianVectorProductsOfCSharpLambdas()
    {
        var x = tensor(new[] { 1.0, -2.0 });
        var grad = Diff.Grad(t => (t * t * t).sum(), x);
        Assert.Equal(new[] { 3.0, 12.0 }, grad.data<double>().ToArray());
        var hv = Diff.Hvp(t => (t * t * t).sum(), x, tensor(new[] { 1.0, 1.0 }));
        Assert.Equal(new[] { 6.0, -12.0 }, hv.data<double>().ToArray());
        Assert.ThrowsAny<ArgumentException>(() => Diff.Grad(t => t * 2.0, x));
    }

    [Fact]
    public void TrainerLearnsMovingPatternsAndReportsProgress()
    {
        manual_seed(5);
        var (train, test) = MovingPatterns.Load(frames: 20, seed: 5, trainCount: 400, testCount: 200);
        Assert.Equal(10, MovingPatterns.ClassNames.Count);
        using var model = new DenseSnn(512, 128, 10, new LifParameters(TauMem: 20.0, Dt: 10.0), weightGain: 4.0);
        var seen = new List<TrainingEpoch>();
        var trainer = new SnnTrainer(model, new TrainerSettings { Epochs = 6, BatchSize = 32, LearningRate = 5e-3, Seed = 5 });
        var reports = trainer.Train(train, test, new SynchronousProgress<TrainingEpoch>(seen.Add)).Epochs;
        Assert.Equal(6, reports.Count);
        Assert.Equal(reports.Select(r => r.Epoch), seen.Select(r => r.Epoch));
        Assert.True(reports[^1].TestAccuracy > 0.5, $"test accuracy {reports[^1].TestAccuracy}");
        Assert.Equal(reports[^1].TestAccuracy, SnnTrainer.Evaluate(model, test), 9);
    }

    [Fact]
    public void TrainingStopsWhenCancelled()
    {
        var (train, test) = MovingPatterns.Load(frames: 5, seed: 1, trainCount: 64, testCount: 16);
        using var model = new DenseSnn(512, 16, 10);
        using var cancelled = new System.Threading.CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() =>
            new SnnTrainer(model, new TrainerSettings { Epochs = 1 }).Train(train, test, cancellationToken: cancelled.Token));
    }

    [Fact]
    public void EveryNeuronModelRunsAsALayerAndFiresForAStrongInput()
    {
        using var scope = NewDisposeScope();
        var layers = new (NeuronLayer Layer, double Input, int Steps)[]
        {
            (NeuronLayer.If(), 0.5, 20),
            (NeuronLayer.Lif(new LifParameters(RefractorySteps: 2)), 3.0, 20),
            (NeuronLayer.Plif(new PlifParameters(InitialTau: 4.0), 3), 3.0, 20),
            (NeuronLayer.CuLif(new CuLifParameters(), trainable: true, 3), 3.0, 20),
            (NeuronLayer.AdaptiveThreshold(), 3.0, 40),
            (NeuronLayer.AdLif(), 3.0, 60),
            (NeuronLayer.NonlinearIf(NonlinearIfParameters.Exponential()), 30.0, 1000),
            (NeuronLayer.Izhikevich(IzhikevichParameters.Preset("FS")), 10.0, 100),
            (NeuronLayer.HodgkinHuxley(), 10.0, 300),
        };
        foreach (var (layer, input, steps) in layers)
        {
            var spikes = layer.forward(full(new long[] { steps, 2, 3 }, input, dtype: float64));
            Assert.Equal(new long[] { steps, 2, 3 }, spikes.shape);
            Assert.True(spikes.sum().item<double>() > 0, $"{layer.GetName()} fires");
            layer.Dispose();
        }
    }

    [Fact]
    public void ThresholdModulationChangesSpikesWithoutTouchingWeights()
    {
        using var layer = NeuronLayer.Lif(new LifParameters(TauMem: 5.0));
        var x = full(new long[] { 40, 1, 1 }, 1.5, dtype: float64);
        var baseline = layer.forward(x).sum().item<double>();
        layer.SetThreshold(tensor(1.4));
        Assert.True(layer.forward(x).sum().item<double>() < baseline);
        layer.ClearModulation();
        Assert.Equal(baseline, layer.forward(x).sum().item<double>());
    }

    [Fact]
    public void SurrogateFactoriesValidateTheirOwnParameters()
    {
        Assert.Equal(4.0, Surrogate.Sigmoid(4.0).Alpha);
        Assert.ThrowsAny<ArgumentException>(() => Surrogate.Triangle(halfWidth: 0));
        Assert.ThrowsAny<ArgumentException>(() => Surrogate.SlayerExp(tau: 1, scale: -1));
        Assert.ThrowsAny<ArgumentException>(() => Surrogate.Asgl(tensor(0.5), noise: 2.0));
        Assert.Equal(0.05, AsglSurrogate.NoiseAt(0.2, 0.5, new[] { 10, 20 }, 25), 12);
        var lif = new LifParameters(Surrogate: Surrogate.Gaussian(0.3)).Validate();
        Assert.IsType<GaussianSurrogate>(lif.Surrogate);
        Assert.Contains("FS", IzhikevichParameters.PresetNames);
    }

    /// <summary>IProgress that reports on the calling thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
