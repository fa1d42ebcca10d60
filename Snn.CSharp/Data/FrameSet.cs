using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>A labelled split as tensors, sample first: frames [N, T, features...] and class indices [N].</summary>
/// <param name="Frames">Frames [N, T, features...] (float32): sample, then time step, then the features of a step.</param>
/// <param name="Labels">Class indices [N] (int64).</param>
/// <remarks>Trainers, <see cref="Inference.Predict(TorchSharp.torch.nn.Module{Tensor, Tensor}, FrameSet, int)"/> and
/// <see cref="Inference.Evaluate"/> batch the samples to the networks' time-first [T, B, ...] themselves.</remarks>
public sealed record FrameSet(Tensor Frames, Tensor Labels)
{
    /// <summary>The number of samples N.</summary>
    public int Count => (int)Frames.shape[0];

    /// <summary>A split from one [T, F] array per sample (all of the same size) and their class indices.</summary>
    /// <param name="samples">samples[n][t, f]: feature f of step t of sample n.</param>
    /// <param name="labels">The class index of every sample.</param>
    /// <returns>Frames [N, T, F] and labels [N].</returns>
    /// <exception cref="ArgumentException">The arrays disagree in size or a label is negative; the message names the parameter.</exception>
    public static FrameSet FromArrays(IReadOnlyList<float[,]> samples, IReadOnlyList<int> labels)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(labels);
        if (samples.Count == 0) throw new ArgumentException("holds no sample", nameof(samples));
        var first = samples[0] ?? throw new ArgumentException("samples[0] is null", nameof(samples));
        int steps = first.GetLength(0), features = first.GetLength(1);
        var values = new float[(long)samples.Count * steps * features];
        for (var n = 0; n < samples.Count; n++)
        {
            var s = samples[n] ?? throw new ArgumentException($"samples[{n}] is null", nameof(samples));
            if (s.GetLength(0) != steps || s.GetLength(1) != features)
                throw new ArgumentException(
                    $"samples[{n}] is {s.GetLength(0)}×{s.GetLength(1)} but samples[0] is {steps}×{features}; every sample must be [T, F] of one size",
                    nameof(samples));
            Buffer.BlockCopy(s, 0, values, n * steps * features * sizeof(float), steps * features * sizeof(float));
        }
        return Of(values, [samples.Count, steps, features], labels);
    }

    /// <summary>A split from one [N, T, F] array and the class index of every sample.</summary>
    /// <param name="samples">samples[n, t, f]: feature f of step t of sample n.</param>
    /// <param name="labels">The class index of every sample.</param>
    /// <returns>Frames [N, T, F] and labels [N].</returns>
    /// <exception cref="ArgumentException">The label count is not N or a label is negative; the message names the parameter.</exception>
    public static FrameSet FromArrays(float[,,] samples, IReadOnlyList<int> labels)
    {
        ArgumentNullException.ThrowIfNull(samples);
        var values = new float[samples.Length];
        Buffer.BlockCopy(samples, 0, values, 0, samples.Length * sizeof(float));
        return Of(values, [samples.GetLength(0), samples.GetLength(1), samples.GetLength(2)], labels);
    }

    /// <summary>A split from row-major values of the given shape [N, T, features...] (e.g. [N, T, C, H, W]) and the
    /// class index of every sample.</summary>
    /// <param name="values">The values, the last dimension fastest.</param>
    /// <param name="shape">[N, T, features...]: at least three sizes, each &gt; 0, whose product is values.Length.</param>
    /// <param name="labels">The class index of every sample.</param>
    /// <returns>Frames of that shape and labels [N].</returns>
    /// <exception cref="ArgumentException">The shape does not fit the values or labels; the message names the parameter.</exception>
    public static FrameSet FromArrays(float[] values, int[] shape, IReadOnlyList<int> labels) =>
        Of((float[])(values ?? throw new ArgumentNullException(nameof(values))).Clone(), shape, labels);

    private static FrameSet Of(float[] values, int[] shape, IReadOnlyList<int> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var (frames, classes) = global::Snn.Data.Dataset.ofArrays(values, shape, labels.Select(l => (long)l).ToArray());
        return new FrameSet(frames, classes);
    }
}
