using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>Per-class precision, recall and F1 with macro averages.</summary>
/// <param name="Precision">P_c = M_cc / Σ_i M_ic (0 when never predicted).</param>
/// <param name="Recall">R_c = M_cc / Σ_j M_cj (0 when the class never occurs).</param>
/// <param name="F1">2 P R / (P + R) per class.</param>
/// <param name="Support">Samples of each true class.</param>
/// <param name="MacroPrecision">Mean precision.</param>
/// <param name="MacroRecall">Mean recall.</param>
/// <param name="MacroF1">Mean F1.</param>
/// <param name="Accuracy">Fraction on the diagonal.</param>
public sealed record ClassificationReport(
    IReadOnlyList<double> Precision, IReadOnlyList<double> Recall, IReadOnlyList<double> F1, IReadOnlyList<int> Support,
    double MacroPrecision, double MacroRecall, double MacroF1, double Accuracy);

/// <summary>One layer of a spiking MLP next to its ANN twin (thesis table 14), per sample.</summary>
/// <param name="Layer">Layer number from 1.</param>
/// <param name="Neurons">Neurons in the layer.</param>
/// <param name="Events">Spikes emitted.</param>
/// <param name="SynOps">Synaptic operations into the layer.</param>
/// <param name="Activations">ANN activations.</param>
/// <param name="Macs">ANN multiply-accumulates.</param>
public sealed record LayerActivity(int Layer, int Neurons, double Events, double SynOps, double Activations, double Macs);

/// <summary>Metrics of spiking classifiers. Scores are [B, C], spikes [T, B, ...], labels int64 [B].</summary>
public static class Metrics
{
    /// <summary>Fraction of samples whose argmax score equals the label.</summary>
    /// <param name="scores">Scores [B, C].</param>
    /// <param name="labels">Labels [B].</param>
    /// <returns>Accuracy in [0, 1].</returns>
    public static double Accuracy(Tensor scores, Tensor labels) => global::Snn.Metrics.accuracy(scores, labels);

    /// <summary>Confusion matrix: [true class, predicted class] counts.</summary>
    /// <param name="classes">Number of classes.</param>
    /// <param name="predicted">Predicted classes.</param>
    /// <param name="labels">True classes.</param>
    /// <returns>The matrix [C, C].</returns>
    public static int[,] ConfusionMatrix(int classes, IReadOnlyList<long> predicted, IReadOnlyList<long> labels)
    {
        ArgumentNullException.ThrowIfNull(predicted);
        ArgumentNullException.ThrowIfNull(labels);
        return global::Snn.Metrics.confusionMatrix(classes, predicted.ToArray(), labels.ToArray());
    }

    /// <summary>Precision, recall and F1 per class from a confusion matrix.</summary>
    /// <param name="confusion">Confusion matrix [C, C], rows = true class.</param>
    /// <returns>The report.</returns>
    public static ClassificationReport Report(int[,] confusion)
    {
        var r = global::Snn.Metrics.classificationReport(confusion);
        return new(r.Precision, r.Recall, r.F1, r.Support, r.MacroPrecision, r.MacroRecall, r.MacroF1, r.Accuracy);
    }

    /// <summary>Binary ROC AUC by the Mann-Whitney statistic (ties count one half).</summary>
    /// <param name="scores">Scores.</param>
    /// <param name="positive">Whether each sample is positive.</param>
    /// <returns>The AUC in [0, 1].</returns>
    public static double RocAuc(IReadOnlyList<double> scores, IReadOnlyList<bool> positive)
    {
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(positive);
        return global::Snn.Metrics.rocAuc(scores.ToArray(), positive.ToArray());
    }

    /// <summary>One-vs-rest ROC AUC per class (NaN for a class without positives or negatives).</summary>
    /// <param name="scores">Scores [B, C].</param>
    /// <param name="labels">Labels [B].</param>
    /// <returns>One AUC per class.</returns>
    public static IReadOnlyList<double> OneVsRestAuc(Tensor scores, Tensor labels) => global::Snn.Metrics.oneVsRestAuc(scores, labels);

    /// <summary>First-spike latency in steps per neuron ([T, B, ...] → [B, ...]; T when silent).</summary>
    /// <param name="spikes">Spikes [T, B, ...].</param>
    /// <returns>Latencies.</returns>
    public static Tensor FirstSpikeLatency(Tensor spikes) => global::Snn.Metrics.firstSpikeLatency(spikes);

    /// <summary>Accuracy of first-spike decoding (earliest output neuron wins).</summary>
    /// <param name="spikes">Output spikes [T, B, C].</param>
    /// <param name="labels">Labels [B].</param>
    /// <param name="silentPotentials">Potentials [T, B, C] to time silent neurons at T + rank of their peak
    /// potential (seed 003's rule); <c>null</c> times them at T.</param>
    /// <returns>Accuracy in [0, 1].</returns>
    public static double FirstSpikeAccuracy(Tensor spikes, Tensor labels, Tensor? silentPotentials = null) =>
        global::Snn.Metrics.firstSpikeAccuracyWith(Losses.Silent(silentPotentials), spikes, labels);

    /// <summary>Accuracy of firing-rate decoding (most spikes wins).</summary>
    /// <param name="spikes">Output spikes [T, B, C].</param>
    /// <param name="labels">Labels [B].</param>
    /// <returns>Accuracy in [0, 1].</returns>
    public static double FiringRateAccuracy(Tensor spikes, Tensor labels) => global::Snn.Metrics.firingRateAccuracy(spikes, labels);

    /// <summary>Spikes per sample, averaged over the batch.</summary>
    /// <param name="spikes">Spikes [T, B, ...].</param>
    /// <returns>The mean spike count.</returns>
    public static double SpikesPerSample(Tensor spikes) => global::Snn.Metrics.spikesPerSample(spikes);

    /// <summary>SynOps and MACs per layer of a spiking MLP: element 0 holds the input spikes [T, B, N0], element l
    /// the spikes [T, B, Nl] of layer l.</summary>
    /// <param name="spikes">Input and layer spikes.</param>
    /// <returns>One row per layer.</returns>
    public static IReadOnlyList<LayerActivity> MlpActivity(IReadOnlyList<Tensor> spikes)
    {
        ArgumentNullException.ThrowIfNull(spikes);
        return global::Snn.Metrics.mlpActivity(spikes.ToArray())
            .Select(a => new LayerActivity(a.Layer, a.Neurons, a.Events, a.SynOps, a.Activations, a.Macs)).ToList();
    }
}
