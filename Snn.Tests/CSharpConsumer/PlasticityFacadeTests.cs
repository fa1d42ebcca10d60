using System;
using System.Linq;
using Snn.CSharp;
using Xunit;
using static TorchSharp.torch;

namespace CSharpConsumer.Tests;

public class PlasticityFacadeTests
{
    private static Tensor OneSpike(int steps, int step) =>
        tensor(Enumerable.Range(0, steps).Select(t => t == step ? 1f : 0f).ToArray()).reshape(steps, 1, 1);

    [Fact]
    public void DenseStdpPotentiatesPreBeforePostByTheExponential()
    {
        using var scope = NewDisposeScope();
        var options = new StdpOptions(TauPre: 10.0, TauPost: 10.0, Dt: 1.0, APlus: 0.01, AMinus: 0.01);
        var weight = full(new long[] { 1, 1 }, 0.5f);
        var ltp = Plasticity.DenseStdp(weight, OneSpike(8, 1), OneSpike(8, 4), options);
        Assert.Equal(0.01 * Math.Exp(-0.3), ltp.Delta.item<float>(), 6);
        var ltd = Plasticity.DenseStdp(weight, OneSpike(8, 4), OneSpike(8, 1), options);
        Assert.Equal(-0.01 * Math.Exp(-0.3), ltd.Delta.item<float>(), 6);
        Assert.Equal(new long[] { 1, 1 }, ltp.Traces.Pre.shape);
        var clamped = Plasticity.ApplyUpdate(weight, full(new long[] { 1, 1 }, 2f), options);
        Assert.Equal(1f, clamped.item<float>());
        var error = Assert.Throws<ArgumentException>(() => Plasticity.DenseStdp(weight, OneSpike(8, 1), OneSpike(8, 4), new StdpOptions(TauPre: -1)));
        Assert.Contains("TauPre", error.Message);
    }

    [Fact]
    public void RewardAppliesStdpAndPunishmentItsMirror()
    {
        using var scope = NewDisposeScope();
        var weight = full(new long[] { 1, 1, 1, 3 }, 0.5f);
        var pre = tensor(new float[] { 0, 2, 5 }).reshape(1, 1, 1, 3);
        var post = tensor(new float[] { 2 }).reshape(1, 1, 1, 1);
        var winners = Plasticity.KWinners(post, ones(1, 1, 1, 1), k: 1, radius: 0, steps: 5);
        Assert.Equal(new Winner(0, 0, 0, 0), Assert.Single(winners));
        var rates = new FirstSpikeStdpOptions(Potentiation: 0.04, Depression: 0.02);
        var stdp = Plasticity.FirstSpikeStdp(weight, pre, post, winners, rates);
        Assert.Equal(new[] { 0.01f, 0.01f, -0.005f }, stdp.data<float>().ToArray());
        var rewarded = Plasticity.RewardModulatedStdp(weight, pre, post, winners, new[] { 1.0 }, rates, rates);
        var punished = Plasticity.RewardModulatedStdp(weight, pre, post, winners, new[] { -1.0 }, rates, rates);
        Assert.Equal(stdp.data<float>().ToArray(), rewarded.data<float>().ToArray());
        Assert.Equal(stdp.neg().data<float>().ToArray(), punished.data<float>().ToArray());
        var trains = stack(new[] { OneSpike(6, 0), OneSpike(6, 2), OneSpike(6, -1) }, 2).reshape(6, 1, 3);
        Assert.Equal(new[] { 0f, 2f, 6f }, Plasticity.FirstSpikeTimes(trains).data<float>().ToArray());
    }
}
