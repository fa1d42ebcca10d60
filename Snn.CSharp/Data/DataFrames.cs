using System;
using F = global::Snn.Data;
using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>How a fixed number of frames is cut out of a recording.</summary>
public enum FrameSplit
{
    /// <summary>Equal numbers of events per frame (SpikingJelly's <c>split_by='number'</c>).</summary>
    ByCount,
    /// <summary>Equal durations (SpikingJelly's <c>split_by='time'</c>).</summary>
    ByTime,
}

/// <summary>Frame integration of recordings into time-first tensors.</summary>
public static class EventFrames
{
    /// <summary>Integrates a camera recording into a fixed number of frames.</summary>
    /// <param name="recording">The events.</param>
    /// <param name="frames">The number of frames T.</param>
    /// <param name="split">Split by event count or by time.</param>
    /// <param name="splitPolarity">Two channels (0 = OFF, 1 = ON) when true, one summed channel when false.</param>
    /// <param name="downsample">Spatial down-sampling factor (1 = none).</param>
    /// <returns>Float32 counts [T, 2 or 1, H, W].</returns>
    public static Tensor Integrate(CameraRecording recording, int frames, FrameSplit split = FrameSplit.ByCount, bool splitPolarity = true, int downsample = 1)
    {
        var events = F.Frames.downsample(downsample, recording.ToFSharp());
        var by = split == FrameSplit.ByCount ? F.SplitBy.ByCount : F.SplitBy.ByTime;
        return F.Frames.fixedCount(frames, by, Polarity(splitPolarity), events).ToTensor();
    }

    /// <summary>Integrates a camera recording into frames of a fixed duration, starting at its first event.</summary>
    /// <param name="recording">The events.</param>
    /// <param name="durationUs">Frame duration in microseconds.</param>
    /// <param name="splitPolarity">Two channels when true, one when false.</param>
    /// <returns>Float32 counts [T, 2 or 1, H, W].</returns>
    public static Tensor IntegrateByDuration(CameraRecording recording, long durationUs, bool splitPolarity = true) =>
        F.Frames.fixedDuration(durationUs, Polarity(splitPolarity), recording.ToFSharp()).ToTensor();

    /// <summary>Bins an audio recording into time bins per channel.</summary>
    /// <param name="recording">The events.</param>
    /// <param name="binUs">Bin width in microseconds.</param>
    /// <param name="bins">Number of bins; 0 for enough bins to cover the last event.</param>
    /// <returns>Float32 counts [T, channels].</returns>
    public static Tensor AudioBins(AudioRecording recording, long binUs, int bins = 0)
    {
        var events = recording.ToFSharp();
        return F.Frames.audioBins(binUs, bins > 0 ? bins : F.Frames.audioBinCount(binUs, events), events).ToTensor();
    }

    private static F.PolarityChannels Polarity(bool split) => split ? F.PolarityChannels.Split : F.PolarityChannels.Merged;
}
