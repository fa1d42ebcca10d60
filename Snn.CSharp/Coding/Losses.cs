using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>
/// Losses on spiking outputs and their combinators. Outputs are time-first [T, B, C]; labels are int64 vectors [B]
/// of class indices. Every loss is a batch mean, returns a fresh scalar tensor and never disposes its inputs.
/// </summary>
/// <exception cref="ArgumentException">Shapes disagree, a label is out of range or a constant is out of range;
/// the message names the parameter.</exception>
public static class Losses
{
    /// <summary>Spike counts n_bc = Σ_t z_tbc: [T, B, C] → [B, C].</summary>
    /// <param name="spikes">Spikes [T, B, ...].</param>
    /// <returns>The counts.</returns>
    public static Tensor SpikeCounts(Tensor spikes) => global::Snn.Loss.spikeCounts(spikes);

    /// <summary>Firing rates r_bc = (1/T) Σ_t z_tbc: [T, B, ...] → [B, ...].</summary>
    /// <param name="spikes">Spikes [T, B, ...].</param>
    /// <returns>The rates.</returns>
    public static Tensor FiringRates(Tensor spikes) => global::Snn.Loss.firingRates(spikes);

    /// <summary>Cross-entropy with spike counts as logits: L = -(1/B) Σ_b log softmax(n_b)_{y_b}.</summary>
    /// <param name="spikes">Output spikes [T, B, C].</param>
    /// <param name="labels">Class indices [B].</param>
    /// <returns>The loss.</returns>
    public static Tensor CrossEntropyOnCounts(Tensor spikes, Tensor labels) => global::Snn.Loss.crossEntropyOnCounts(spikes, labels);

    /// <summary>Cross-entropy with the time-averaged membrane potential as logits: L = CE((1/T) Σ_t v_t, y).</summary>
    /// <param name="potentials">Membrane potentials [T, B, C].</param>
    /// <param name="labels">Class indices [B].</param>
    /// <returns>The loss.</returns>
    public static Tensor CrossEntropyOnMembrane(Tensor potentials, Tensor labels) => global::Snn.Loss.crossEntropyOnMembrane(potentials, labels);

    /// <summary>MSE between firing rates and given target rates [B, C]: L = (1/(B C)) Σ (r_bc - r*_bc)².</summary>
    /// <param name="spikes">Output spikes [T, B, C].</param>
    /// <param name="targetRates">Target rates [B, C].</param>
    /// <returns>The loss.</returns>
    public static Tensor MseToRates(Tensor spikes, Tensor targetRates) => global::Snn.Loss.mseToRates(spikes, targetRates);

    /// <summary>MSE to label-built target rates: <paramref name="correctRate"/> for the labelled neuron,
    /// <paramref name="incorrectRate"/> for the others.</summary>
    /// <param name="spikes">Output spikes [T, B, C].</param>
    /// <param name="labels">Class indices [B].</param>
    /// <param name="correctRate">Target rate of the labelled neuron, in [0, 1].</param>
    /// <param name="incorrectRate">Target rate of the other neurons, in [0, 1].</param>
    /// <returns>The loss.</returns>
    public static Tensor MseFiringRate(Tensor spikes, Tensor labels, double correctRate = 0.8, double incorrectRate = 0.2) =>
        global::Snn.Loss.mseFiringRate(correctRate, incorrectRate, spikes, labels);

    /// <summary>Differentiable first-spike times in steps: [T, B, ...] → [B, ...]; a silent neuron is timed at T, or,
    /// given <paramref name="silentPotentials"/>, at T + the 0-based rank of its peak potential (seed 003's rule).</summary>
    /// <param name="spikes">Spikes [T, B, ...].</param>
    /// <param name="silentPotentials">Membrane potentials [T, B, ...] for the ranked rule; <c>null</c> means T.</param>
    /// <returns>The first-spike times.</returns>
    public static Tensor FirstSpikeTimes(Tensor spikes, Tensor? silentPotentials = null) =>
        global::Snn.Loss.firstSpikeTimesWith(Silent(silentPotentials), spikes);

    /// <summary>First-spike cross-entropy: L = CE(-t̂ / τ, y), the earliest neuron wins.</summary>
    /// <param name="spikes">Output spikes [T, B, C].</param>
    /// <param name="labels">Class indices [B].</param>
    /// <param name="tau">Temperature τ in steps (&gt; 0).</param>
    /// <param name="silentPotentials">Potentials [T, B, C] to time silent neurons at T + rank of their peak
    /// potential (seed 003's rule); <c>null</c> times them at T.</param>
    /// <returns>The loss.</returns>
    public static Tensor FirstSpikeLoss(Tensor spikes, Tensor labels, double tau = 1.0, Tensor? silentPotentials = null) =>
        global::Snn.Loss.firstSpikeLossWith(Silent(silentPotentials), tau, spikes, labels);

    internal static global::Snn.Loss.SilentTiming Silent(Tensor? potentials) =>
        potentials is null ? global::Snn.Loss.SilentTiming.AtWindowEnd : global::Snn.Loss.SilentTiming.NewRankByPeakPotential(potentials);

    /// <summary>Time regulariser of first-spike training: L = (1/B) Σ_b t̂_{b,y_b} / T.</summary>
    /// <param name="spikes">Output spikes [T, B, C].</param>
    /// <param name="labels">Class indices [B].</param>
    /// <returns>The regulariser.</returns>
    public static Tensor FirstSpikeTimeRegulariser(Tensor spikes, Tensor labels) => global::Snn.Loss.firstSpikeTimeRegulariser(spikes, labels);

    /// <summary>SLAYER's spike-count loss: L = (1/(2B)) Σ_bc (n_bc - n*_bc)², with n* = trueCount for the labelled
    /// neuron and falseCount for the others.</summary>
    /// <param name="spikes">Output spikes [T, B, C].</param>
    /// <param name="labels">Class indices [B].</param>
    /// <param name="trueCount">Desired spikes of the labelled neuron.</param>
    /// <param name="falseCount">Desired spikes of the other neurons.</param>
    /// <returns>The loss.</returns>
    public static Tensor SlayerSpikeCount(Tensor spikes, Tensor labels, double trueCount, double falseCount) =>
        global::Snn.Loss.slayerSpikeCount(trueCount, falseCount, spikes, labels);

    /// <summary>TET loss: L = (1 - λ)(1/T) Σ_t CE(O_t, y) + λ (1/T) Σ_t mean (O_t - φ)².</summary>
    /// <param name="outputs">Per-step outputs [T, B, C].</param>
    /// <param name="labels">Class indices [B].</param>
    /// <param name="lambda">Weight λ of the MSE term, in [0, 1].</param>
    /// <param name="phi">Target φ of the MSE term.</param>
    /// <returns>The loss.</returns>
    public static Tensor Tet(Tensor outputs, Tensor labels, double lambda = 0.05, double phi = 1.0) =>
        global::Snn.Loss.tet(lambda, phi, outputs, labels);

    /// <summary>L1 activity penalty: the mean of the spikes.</summary>
    /// <param name="spikes">Spikes [T, B, ...].</param>
    /// <returns>The penalty.</returns>
    public static Tensor SpikeActivity(Tensor spikes) => global::Snn.Loss.spikeActivity(spikes);

    /// <summary>Firing-rate bounds: mean of max(0, lower - r)² + max(0, r - upper)² over samples and neurons.</summary>
    /// <param name="spikes">Spikes [T, B, ...].</param>
    /// <param name="lower">Lowest rate without penalty.</param>
    /// <param name="upper">Highest rate without penalty.</param>
    /// <returns>The regulariser.</returns>
    public static Tensor FiringRateBounds(Tensor spikes, double lower, double upper) => global::Snn.Loss.firingRateBounds(lower, upper, spikes);

    /// <summary>k L.</summary>
    /// <param name="loss">A scalar loss.</param>
    /// <param name="k">The factor.</param>
    /// <returns>The scaled loss.</returns>
    public static Tensor Scale(Tensor loss, double k) => global::Snn.Loss.scale(k, loss);

    /// <summary>Σ_i w_i L_i.</summary>
    /// <param name="weights">One weight per loss.</param>
    /// <param name="losses">Scalar losses.</param>
    /// <returns>The weighted sum.</returns>
    public static Tensor WeightedSum(IReadOnlyList<double> weights, IReadOnlyList<Tensor> losses)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(losses);
        return global::Snn.Loss.weightedSum(weights.ToArray(), losses.ToArray());
    }

    /// <summary>Auxiliary learning (thesis eq. 3.3): L = (1 - α) L_M + α Σ_i γ_i L_A^(i).</summary>
    /// <param name="main">Main-task loss L_M.</param>
    /// <param name="auxiliaries">Auxiliary losses L_A^(i).</param>
    /// <param name="alpha">α in [0, 1].</param>
    /// <param name="gammas">One weight γ_i per auxiliary loss.</param>
    /// <returns>The combined loss.</returns>
    public static Tensor Auxiliary(Tensor main, IReadOnlyList<Tensor> auxiliaries, double alpha, IReadOnlyList<double> gammas)
    {
        ArgumentNullException.ThrowIfNull(auxiliaries);
        ArgumentNullException.ThrowIfNull(gammas);
        return global::Snn.Loss.auxiliary(alpha, gammas.ToArray(), main, auxiliaries.ToArray());
    }

    /// <summary>Multi-task learning (thesis eq. 4.1): L = (1 - γ) L_y + γ L_t.</summary>
    /// <param name="labelLoss">Label-classifier loss L_y.</param>
    /// <param name="taskLoss">Task-classifier loss L_t.</param>
    /// <param name="gamma">γ in [0, 1].</param>
    /// <returns>The combined loss.</returns>
    public static Tensor MultiTask(Tensor labelLoss, Tensor taskLoss, double gamma) => global::Snn.Loss.multiTask(gamma, labelLoss, taskLoss);
}
