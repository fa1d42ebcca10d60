using System;
using System.Linq;
using Snn.CSharp;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace CSharpConsumer.Tests;

public class HypergradientFacadeTests
{
    [Fact]
    public void HypergradientOfAQuadraticMatchesTheClosedForm()
    {
        // L_T(w, φ) = ½ a w² − w φ, so w* = φ / a; L_V(w) = ½ (w − c)²: dL_V/dφ = (w* − c) / a.
        double a = 2.0, c = 0.5, phi0 = 3.0;
        var w = tensor(new[] { phi0 / a }).requires_grad_(true);
        var phi = tensor(new[] { phi0 }).requires_grad_(true);
        var train = (w * w * (a / 2.0) - w * phi).sum();
        var outer = ((w - c) * (w - c) * 0.5).sum();
        var h = Hypergradients.Compute(InverseHessian.ConjugateGradient(5, 0.0), train, outer, new[] { w }, new[] { phi });
        Assert.Equal((phi0 / a - c) / a, h[0].ToDouble(), 10);
    }

    [Fact]
    public void BilevelTrainerTakesHyperStepsOnSchedule()
    {
        manual_seed(1);
        var x = rand(16, 4);
        var y = x.sum(1).unsqueeze(1);
        var layer = nn.Linear(4, 1);
        var weights = layer.parameters().ToArray();
        using var combiner = new LinearLossCombiner(1, 0.5);
        var trainer = new BilevelTrainer(weights.Select(p => (Tensor)p).ToArray(), combiner.Parameters,
                                         optim.SGD(weights, 0.05), InverseHessian.Neumann(3, 0.1), interval: 2, hyperLearningRate: 0.01);
        Tensor TrainLoss()
        {
            var error = (layer.forward(x) - y).pow(2);
            return error.mean() + combiner.Combine(error);
        }
        Tensor OuterLoss() => (layer.forward(x) - y).pow(2).mean();
        var first = trainer.Step(TrainLoss, OuterLoss);
        var second = trainer.Step(TrainLoss, OuterLoss);
        Assert.Null(first.OuterLoss);
        Assert.NotNull(second.OuterLoss);
        Assert.True(second.HypergradientNorm > 0.0);
        Assert.Equal(2, trainer.Steps);
        Assert.Throws<ArgumentException>(() => InverseHessian.Neumann(-1));
    }
}
