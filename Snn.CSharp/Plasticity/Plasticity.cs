using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>
/// Parameters of trace-based pair STDP. Traces decay as x_t = x_{t-1} e^{-dt/τ} + s_t (dt, τ in ms); the update of one
/// step is A₊ f₊(w) (s_post ⊗ x) - A₋ f₋(w) (y ⊗ s_pre), with f₊ = f₋ = 1 (additive) or f₊ = W_max - w,
/// f₋ = w - W_min (multiplicative, soft bounds). Every omitted argument takes the F# core's
/// <c>Snn.Plasticity.StdpParameters.Default</c> (τ₊ = τ₋ = 20 ms, dt = 1 ms, A₊ = 0.01, A₋ = 0.0105, W ∈ [0, 1], additive).
/// </summary>
public sealed record StdpOptions
{
    private static global::Snn.Plasticity.StdpParameters D => global::Snn.Plasticity.StdpParameters.Default;

    /// <summary>Creates the options; <c>null</c> (or an omitted argument) means the F# default of that field.</summary>
    /// <param name="TauPre">Presynaptic trace time constant τ₊ in ms (&gt; 0).</param>
    /// <param name="TauPost">Postsynaptic trace time constant τ₋ in ms (&gt; 0).</param>
    /// <param name="Dt">Step in ms (&gt; 0).</param>
    /// <param name="APlus">Potentiation amplitude A₊ (≥ 0).</param>
    /// <param name="AMinus">Depression amplitude A₋ (≥ 0).</param>
    /// <param name="WeightMin">Lower weight bound.</param>
    /// <param name="WeightMax">Upper weight bound (&gt; WeightMin).</param>
    /// <param name="Multiplicative">Soft-bound (weight-dependent) updates instead of additive ones.</param>
    public StdpOptions(double? TauPre = null, double? TauPost = null, double? Dt = null, double? APlus = null,
                       double? AMinus = null, double? WeightMin = null, double? WeightMax = null, bool? Multiplicative = null)
    {
        var d = D;
        this.TauPre = TauPre ?? d.TauPre;
        this.TauPost = TauPost ?? d.TauPost;
        this.Dt = Dt ?? d.Dt;
        this.APlus = APlus ?? d.APlus;
        this.AMinus = AMinus ?? d.AMinus;
        this.WeightMin = WeightMin ?? d.WeightMin;
        this.WeightMax = WeightMax ?? d.WeightMax;
        this.Multiplicative = Multiplicative ?? d.Dependence.IsMultiplicative;
    }

    /// <summary>Presynaptic trace time constant τ₊ in ms (&gt; 0).</summary>
    public double TauPre { get; init; }
    /// <summary>Postsynaptic trace time constant τ₋ in ms (&gt; 0).</summary>
    public double TauPost { get; init; }
    /// <summary>Step in ms (&gt; 0).</summary>
    public double Dt { get; init; }
    /// <summary>Potentiation amplitude A₊ (≥ 0).</summary>
    public double APlus { get; init; }
    /// <summary>Depression amplitude A₋ (≥ 0).</summary>
    public double AMinus { get; init; }
    /// <summary>Lower weight bound.</summary>
    public double WeightMin { get; init; }
    /// <summary>Upper weight bound (&gt; WeightMin).</summary>
    public double WeightMax { get; init; }
    /// <summary>Soft-bound (weight-dependent) updates instead of additive ones.</summary>
    public bool Multiplicative { get; init; }

    /// <summary>The F# core's validated parameters.</summary>
    internal global::Snn.Plasticity.StdpParameters ToCore()
    {
        var p = new global::Snn.Plasticity.StdpParameters(
            tauPre: TauPre, tauPost: TauPost, dt: Dt, aPlus: APlus, aMinus: AMinus, weightMin: WeightMin, weightMax: WeightMax,
            dependence: Multiplicative ? global::Snn.Plasticity.WeightDependence.Multiplicative : global::Snn.Plasticity.WeightDependence.Additive);
        global::Snn.Plasticity.validate(p);
        return p;
    }
}

/// <summary>Presynaptic and postsynaptic traces of one layer, batch-first like one step of the spikes.</summary>
/// <param name="Pre">Presynaptic trace x [B, ...].</param>
/// <param name="Post">Postsynaptic trace y [B, ...].</param>
public sealed record StdpTraces(Tensor Pre, Tensor Post);

/// <summary>A weight update and the traces after the spike trains.</summary>
/// <param name="Delta">The update Δw, shaped like the weight.</param>
/// <param name="Traces">The traces after the last step (pass them on to continue a stream).</param>
public sealed record StdpUpdate(Tensor Delta, StdpTraces Traces);

/// <summary>
/// Rates of first-spike STDP (SpykeTorch / Mozafari et al. 2018): ΔW = a₊ S(W) when t_pre ≤ t_post, -a₋ S(W)
/// otherwise, with the stabiliser S(W) = (W - W_min)(W_max - W) (or 1 without it). Every omitted argument takes the
/// F# core's <c>Snn.Plasticity.FirstSpikeStdpParameters.Default</c> (a₊ = 0.004, a₋ = 0.003, W ∈ [0, 1], stabilised).
/// </summary>
public sealed record FirstSpikeStdpOptions
{
    private static global::Snn.Plasticity.FirstSpikeStdpParameters D => global::Snn.Plasticity.FirstSpikeStdpParameters.Default;

    /// <summary>Creates the rates; <c>null</c> (or an omitted argument) means the F# default of that field.</summary>
    /// <param name="Potentiation">a₊ (≥ 0).</param>
    /// <param name="Depression">a₋ (≥ 0).</param>
    /// <param name="WeightMin">Lower bound.</param>
    /// <param name="WeightMax">Upper bound.</param>
    /// <param name="Stabilise">Multiply by the stabiliser.</param>
    public FirstSpikeStdpOptions(double? Potentiation = null, double? Depression = null, double? WeightMin = null,
                                 double? WeightMax = null, bool? Stabilise = null)
    {
        var d = D;
        this.Potentiation = Potentiation ?? d.Potentiation;
        this.Depression = Depression ?? d.Depression;
        this.WeightMin = WeightMin ?? d.WeightMin;
        this.WeightMax = WeightMax ?? d.WeightMax;
        this.Stabilise = Stabilise ?? d.Stabilise;
    }

    /// <summary>a₊ (≥ 0).</summary>
    public double Potentiation { get; init; }
    /// <summary>a₋ (≥ 0).</summary>
    public double Depression { get; init; }
    /// <summary>Lower bound.</summary>
    public double WeightMin { get; init; }
    /// <summary>Upper bound.</summary>
    public double WeightMax { get; init; }
    /// <summary>Multiply by the stabiliser.</summary>
    public bool Stabilise { get; init; }

    /// <summary>The F# core's validated parameters.</summary>
    internal global::Snn.Plasticity.FirstSpikeStdpParameters ToCore()
    {
        var p = new global::Snn.Plasticity.FirstSpikeStdpParameters(
            potentiation: Potentiation, depression: Depression, weightMin: WeightMin, weightMax: WeightMax, stabilise: Stabilise);
        global::Snn.Plasticity.validateFirstSpike(p);
        return p;
    }
}

/// <summary>A neuron chosen to learn by k-winners-take-all.</summary>
/// <param name="Sample">Sample index in the batch.</param>
/// <param name="Feature">Feature (output channel).</param>
/// <param name="Row">Row in the feature map.</param>
/// <param name="Column">Column in the feature map.</param>
public readonly record struct Winner(int Sample, int Feature, int Row, int Column)
{
    internal global::Snn.Plasticity.Winner ToCore() => new(sample: Sample, feature: Feature, row: Row, column: Column);
}

/// <summary>
/// STDP and R-STDP as pure functions returning weight updates. Spike trains are time-first [T, B, ...]; times and
/// time constants are in milliseconds.
/// </summary>
public static class Plasticity
{
    private static StdpTraces Zero(Tensor pre, Tensor post) =>
        new(zeros(pre.shape.Skip(1).ToArray()), zeros(post.shape.Skip(1).ToArray()));

    private static StdpUpdate Run(global::Snn.Plasticity.Connection connection, Tensor weight, Tensor preSpikes,
                                  Tensor postSpikes, StdpOptions? options, StdpTraces? traces)
    {
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(preSpikes);
        ArgumentNullException.ThrowIfNull(postSpikes);
        var start = traces ?? Zero(preSpikes, postSpikes);
        var result = global::Snn.Plasticity.stdp(
            (options ?? new StdpOptions()).ToCore(), connection, weight,
            new global::Snn.Plasticity.StdpTraces(pre: start.Pre, post: start.Post), preSpikes, postSpikes);
        return new StdpUpdate(result.Item2, new StdpTraces(result.Item1.Pre, result.Item1.Post));
    }

    /// <summary>Pair STDP of a dense weight [out, in] over spike trains, weight held fixed during them.</summary>
    /// <param name="weight">Weight [out, in].</param>
    /// <param name="preSpikes">Input spikes [T, B, in].</param>
    /// <param name="postSpikes">Output spikes [T, B, out].</param>
    /// <param name="options">Rule parameters; <c>null</c> means the defaults.</param>
    /// <param name="traces">Traces to start from; <c>null</c> means zero.</param>
    /// <returns>Δw summed over time and batch, and the final traces.</returns>
    public static StdpUpdate DenseStdp(Tensor weight, Tensor preSpikes, Tensor postSpikes, StdpOptions? options = null, StdpTraces? traces = null) =>
        Run(global::Snn.Plasticity.Connection.Dense, weight, preSpikes, postSpikes, options, traces);

    /// <summary>Pair STDP of a convolution weight [Cout, Cin, kh, kw] (stride, zero padding) over spike trains.</summary>
    /// <param name="weight">Weight [Cout, Cin, kh, kw].</param>
    /// <param name="preSpikes">Input spikes [T, B, Cin, H, W].</param>
    /// <param name="postSpikes">Output spikes [T, B, Cout, H', W'].</param>
    /// <param name="stride">Convolution stride.</param>
    /// <param name="padding">Zero padding.</param>
    /// <param name="options">Rule parameters; <c>null</c> means the defaults.</param>
    /// <param name="traces">Traces to start from; <c>null</c> means zero.</param>
    /// <returns>Δw summed over time, batch and positions, and the final traces.</returns>
    public static StdpUpdate Conv2dStdp(Tensor weight, Tensor preSpikes, Tensor postSpikes, int stride = 1, int padding = 0,
                                        StdpOptions? options = null, StdpTraces? traces = null) =>
        Run(global::Snn.Plasticity.Connection.NewConv2d(stride, padding), weight, preSpikes, postSpikes, options, traces);

    /// <summary>Applies an update and clamps to the bounds: clamp(w + Δw, W_min, W_max).</summary>
    /// <param name="weight">The weight.</param>
    /// <param name="delta">The update.</param>
    /// <param name="options">Supplies the bounds; <c>null</c> means the defaults.</param>
    /// <returns>The new weight (a fresh tensor).</returns>
    public static Tensor ApplyUpdate(Tensor weight, Tensor delta, StdpOptions? options = null) =>
        global::Snn.Plasticity.applyUpdate((options ?? new StdpOptions()).ToCore(), weight, delta);

    /// <summary>The first-spike step of every neuron of spike trains [T, B, ...]; T where it never fires.</summary>
    /// <param name="spikes">Spike trains [T, B, ...].</param>
    /// <returns>Times [B, ...] (float32).</returns>
    public static Tensor FirstSpikeTimes(Tensor spikes) => global::Snn.Plasticity.firstSpikeTimes(spikes);

    /// <summary>k-winners-take-all with lateral inhibition: earliest first, ties by larger score, one winner per
    /// feature, and no winner within <paramref name="radius"/> positions of an earlier one.</summary>
    /// <param name="times">First-spike times [B, F, H, W] (<paramref name="steps"/> = never).</param>
    /// <param name="scores">Tie-breaking scores [B, F, H, W] (e.g. potentials).</param>
    /// <param name="k">Winners per sample.</param>
    /// <param name="radius">Inhibition radius in positions.</param>
    /// <param name="steps">Number of steps T.</param>
    /// <returns>The winners, sample by sample.</returns>
    public static IReadOnlyList<Winner> KWinners(Tensor times, Tensor scores, int k, int radius, int steps) =>
        global::Snn.Plasticity.kWinners(k, radius, steps, times, scores)
            .Select(w => new Winner(w.Sample, w.Feature, w.Row, w.Column)).ToArray();

    private static global::Snn.Plasticity.Winner[] Core(IEnumerable<Winner> winners)
    {
        ArgumentNullException.ThrowIfNull(winners);
        return winners.Select(w => w.ToCore()).ToArray();
    }

    /// <summary>First-spike STDP of the winners' kernels of a convolution weight [Cout, Cin, kh, kw].</summary>
    /// <param name="weight">Weight [Cout, Cin, kh, kw] in [W_min, W_max].</param>
    /// <param name="preTimes">Input first-spike times [B, Cin, H, W].</param>
    /// <param name="postTimes">Output first-spike times [B, Cout, H', W'].</param>
    /// <param name="winners">The learning neurons.</param>
    /// <param name="options">Rates; <c>null</c> means Mozafari 2018's first layer.</param>
    /// <param name="stride">Convolution stride.</param>
    /// <param name="padding">Zero padding (padded inputs count as never firing).</param>
    /// <returns>ΔW.</returns>
    public static Tensor FirstSpikeStdp(Tensor weight, Tensor preTimes, Tensor postTimes, IEnumerable<Winner> winners,
                                        FirstSpikeStdpOptions? options = null, int stride = 1, int padding = 0) =>
        global::Snn.Plasticity.firstSpikeStdp((options ?? new FirstSpikeStdpOptions()).ToCore(), stride, padding, weight, preTimes, postTimes, Core(winners));

    /// <summary>
    /// R-STDP (Mozafari et al. 2018): per sample, reward r &gt; 0 applies r times STDP with the reward rates, r &lt; 0
    /// applies |r| times anti-STDP with the punishment rates, r = 0 nothing.
    /// </summary>
    /// <param name="weight">Weight [Cout, Cin, kh, kw].</param>
    /// <param name="preTimes">Input first-spike times [B, Cin, H, W].</param>
    /// <param name="postTimes">Output first-spike times [B, Cout, H', W'].</param>
    /// <param name="winners">The learning neurons (e.g. the deciding neuron of each sample).</param>
    /// <param name="rewards">One reward per sample.</param>
    /// <param name="reward">Rates after a reward; <c>null</c> means the F# default (0.004, 0.003).</param>
    /// <param name="punishment">Rates after a punishment; <c>null</c> means the F# default (0.004, 0.0005).</param>
    /// <param name="stride">Convolution stride.</param>
    /// <param name="padding">Zero padding.</param>
    /// <returns>ΔW.</returns>
    public static Tensor RewardModulatedStdp(Tensor weight, Tensor preTimes, Tensor postTimes, IEnumerable<Winner> winners,
                                             IReadOnlyList<double> rewards, FirstSpikeStdpOptions? reward = null,
                                             FirstSpikeStdpOptions? punishment = null, int stride = 1, int padding = 0)
    {
        ArgumentNullException.ThrowIfNull(rewards);
        var p = new global::Snn.Plasticity.RStdpParameters(
            reward: reward?.ToCore() ?? global::Snn.Plasticity.RStdpParameters.Default.Reward,
            punishment: punishment?.ToCore() ?? global::Snn.Plasticity.RStdpParameters.Default.Punishment);
        return global::Snn.Plasticity.rewardModulatedFirstSpike(p, stride, padding, weight, preTimes, postTimes, Core(winners), rewards.ToArray());
    }
}
