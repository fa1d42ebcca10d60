using System;
using System.Collections.Generic;
using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>What a classifier says about each sample.</summary>
/// <param name="Classes">The predicted class of each sample (most output spikes, ties to the lowest index).</param>
/// <param name="SpikeCounts">Output spikes per sample and class, [N, C].</param>
/// <param name="Probabilities">softmax over classes of the spike counts, [N, C] (the distribution that
/// cross-entropy on spike counts trains).</param>
public sealed record Prediction(IReadOnlyList<int> Classes, float[,] SpikeCounts, float[,] Probabilities);

/// <summary>A classifier judged on a labelled split.</summary>
/// <param name="Accuracy">Fraction of samples whose predicted class is the label.</param>
/// <param name="ConfusionMatrix">[true class, predicted class] counts, [C, C].</param>
/// <param name="Report">Per-class precision, recall and F1 with macro means.</param>
/// <param name="Predictions">The predicted class of each sample.</param>
public sealed record Evaluation(double Accuracy, int[,] ConfusionMatrix, ClassificationReport Report, IReadOnlyList<int> Predictions);

/// <summary>
/// Inference with a trained spiking classifier (output spikes [T, B, C]) on samples as datasets hold them, sample
/// first [N, T, ...]: the samples are batched to the network's time-first [T, B, ...] here and run in evaluation mode
/// without gradients; the class of a sample is the output with the most spikes (F# <c>Snn.Inference</c>).
/// </summary>
/// <example><code>
/// var prediction = model.Predict(test);          // classes, spike counts, probabilities
/// var evaluation = model.Evaluate(test);         // accuracy, confusion matrix, precision / recall / F1
/// Console.WriteLine($"{evaluation.Accuracy:P1}");
/// </code></example>
public static class Inference
{
    /// <summary>Predicts the class of every sample of a split (its labels are not used).</summary>
    /// <param name="model">The network.</param>
    /// <param name="data">The samples.</param>
    /// <param name="batchSize">Samples per forward pass.</param>
    /// <returns>Classes, spike counts and probabilities.</returns>
    public static Prediction Predict(this nn.Module<Tensor, Tensor> model, FrameSet data, int batchSize = 256) =>
        Predict(model, (data ?? throw new ArgumentNullException(nameof(data))).Frames, batchSize);

    /// <summary>Predicts the class of every sample of [N, T, ...].</summary>
    /// <param name="model">The network.</param>
    /// <param name="samples">Samples [N, T, features...] (sample first, then time).</param>
    /// <param name="batchSize">Samples per forward pass.</param>
    /// <returns>Classes, spike counts and probabilities.</returns>
    /// <exception cref="ArgumentException">The samples are not [N, T, ...] or the model does not output [T, B, C].</exception>
    public static Prediction Predict(this nn.Module<Tensor, Tensor> model, Tensor samples, int batchSize = 256)
    {
        ArgumentNullException.ThrowIfNull(model);
        var p = global::Snn.Inference.predict(model, batchSize, samples);
        using var counts = p.SpikeCounts;
        using var probabilities = p.Probabilities;
        return new Prediction(Array.ConvertAll(p.Classes, c => (int)c), Matrix(counts), Matrix(probabilities));
    }

    /// <summary>Accuracy, confusion matrix and per-class report of a classifier on a labelled split.</summary>
    /// <param name="model">The network.</param>
    /// <param name="data">The split.</param>
    /// <param name="batchSize">Samples per forward pass.</param>
    /// <returns>The evaluation.</returns>
    /// <exception cref="ArgumentException">The samples are not [N, T, ...], the labels are not one class index per
    /// sample within the model's outputs, or the model does not output [T, B, C].</exception>
    public static Evaluation Evaluate(this nn.Module<Tensor, Tensor> model, FrameSet data, int batchSize = 256)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        var e = global::Snn.Inference.evaluate(model, batchSize, data.Frames, data.Labels);
        var r = e.Report;
        return new Evaluation(e.Accuracy, e.Confusion,
            new ClassificationReport(r.Precision, r.Recall, r.F1, r.Support, r.MacroPrecision, r.MacroRecall, r.MacroF1, r.Accuracy),
            Array.ConvertAll(e.Predictions, c => (int)c));
    }

    private static float[,] Matrix(Tensor t)
    {
        using var c = t.contiguous();
        var flat = c.data<float>().ToArray();
        var m = new float[t.shape[0], t.shape[1]];
        Buffer.BlockCopy(flat, 0, m, 0, flat.Length * sizeof(float));
        return m;
    }
}
