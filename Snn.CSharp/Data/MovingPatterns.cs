using System;
using System.Collections.Generic;
using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>
/// The built-in synthetic event dataset: a disk moving in one of eight directions or a bar rotating either way in
/// front of a simulated 16x16 event camera; ten classes, deterministic by seed, no download.
/// </summary>
public static class MovingPatterns
{
    /// <summary>The class names, indexed by label.</summary>
    public static IReadOnlyList<string> ClassNames => global::Snn.Data.MovingPatterns.classNames;

    /// <summary>Generates the train and test splits, each sample integrated into <paramref name="frames"/> time bins.</summary>
    /// <param name="frames">Time steps T per sample.</param>
    /// <param name="seed">Seed of the generator; equal seeds give equal data.</param>
    /// <param name="trainCount">Training samples.</param>
    /// <param name="testCount">Test samples.</param>
    /// <returns>The two splits; frames are [N, T, 2·16·16].</returns>
    public static (FrameSet Train, FrameSet Test) Load(int frames = 20, int seed = 0, int trainCount = 3000, int testCount = 1000)
    {
        var (train, test) = global::Snn.Data.MovingPatterns.trainTest(
            global::Snn.Data.MovingPatterns.Settings.Default, frames, seed, trainCount, testCount);
        return (new FrameSet(train.Frames, train.Labels), new FrameSet(test.Frames, test.Labels));
    }
}
