using System;
using System.IO;
using System.Linq;
using Snn.CSharp;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using FM = global::Snn.Modules;
using FN = global::Snn.Neurons;

namespace CSharpConsumer.Tests;

/// <summary>The facade against the F# core it wraps: the same defaults, the same kernel, the same state dicts.</summary>
public class ParityFacadeTests
{
    [Fact]
    public void DefaultRecordsConvertToTheFSharpDefaultsOfEveryNeuronFamily()
    {
        Assert.Equal(FN.LifParameters.Default, new LifParameters().ToCore());
        Assert.Equal(FN.IfParameters.Default, new IfParameters().ToCore());
        Assert.Equal(FN.PlifParameters.Default, new PlifParameters().ToCore());
        Assert.Equal(FN.CuLifParameters.Default, new CuLifParameters().ToCore());
        Assert.Equal(FN.AdaptiveThresholdParameters.Default, new AdaptiveThresholdParameters().ToCore());
        Assert.Equal(FN.AdLifParameters.Default, new AdLifParameters().ToCore());
        Assert.Equal(FN.IzhikevichParameters.Default, new IzhikevichParameters().ToCore());
        Assert.Equal(FN.HodgkinHuxleyParameters.Default, new HodgkinHuxleyParameters().ToCore());
        Assert.Equal(FN.NonlinearIfParameters.DefaultQuadratic, NonlinearIfParameters.Quadratic().Value);
        Assert.Equal(FN.NonlinearIfParameters.DefaultExponential, NonlinearIfParameters.Exponential().Value);
        // The learning rules' options too.
        Assert.Equal(global::Snn.Plasticity.StdpParameters.Default, new StdpOptions().ToCore());
        Assert.Equal(global::Snn.Plasticity.FirstSpikeStdpParameters.Default, new FirstSpikeStdpOptions().ToCore());
    }

    [Fact]
    public void DefaultTrainerSettingsConvertToTheFSharpDefault()
    {
        var d = global::Snn.Training.TrainerSettings.Default;
        var c = new TrainerSettings().ToCore();
        // Every field but the loss, a function compared by reference; the C# default loss is F#'s own function.
        Assert.Equal((d.Epochs, d.BatchSize, d.LearningRate, d.Seed, d.Optimizer, d.Schedule),
                     (c.Epochs, c.BatchSize, c.LearningRate, c.Seed, c.Optimizer, c.Schedule));
        Assert.Equal((d.ClipGradientNorm, d.EarlyStoppingPatience, d.CheckpointDirectory, d.Resume),
                     (c.ClipGradientNorm, c.EarlyStoppingPatience, c.CheckpointDirectory, c.Resume));
        Assert.Same(d.Loss, c.Loss);
    }

    [Fact]
    public void GivenFieldsReplaceOnlyThemselvesAndPresetsKeepTheFSharpRest()
    {
        var d = FN.LifParameters.Default;
        var expected = new FN.LifParameters(
            tauMem: 20.0, dt: 10.0, vRest: d.VRest, vReset: d.VReset, vThreshold: d.VThreshold, reset: FN.ResetMode.Soft,
            detachReset: d.DetachReset, refractorySteps: d.RefractorySteps, scheme: d.Scheme, coupling: d.Coupling,
            surrogate: d.Surrogate);
        Assert.Equal(expected, new LifParameters(TauMem: 20, Dt: 10, Reset: ResetMode.Soft).ToCore());
        Assert.Equal(expected, (new LifParameters() with { TauMem = 20, Dt = 10, Reset = ResetMode.Soft }).ToCore());

        var liu = FN.AdLifParameters.Liu2023;
        var l = AdLifParameters.Liu2023(tauMem: 30, tauAdapt: 200, a: 0.1, b: 0.3).ToCore();
        Assert.Equal((30.0, 200.0, 0.1, 0.3), (l.TauMem, l.TauAdapt, l.A, l.B));
        Assert.Equal((liu.Dt, liu.VThreshold, liu.Reset, liu.VReset, liu.DetachReset, liu.Adaptation),
                     (l.Dt, l.VThreshold, l.Reset, l.VReset, l.DetachReset, l.Adaptation));
        Assert.Equal(FN.Izhikevich.preset("FS"), IzhikevichParameters.Preset("FS").ToCore());
    }

    [Fact]
    public void DenseSnnAndNeuronLayersDefaultToTheFusedKernel()
    {
        using var model = new DenseSnn(6, 5, 3);
        Assert.True(model.Fused);
        // The F# layers themselves run the fused kernel.
        var lifs = model.named_children().Where(c => c.name.StartsWith("lif")).Select(c => (FM.LifLayer)c.module).ToList();
        Assert.Equal(2, lifs.Count);
        Assert.All(lifs, l => Assert.True(l.Kernel.IsFused));
        using var reference = new DenseSnn(6, 5, 3, fused: false);
        Assert.False(reference.Fused);
        Assert.All(reference.named_children().Where(c => c.name.StartsWith("lif")), c => Assert.True(((FM.LifLayer)c.module).Kernel.IsReference));

        Assert.True(new LifLayer().Fused);
        Assert.False(new LifLayer(fused: false).Fused);
        Assert.True(NeuronLayer.If().Fused);
        Assert.True(NeuronLayer.Lif().Fused);
        Assert.True(NeuronLayer.Plif(null, 3).Fused);
        Assert.True(NeuronLayer.CuLif().Fused);
        Assert.False(NeuronLayer.Lif(fused: false).Fused);
        Assert.False(NeuronLayer.Plif(null, false, 3).Fused);
        Assert.False(NeuronLayer.CuLif(null, false, false).Fused);
        // Models without a fused kernel (and learned CuLIF decays) keep the reference.
        Assert.False(NeuronLayer.CuLif(trainable: true).Fused);
        Assert.False(NeuronLayer.AdLif().Fused);
        Assert.False(NeuronLayer.AdaptiveThreshold().Fused);
        Assert.False(NeuronLayer.Izhikevich().Fused);
    }

    [Fact]
    public void FusedDefaultGivesTheReferenceSpikesAndGradients()
    {
        using var scope = NewDisposeScope();
        var neuron = new LifParameters(TauMem: 20, Dt: 10);
        manual_seed(3);
        using var fused = new DenseSnn(12, 10, 4, neuron, weightGain: 6.0);
        manual_seed(3);
        using var reference = new DenseSnn(12, 10, 4, neuron, weightGain: 6.0, fused: false);
        manual_seed(4);
        var input = (rand(15, 3, 12) < 0.4).to_type(float32);
        // A loss on the spike counts, so the gradient passes through every step's surrogate.
        var target = tensor(new[] { 2f, 0f, 5f, 1f });
        (Tensor spikes, Tensor grad) Run(DenseSnn net)
        {
            net.zero_grad();
            var output = net.forward(input);
            (output.sum(dim: 0) - target).pow(2).sum().backward();
            return (output.detach(), net.named_parameters().First(p => p.name == "fc1.inner.weight").parameter.grad!.clone());
        }
        var (fs, fg) = Run(fused);
        var (rs, rg) = Run(reference);
        Assert.True(fs.sum().item<float>() > 0, "the network must spike for the test to mean anything");
        Assert.True(Same(fs, rs));
        Assert.True(fg.abs().sum().item<float>() > 0, "gradients must reach the first layer");
        Assert.True(allclose(fg, rg, rtol: 1e-4, atol: 1e-6), $"fused and reference gradients differ by {(fg - rg).abs().max().item<float>()}");
    }

    /// <summary>Same shape and bitwise-equal elements.</summary>
    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private static void AssertSameStateDict(nn.Module expected, nn.Module actual)
    {
        var e = expected.state_dict();
        var a = actual.state_dict();
        Assert.Equal(e.Keys.ToArray(), a.Keys.ToArray());
        foreach (var key in e.Keys)
        {
            Assert.Equal(e[key].shape, a[key].shape);
            Assert.True(Same(e[key], a[key]), $"{key} differs");
        }
    }

    private static void AssertFilesCross(nn.Module fsharp, nn.Module csharp, Func<nn.Module> freshFSharp, Func<nn.Module> freshCSharp)
    {
        var dir = Directory.CreateTempSubdirectory("snn-parity-");
        try
        {
            var fromF = Path.Combine(dir.FullName, "fsharp.bin");
            var fromC = Path.Combine(dir.FullName, "csharp.bin");
            fsharp.save(fromF);
            csharp.save(fromC);
            manual_seed(99);
            using var c = freshCSharp();
            c.load(fromF);
            AssertSameStateDict(fsharp, c);
            manual_seed(98);
            using var f = freshFSharp();
            f.load(fromC);
            AssertSameStateDict(csharp, f);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void DenseSnnStateDictIsTheFSharpNetworksAndFilesCrossOver()
    {
        FM.DenseSnn FSharp() => new(20, 12, 4, FN.LifParameters.Default, 2.0, global::Snn.Kernel.Fused);
        DenseSnn CSharp() => new(20, 12, 4, weightGain: 2.0);
        manual_seed(11);
        using var f = FSharp();
        manual_seed(11);
        using var c = CSharp();
        Assert.Equal(new[] { "fc1.inner.weight", "fc1.inner.bias", "fc2.inner.weight", "fc2.inner.bias" }, c.state_dict().Keys.ToArray());
        AssertSameStateDict(f, c);
        AssertFilesCross(f, c, FSharp, CSharp);

        // A file from the F# network gives the C# one the F# network's spikes.
        using var scope = NewDisposeScope();
        manual_seed(12);
        var input = (rand(10, 2, 20) < 0.5).to_type(float32);
        Assert.True(Same(f.forward(input), c.forward(input)));
    }

    [Fact]
    public void TmSnnStateDictIsTheFSharpNetworksAndFilesCrossOver()
    {
        var tasks = TaskDefinition.DigitTasks;
        FM.TmSnn FSharp()
        {
            var t = FM.TmSnnConfig.Thesis(20, global::Snn.MultiTask.digitTasks.ToArray());
            return new(new FM.TmSnnConfig(
                inputs: t.Inputs, featureSizes: new[] { 16, 12 }, labelHidden: 8, taskHidden: 6, tasks: t.Tasks, neuron: t.Neuron,
                weightGain: t.WeightGain, modulation: t.Modulation, thresholds: t.Thresholds, currents: t.Currents,
                kernel: t.Kernel, spikeGradient: t.SpikeGradient));
        }
        TmSnn CSharp() => new(20, tasks, featureSizes: new[] { 16, 12 }, labelHidden: 8, taskHidden: 6);
        manual_seed(21);
        using var f = FSharp();
        manual_seed(21);
        using var c = CSharp();
        Assert.Equal(new[] { "feature1.inner.weight", "feature2.inner.weight", "label1.inner.weight", "label2.inner.weight",
                             "task1.inner.weight", "task2.inner.weight" }, c.state_dict().Keys.ToArray());
        AssertSameStateDict(f, c);
        AssertFilesCross(f, c, FSharp, CSharp);
        // Same thresholds and neurons: task 1's spikes agree in every block.
        Assert.True(Same(f.Thresholds, c.Thresholds));
        using var scope = NewDisposeScope();
        manual_seed(22);
        var input = (rand(30, 3, 20) < 0.5).to_type(float32);
        var fo = f.Run(input, 1, true);
        var co = c.Run(input, 1, withTaskClassifier: true);
        Assert.True(fo.Features[0].sum().item<float>() > 0, "the network must spike for the comparison to mean anything");
        Assert.True(Same(fo.Features[0], co.Features[0]));
        Assert.True(Same(fo.Features[1], co.Features[1]));
        Assert.True(Same(fo.LabelHidden, co.LabelHidden));
        Assert.True(Same(fo.Labels, co.Labels));
        Assert.True(Same(fo.Tasks.Value, co.Tasks!));
    }

    [Fact]
    public void AlSnnStateDictIsTheFSharpNetworksAndModeReachesTheCore()
    {
        var tasks = new[] { AuxiliaryTask.MovingPatterns("A2"), AuxiliaryTask.Random("A4", 10, 4, seed: 3) };
        FM.AlSnn FSharp() => FM.AlSnn.Mlp(24, new[] { 16 }, 10, tasks.Select(t => t.Classes).ToArray(), FN.PlifParameters.Default, 6.0);
        AlSnn CSharp() => AlSnn.Mlp(24, new[] { 16 }, 10, tasks, weightGain: 6.0);
        manual_seed(31);
        using var f = FSharp();
        manual_seed(31);
        using var c = CSharp();
        Assert.DoesNotContain(c.state_dict().Keys, k => k.StartsWith("core."));
        AssertSameStateDict(f, c);
        AssertFilesCross(f, c, FSharp, CSharp);
        c.eval();
        Assert.False(c.Core.training);
        Assert.All(c.modules(), m => Assert.False(m.training));
        c.train();
        Assert.True(c.Core.training);
    }
}
