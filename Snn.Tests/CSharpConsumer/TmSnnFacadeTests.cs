using System;
using System.Linq;
using Snn.CSharp;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace CSharpConsumer.Tests;

public class TmSnnFacadeTests
{
    [Fact]
    public void ThresholdModulationChangesSpikesAndEvaluatesEveryTask()
    {
        manual_seed(3);
        var tasks = TaskDefinition.DigitTasks.Take(2).ToList();
        Assert.Equal(new[] { 0, 1, 0, 1, 0, 1, 0, 1, 0, 1 }, tasks[1].ClassToLabel);
        using var model = new TmSnn(6, tasks, featureSizes: new[] { 8, 8 }, labelHidden: 5, taskHidden: 4);
        Assert.Equal(new[] { 1.25, 5.0 }, model.Thresholds.data<float>().Select(x => (double)x).ToArray());

        var input = (rand(new long[] { 10, 4, 6 }) < 0.5).to_type(ScalarType.Float32);
        var output = model.Run(input, task: 1, withTaskClassifier: true);
        Assert.Equal(new long[] { 10, 4, 12 }, output.Labels.shape);
        Assert.Equal(new long[] { 10, 4, 2 }, output.Tasks!.shape);
        Assert.Equal(new long[] { 10, 4, 2 }, model.Slice(output.Labels, 1).shape);

        var samples = (rand(new long[] { 20, 10, 6 }) < 0.5).to_type(ScalarType.Float32);
        var classes = tensor(Enumerable.Range(0, 20).Select(i => (long)(i % 10)).ToArray());
        var reports = model.Fit(samples, classes, new TmSnnTrainingSettings(Gamma: 0.3),
                                TrainerSettings.TmSnnDefaults with { Epochs = 1, BatchSize = 10 }).Epochs;
        Assert.Single(reports);
        Assert.Equal(2, reports[0].BatchesPerTask.Sum());
        var evaluations = model.Evaluate(samples, classes);
        Assert.Equal(new[] { 1.25, 5.0 }, evaluations.Select(e => e.Threshold).ToArray());
        Assert.Equal(4, evaluations[0].Layers.Count);
        Assert.Equal(20, evaluations[1].Report.Support.Sum());

        var error = Assert.ThrowsAny<ArgumentException>(() => new TmSnn(6, tasks, thresholds: new[] { 1.25 }));
        Assert.Equal("Thresholds", error.ParamName);
    }
}
