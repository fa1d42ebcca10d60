using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>How a latency code maps an intensity x in [0, 1] to a firing step. Create with the static factories.</summary>
public abstract class LatencyCode
{
    private protected LatencyCode(global::Snn.Encoding.LatencyCode core) => Core = core;

    internal global::Snn.Encoding.LatencyCode Core { get; }

    /// <summary>t(x) = round((T - 1)(1 - x)).</summary>
    public static LatencyCode Linear() => new LinearLatency();

    /// <summary>The RC code t(x) = τ ln(x / (x - θ)) for x &gt; θ, clipped to T - 1.</summary>
    /// <param name="tau">Time constant τ in steps (&gt; 0).</param>
    public static LatencyCode Logarithmic(double tau = 5.0) => new LogarithmicLatency(tau);
}

/// <summary>The linear latency code.</summary>
public sealed class LinearLatency : LatencyCode
{
    internal LinearLatency() : base(global::Snn.Encoding.LatencyCode.Linear) { }
}

/// <summary>The logarithmic (RC) latency code.</summary>
public sealed class LogarithmicLatency : LatencyCode
{
    internal LogarithmicLatency(double tau) : base(global::Snn.Encoding.LatencyCode.NewLogarithmic(tau)) => Tau = tau;

    /// <summary>Time constant τ in steps.</summary>
    public double Tau { get; }
}

/// <summary>How each Gaussian of a difference-of-Gaussians kernel is weighted before the subtraction.</summary>
public enum DogForm
{
    /// <summary>SpykeTorch's unnormalised density (1/(2πσ²)) exp(-r²/(2σ²)) on the window (the default).</summary>
    Density,
    /// <summary>Each Gaussian divided by its sum over the window.</summary>
    UnitSum,
}

/// <summary>How intensity-to-latency spreads k non-zero values over T steps when k is not a multiple of T.</summary>
public enum LatencyBins
{
    /// <summary>Rank r fires at step ⌊r T / k⌋: every non-zero value fires (the default).</summary>
    Proportional,
    /// <summary>SpykeTorch's bins of ⌊k / T⌋ values: the k mod T weakest non-zero values never fire.</summary>
    EqualBins,
}

/// <summary>
/// Encoders from analog values [B, ...] to spike trains [T, B, ...], and SpykeTorch's S1C1 front end
/// (difference-of-Gaussians filters, intensity-to-latency). Random codes take a seed.
/// </summary>
public static class Encoding
{
    /// <summary>Poisson rate code: z_tb ~ Bernoulli(x_b) at every step.</summary>
    /// <param name="intensities">Intensities [B, ...] in [0, 1].</param>
    /// <param name="steps">Number of steps T.</param>
    /// <param name="seed">Seed of the code's own generator.</param>
    /// <returns>Spikes [T, B, ...].</returns>
    public static Tensor Poisson(Tensor intensities, int steps, long seed = 0) => global::Snn.Encoding.poisson(seed, steps, intensities);

    /// <summary>Latency code: one spike per element above the threshold, earlier for larger intensities.</summary>
    /// <param name="intensities">Intensities [B, ...] in [0, 1].</param>
    /// <param name="steps">Number of steps T.</param>
    /// <param name="code">The latency code; <c>null</c> means linear.</param>
    /// <param name="threshold">Intensities at or below it never fire.</param>
    /// <returns>Spikes [T, B, ...].</returns>
    public static Tensor Latency(Tensor intensities, int steps, LatencyCode? code = null, double threshold = 0.0) =>
        global::Snn.Encoding.latency((code ?? LatencyCode.Linear()).Core, threshold, steps, intensities);

    /// <summary>Delta code of a series [T, B, ...]: a spike where |x_t - x_{t-1}| ≥ θ (x_{-1} = 0).</summary>
    /// <param name="series">The series [T, B, ...].</param>
    /// <param name="threshold">The change θ that makes an event (&gt; 0).</param>
    /// <param name="signed">Give the spike the sign of the change.</param>
    /// <returns>Spikes [T, B, ...].</returns>
    public static Tensor Delta(Tensor series, double threshold, bool signed = false) => global::Snn.Encoding.delta(threshold, signed, series);

    /// <summary>Direct current: the input repeated at every step.</summary>
    /// <param name="input">Input [B, ...].</param>
    /// <param name="steps">Number of steps T.</param>
    /// <returns>[T, B, ...].</returns>
    public static Tensor DirectCurrent(Tensor input, int steps) => global::Snn.Encoding.directCurrent(steps, input);

    /// <summary>A difference-of-Gaussians kernel [k, k]: zero mean, maximum 1.</summary>
    /// <param name="size">Odd kernel size k ≥ 3.</param>
    /// <param name="sigmaCentre">Width of the centre Gaussian.</param>
    /// <param name="sigmaSurround">Width of the surround Gaussian.</param>
    /// <param name="form">How each Gaussian is weighted (default: SpykeTorch's density).</param>
    /// <returns>The kernel.</returns>
    public static Tensor DifferenceOfGaussians(int size, double sigmaCentre, double sigmaSurround, DogForm form = DogForm.Density) =>
        global::Snn.Encoding.differenceOfGaussiansWith(Form(form), size, sigmaCentre, sigmaSurround);

    /// <summary>SpykeTorch's S1C1 stage: DoG filtering of grey images [B, 1, H, W] with one kernel per
    /// (centre, surround) pair, responses at or below <paramref name="threshold"/> set to 0, then intensity-to-latency
    /// coding over <paramref name="steps"/> steps.</summary>
    /// <param name="images">Grey images [B, 1, H, W].</param>
    /// <param name="steps">Number of steps T.</param>
    /// <param name="kernelSize">Odd DoG kernel size.</param>
    /// <param name="sigmas">(centre, surround) widths, one pair per filter; <c>null</c> means on- and off-centre (1, 2), (2, 1).</param>
    /// <param name="threshold">Filter responses at or below it are dropped.</param>
    /// <param name="cumulative">Keep a neuron at 1 after its spike.</param>
    /// <param name="form">How each Gaussian is weighted (default: SpykeTorch's density).</param>
    /// <param name="bins">How the latency bins are sized (default: every non-zero response fires).</param>
    /// <returns>Spikes [T, B, F, H, W].</returns>
    public static Tensor S1C1(Tensor images, int steps, int kernelSize = 7, IReadOnlyList<(double Centre, double Surround)>? sigmas = null,
                              double threshold = 0.0, bool cumulative = true, DogForm form = DogForm.Density,
                              LatencyBins bins = LatencyBins.Proportional)
    {
        var pairs = (sigmas ?? new[] { (1.0, 2.0), (2.0, 1.0) }).Select(p => Tuple.Create(p.Centre, p.Surround)).ToArray();
        using var bank = global::Snn.Encoding.dogBankWith(Form(form), kernelSize, pairs);
        using var maps = global::Snn.Encoding.dogFilter(bank, threshold, images);
        return global::Snn.Encoding.intensityToLatencyWith(Bins(bins), steps, cumulative, maps);
    }

    /// <summary>Intensity-to-latency: per sample, non-zero values ranked from largest and split into T bins.</summary>
    /// <param name="input">Non-negative input [B, ...].</param>
    /// <param name="steps">Number of steps T.</param>
    /// <param name="cumulative">Keep a neuron at 1 after its spike.</param>
    /// <param name="bins">How the bins are sized (default: every non-zero value fires).</param>
    /// <returns>Spikes [T, B, ...].</returns>
    public static Tensor IntensityToLatency(Tensor input, int steps, bool cumulative = false, LatencyBins bins = LatencyBins.Proportional) =>
        global::Snn.Encoding.intensityToLatencyWith(Bins(bins), steps, cumulative, input);

    private static global::Snn.Encoding.DogForm Form(DogForm form) => form switch
    {
        DogForm.Density => global::Snn.Encoding.DogForm.Density,
        DogForm.UnitSum => global::Snn.Encoding.DogForm.UnitSum,
        _ => throw new ArgumentException($"unknown DoG form {form}", nameof(form)),
    };

    private static global::Snn.Encoding.LatencyBins Bins(LatencyBins bins) => bins switch
    {
        LatencyBins.Proportional => global::Snn.Encoding.LatencyBins.Proportional,
        LatencyBins.EqualBins => global::Snn.Encoding.LatencyBins.EqualBins,
        _ => throw new ArgumentException($"unknown latency bins {bins}", nameof(bins)),
    };
}
