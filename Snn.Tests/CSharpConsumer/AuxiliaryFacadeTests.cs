using System;
using System.Linq;
using Snn.CSharp;
using Xunit;
using static TorchSharp.torch;

namespace CSharpConsumer.Tests;

public class AuxiliaryFacadeTests
{
    [Fact]
    public void LabelMapsFollowTable3AndRejectGaps()
    {
        var a2 = AuxiliaryTask.Cifar10Dvs("A2");
        Assert.Equal(2, a2.Classes);
        Assert.Equal(new long[] { 0, 1, 0 }, a2.Relabel(tensor(new long[] { 0, 3, 9 })).data<long>().ToArray());
        Assert.Equal(4, AuxiliaryTask.FashionMnist("A3").Classes);
        var grouped = AuxiliaryTask.FromGroups("halves", 4, new[] { new[] { 0, 1 }, new[] { 2, 3 } });
        Assert.Equal(new[] { 0, 0, 1, 1 }, grouped.Labels);
        var error = Assert.ThrowsAny<ArgumentException>(() => AuxiliaryTask.Create("gap", new[] { 0, 2, 2 }));
        Assert.Contains("no class maps to 1", error.Message);
    }

    [Fact]
    public void TheNetworkRunsAuxiliaryHeadsOnlyInTrainingAndTrains()
    {
        manual_seed(1);
        var tasks = new[] { AuxiliaryTask.MovingPatterns("A2"), AuxiliaryTask.Random("A4", 10, 4, seed: 3) };
        using var model = AlSnn.Mlp(24, new[] { 16 }, 10, tasks, weightGain: 6.0);
        var x = rand(4, 6, 24).lt(0.3).to_type(ScalarType.Float32);
        model.train();
        var output = model.Run(x);
        Assert.Equal(new long[] { 4, 6, 10 }, output.Main.shape);
        Assert.Equal(new long[] { 4, 6, 4 }, output.Auxiliary[1].shape);
        model.eval();
        Assert.Empty(model.Run(x).Auxiliary);

        var main = tensor(new[] { 1.0, 3.0 });
        var aux = tensor(new[] { 5.0, 7.0, 9.0, 11.0 }).reshape(2, 2);
        Assert.Equal(2.0, AuxiliaryLearning.Manual(0.0, new[] { 1.0, 1.0 })(main, aux).item<double>(), 12);
        Assert.Equal(0.5 * 2.0 + 0.5 * (6.0 + 10.0), AuxiliaryLearning.Manual(0.5, new[] { 1.0, 1.0 })(main, aux).item<double>(), 12);

        var frames = new FrameSet(x.transpose(0, 1).contiguous(), tensor(new long[] { 0, 1, 2, 8, 9, 5 }));
        var history = AuxiliaryLearning.Fit(model, new AuxiliaryTrainingSettings(tasks, Alpha: 0.3), frames, frames,
                                            TrainerSettings.AuxiliaryLearningDefaults with { Epochs = 2, BatchSize = 3 });
        var reports = history.Epochs;
        Assert.Equal(2, reports.Count);
        Assert.Equal(3, reports[1].Measures.Count);
        Assert.Contains("main loss", reports[1].Measures.Keys);
        Assert.InRange(reports[1].TestAccuracy, 0.0, 1.0);
    }
}
