using System;
using System.Collections.Generic;
using System.Linq;
using F = global::Snn.Data;

namespace Snn.CSharp;

/// <summary>Events of an event camera, sorted by time.</summary>
/// <param name="Width">Sensor width in pixels.</param>
/// <param name="Height">Sensor height in pixels.</param>
/// <param name="X">Column of each event.</param>
/// <param name="Y">Row of each event.</param>
/// <param name="T">Timestamp of each event in microseconds.</param>
/// <param name="P">Polarity of each event: true = ON (brighter).</param>
/// <param name="Label">Class index, or -1 when the source carries no label.</param>
public sealed record CameraRecording(int Width, int Height, short[] X, short[] Y, long[] T, bool[] P, int Label)
{
    /// <summary>The number of events.</summary>
    public int Count => T.Length;

    internal static CameraRecording From(F.CameraEvents e, int label) => new(e.Width, e.Height, e.X, e.Y, e.T, e.P, label);

    internal F.CameraEvents ToFSharp() => new(width: Width, height: Height, x: X, y: Y, t: T, p: P);
}

/// <summary>Events of a cochlea or audio front end, sorted by time.</summary>
/// <param name="Channels">Number of frequency channels.</param>
/// <param name="Channel">Channel of each event.</param>
/// <param name="T">Timestamp of each event in microseconds.</param>
/// <param name="Label">Class index, or -1 when there is none.</param>
public sealed record AudioRecording(int Channels, short[] Channel, long[] T, int Label)
{
    /// <summary>The number of events.</summary>
    public int Count => T.Length;

    internal static AudioRecording From(F.AudioEvents e, int label) => new(e.Channels, e.Channel, e.T, label);

    internal F.AudioEvents ToFSharp() => new(channels: Channels, channel: Channel, t: T);
}

/// <summary>
/// Readers of the published neuromorphic dataset formats. Malformed files raise
/// <see cref="System.IO.InvalidDataException"/> naming the file and the byte offset (or HDF5 object).
/// </summary>
public static class NeuromorphicData
{
    /// <summary>Reads an N-MNIST <c>.bin</c> recording (34x34, 40-bit events); the label is taken from a digit folder name, else -1.</summary>
    /// <param name="path">The <c>.bin</c> file.</param>
    public static CameraRecording ReadNMnist(string path) =>
        CameraRecording.From(F.NMnist.read(path), FolderLabel(path, Enumerable.Range(0, 10).Select(d => d.ToString()).ToArray()));

    /// <summary>Reads a CIFAR10-DVS jAER AEDAT 2.0 recording (128x128); the label is taken from a class folder name, else -1.</summary>
    /// <param name="path">The <c>.aedat</c> file.</param>
    public static CameraRecording ReadCifar10Dvs(string path) =>
        CameraRecording.From(F.Cifar10Dvs.read(path), FolderLabel(path, F.Cifar10Dvs.classNames));

    /// <summary>Reads a DVS128 Gesture AEDAT 3.1 recording and cuts it into labelled gestures with its <c>_labels.csv</c>.</summary>
    /// <param name="aedatPath">The <c>.aedat</c> file; the labels file must sit beside it.</param>
    /// <returns>The gestures, times starting at 0 µs each, labels 0..10.</returns>
    public static IReadOnlyList<CameraRecording> ReadDvsGesture(string aedatPath) =>
        F.DvsGesture.readRecording(aedatPath).Select(s => CameraRecording.From(s.Events, s.Label)).ToArray();

    /// <summary>Reads every sample of an SHD or SSC HDF5 file (700 channels).</summary>
    /// <param name="path">The <c>.h5</c> file.</param>
    public static IReadOnlyList<AudioRecording> ReadShd(string path) =>
        F.Shd.read(path).Select(s => AudioRecording.From(s.Events, s.Label)).ToArray();

    /// <summary>Reads the isolated-digit utterances of one split of <c>n-tidigits.hdf5</c> (64 channels, 11 classes).</summary>
    /// <param name="path">The HDF5 file.</param>
    /// <param name="train">True for the training split, false for the test split.</param>
    public static IReadOnlyList<AudioRecording> ReadNTidigits(string path, bool train) =>
        F.NTidigits.isolated(F.NTidigits.read(path, train)).Select(s => AudioRecording.From(s.Events, s.Label)).ToArray();

    /// <summary>
    /// Records image <paramref name="index"/> of an MNIST-layout IDX folder with the DVS emulator along N-MNIST's three
    /// saccades (34x34 events). With Fashion-MNIST this gives an event Fashion-MNIST.
    /// </summary>
    /// <param name="index">The image.</param>
    /// <param name="train">True for <c>train-*</c> files, false for <c>t10k-*</c>.</param>
    /// <param name="folder">The folder with the IDX files; null for where <c>apt-get install dataset-fashion-mnist</c> puts them.</param>
    public static CameraRecording EmulateImage(int index, bool train = false, string? folder = null)
    {
        var set = F.ImageSets.loadFolder(folder ?? F.ImageSets.defaultFashionMnistFolder, train);
        if (index < 0 || index >= set.Count) throw new ArgumentOutOfRangeException(nameof(index), $"the set holds {set.Count} images");
        var sample = F.DvsEmulator.sampleOf(F.DvsEmulator.Settings.Default, set, index);
        return CameraRecording.From(sample.Events, sample.Label);
    }

    private static int FolderLabel(string path, IReadOnlyList<string> names)
    {
        var folder = System.IO.Path.GetFileName(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)));
        for (var k = 0; k < names.Count; k++) if (names[k] == folder) return k;
        return -1;
    }
}
