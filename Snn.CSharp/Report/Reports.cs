using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;
using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>One series of a grouped bar chart: a name (legend) and one value per category.</summary>
/// <param name="Name">Legend text, e.g. "threshold x2".</param>
/// <param name="Values">One finite value &gt;= 0 per category, in category order.</param>
public sealed record BarSeriesValues(string Name, IReadOnlyList<double> Values);

/// <summary>
/// Plots and logs a person can look at: PNG (rendered by SkiaSharp) or SVG files chosen by the path's extension,
/// TensorBoard event files and history JSON. Every file is written atomically (temporary file, then rename).
/// Spike tensors are time-first: [T, N] for one sample or [T, B, ...] for a batch. Sizes are in pixels.
/// </summary>
public static class Reports
{
    /// <summary>Default plot width in pixels.</summary>
    public const int DefaultWidth = 900;

    /// <summary>Default plot height in pixels.</summary>
    public const int DefaultHeight = 600;

    private static global::Snn.Report.PlotSize Size(int width, int height) => new(width: width, height: height);

    private static global::Snn.Training.HistoryEntry[] Core(IReadOnlyList<TrainingEpoch> history)
    {
        ArgumentNullException.ThrowIfNull(history);
        return history.Select(e => e.ToCore()).ToArray();
    }

    /// <summary>Writes a spike raster: x = time step, y = neuron, one mark per non-zero element.</summary>
    /// <param name="path">Target .png or .svg file.</param>
    /// <param name="spikes">Spikes [T, N] or [T, B, ...] (trailing dimensions flattened into neurons).</param>
    /// <param name="sample">Which sample of a batch to draw (0 for [T, N]).</param>
    /// <param name="title">Plot title.</param>
    /// <param name="width">Width in pixels.</param>
    /// <param name="height">Height in pixels.</param>
    /// <exception cref="ArgumentException">Empty spikes, a sample out of range, a bad size or extension; the parameter is named.</exception>
    public static void WriteSpikeRaster(string path, Tensor spikes, int sample = 0, string title = "Spike raster",
                                        int width = DefaultWidth, int height = DefaultHeight) =>
        global::Snn.Report.SpikeRaster.write(path, Size(width, height), title, spikes, sample);

    /// <summary>Writes a confusion-matrix heatmap (rows = true class from the top, columns = predicted) with every count shown.</summary>
    /// <param name="path">Target .png or .svg file.</param>
    /// <param name="confusion">Counts [C, C], [true, predicted].</param>
    /// <param name="classNames">C class names, or <c>null</c> for indices.</param>
    /// <param name="title">Plot title.</param>
    /// <param name="width">Width in pixels.</param>
    /// <param name="height">Height in pixels.</param>
    /// <exception cref="ArgumentException">A non-square or empty matrix, a negative count, or a wrong number of class names.</exception>
    public static void WriteConfusionMatrix(string path, int[,] confusion, IReadOnlyList<string>? classNames = null,
                                            string title = "Confusion matrix", int width = DefaultWidth, int height = DefaultHeight) =>
        global::Snn.Report.ConfusionPlot.write(path, Size(width, height), title, confusion, Names(classNames));

    /// <summary>Writes training curves: loss (left axis) and training and test accuracy in % (right axis) against the epoch.</summary>
    /// <param name="path">Target .png or .svg file.</param>
    /// <param name="history">The epochs, at least one.</param>
    /// <param name="title">Plot title.</param>
    /// <param name="width">Width in pixels.</param>
    /// <param name="height">Height in pixels.</param>
    /// <exception cref="ArgumentException">An empty history, a bad size or extension.</exception>
    public static void WriteTrainingCurves(string path, IReadOnlyList<TrainingEpoch> history, string title = "Training curves",
                                           int width = DefaultWidth, int height = DefaultHeight) =>
        global::Snn.Report.TrainingCurves.write(path, Size(width, height), title, Core(history));

    /// <summary>Firing rate per neuron, r = mean over time and batch of spikes [T, B, ...], in spikes per step.</summary>
    /// <param name="spikes">Spikes [T, B, ...].</param>
    /// <returns>Rates with the shape of one sample's layer.</returns>
    public static Tensor FiringRates(Tensor spikes) => global::Snn.Report.ActivationMap.firingRates(spikes);

    /// <summary>Writes a layer activation map: rates [N] as a near-square grid, [H, W] as an image, [C, H, W] as tiled channel images.</summary>
    /// <param name="path">Target .png or .svg file.</param>
    /// <param name="rates">Finite firing rates &gt;= 0, e.g. from <see cref="FiringRates"/>.</param>
    /// <param name="title">Plot title.</param>
    /// <param name="width">Width in pixels.</param>
    /// <param name="height">Height in pixels.</param>
    /// <exception cref="ArgumentException">An empty or negative rate tensor, or one of rank above 3.</exception>
    public static void WriteActivationMap(string path, Tensor rates, string title = "Firing rates",
                                          int width = DefaultWidth, int height = DefaultHeight) =>
        global::Snn.Report.ActivationMap.write(path, Size(width, height), title, rates);

    /// <summary>Writes a grouped bar chart: one group per category, one coloured bar per series.</summary>
    /// <param name="path">Target .png or .svg file.</param>
    /// <param name="title">Plot title.</param>
    /// <param name="categoryTitle">Title of the category axis.</param>
    /// <param name="valueTitle">Title of the value axis.</param>
    /// <param name="categories">Category names.</param>
    /// <param name="series">Series, each with one value per category.</param>
    /// <param name="width">Width in pixels.</param>
    /// <param name="height">Height in pixels.</param>
    /// <exception cref="ArgumentException">No categories or series, or a series of the wrong length.</exception>
    public static void WriteGroupedBars(string path, string title, string categoryTitle, string valueTitle,
                                        IReadOnlyList<string> categories, IReadOnlyList<BarSeriesValues> series,
                                        int width = DefaultWidth, int height = DefaultHeight)
    {
        ArgumentNullException.ThrowIfNull(categories);
        ArgumentNullException.ThrowIfNull(series);
        var core = series.Select(s => Tuple.Create(s.Name, s.Values.ToArray())).ToArray();
        global::Snn.Report.GroupedBars.write(path, Size(width, height), title, categoryTitle, valueTitle, categories.ToArray(), core);
    }

    /// <summary>Writes the SynOps of every layer for several profiles of one network (e.g. one per threshold scale).</summary>
    /// <param name="path">Target .png or .svg file.</param>
    /// <param name="seriesNames">One legend entry per profile, e.g. "threshold x2".</param>
    /// <param name="profiles">Profiles of the same network, in the same order.</param>
    /// <param name="width">Width in pixels.</param>
    /// <param name="height">Height in pixels.</param>
    /// <exception cref="ArgumentException">The lists differ in length, are empty, or the profiles have different layers.</exception>
    public static void WriteSynOpsChart(string path, IReadOnlyList<string> seriesNames, IReadOnlyList<LoihiProfileReport> profiles,
                                        int width = DefaultWidth, int height = DefaultHeight)
    {
        ArgumentNullException.ThrowIfNull(seriesNames);
        ArgumentNullException.ThrowIfNull(profiles);
        if (profiles.Count == 0) throw new ArgumentException("is empty: no profile to draw", nameof(profiles));
        if (seriesNames.Count != profiles.Count)
            throw new ArgumentException($"has {seriesNames.Count} names for {profiles.Count} profiles", nameof(seriesNames));
        var layers = profiles[0].Layers.Select(l => l.Name).ToArray();
        if (profiles.Any(p => !p.Layers.Select(l => l.Name).SequenceEqual(layers)))
            throw new ArgumentException("the profiles are not of one network: their layers differ", nameof(profiles));
        var series = profiles.Select((p, i) => new BarSeriesValues(seriesNames[i], p.Layers.Select(l => (double)l.SynOps).ToList())).ToList();
        WriteGroupedBars(path, "SynOps per layer and threshold", "layer", $"synaptic operations over {profiles[0].Steps} steps",
                         layers, series, width, height);
    }

    /// <summary>Writes the history as one TensorBoard event file in <paramref name="directory"/> (step = epoch): loss/train,
    /// accuracy/train, accuracy/test, optimizer/learning_rate, optimizer/gradient_norm, time/epoch_seconds.</summary>
    /// <param name="directory">Log folder (created when missing); an earlier history file there is replaced.</param>
    /// <param name="history">The epochs, at least one.</param>
    /// <returns>The event file's path.</returns>
    public static string WriteTensorBoard(string directory, IReadOnlyList<TrainingEpoch> history) =>
        global::Snn.Report.TensorBoard.writeHistory(directory, Core(history));

    /// <summary>Writes a run folder: history.json, tensorboard/, curves.png, confusion.png (with a matrix),
    /// raster-&lt;name&gt;.png per spike sample (sample 0 drawn) and activation-&lt;name&gt;.png per activation recording.</summary>
    /// <param name="directory">Target folder (created when missing).</param>
    /// <param name="history">The epochs, at least one.</param>
    /// <param name="confusion">Test-set confusion matrix [C, C], or <c>null</c>.</param>
    /// <param name="classNames">C class names for the matrix, or <c>null</c>.</param>
    /// <param name="spikeSamples">Named spike recordings [T, B, ...] to draw as rasters, or <c>null</c>.</param>
    /// <param name="activations">Named spike recordings [T, B, ...] whose firing rates to draw as maps, or <c>null</c>.</param>
    /// <param name="width">Width of every plot in pixels.</param>
    /// <param name="height">Height of every plot in pixels.</param>
    /// <returns>The paths written, in the order above.</returns>
    /// <exception cref="ArgumentException">Any input is invalid; checked before any file is written.</exception>
    public static IReadOnlyList<string> WriteRunFolder(
        string directory, IReadOnlyList<TrainingEpoch> history, int[,]? confusion = null, IReadOnlyList<string>? classNames = null,
        IReadOnlyDictionary<string, Tensor>? spikeSamples = null, IReadOnlyDictionary<string, Tensor>? activations = null,
        int width = DefaultWidth, int height = DefaultHeight)
    {
        var entries = Core(history);
        var best = entries.Length == 0 ? 0 : entries.OrderByDescending(e => e.TestAccuracy).ThenBy(e => e.Epoch).First().Epoch;
        var report = new global::Snn.Report.RunReport(
            history: new global::Snn.Training.History(entries: entries, bestEpoch: best, stoppedEarly: false, hyperSteps: Array.Empty<global::Snn.Training.HyperStepRecord>()),
            confusion: confusion is null ? FSharpOption<int[,]>.None : FSharpOption<int[,]>.Some(confusion),
            classNames: Names(classNames),
            spikeSamples: Recordings(spikeSamples),
            activations: Recordings(activations),
            plotSize: Size(width, height));
        return global::Snn.Report.RunFolder.write(directory, report).ToList();
    }

    private static FSharpOption<string[]> Names(IReadOnlyList<string>? names) =>
        names is null ? FSharpOption<string[]>.None : FSharpOption<string[]>.Some(names.ToArray());

    private static FSharpList<Tuple<string, Tensor>> Recordings(IReadOnlyDictionary<string, Tensor>? recordings) =>
        ListModule.OfSeq(recordings is null
            ? Enumerable.Empty<Tuple<string, Tensor>>()
            : recordings.Select(kv => Tuple.Create(kv.Key, kv.Value)));
}
