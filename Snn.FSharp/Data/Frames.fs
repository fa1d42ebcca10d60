/// Frame integration of event streams as SpikingJelly offers it (a fixed number of frames split by event count or
/// by time, or frames of fixed duration), spatial down-sampling, event filters, and time-binned audio tensors.
namespace Snn.Data

open System
open TorchSharp
open Snn.Tensors

/// A dense stack of frames, time first: [T; 2 or 1; Height; Width] for cameras, [T; Channels] for audio.
type FrameStack =
    { /// Dimensions, time first.
      Shape: int64[]
      /// Event counts in row-major order of `Shape`.
      Data: float32[] }

    /// The number of frames (time steps), dimension 0.
    member s.Frames = int s.Shape.[0]

    /// A float32 tensor of shape `Shape` (a fresh copy).
    member s.ToTensor () : Tensor = torch.tensor(s.Data).reshape s.Shape

/// How frames are cut out of an event stream when their number is fixed.
type SplitBy =
    /// Equal numbers of events per frame (SpikingJelly's `split_by='number'`): with N events and F frames, frame i
    /// holds events [i·⌊N/F⌋, (i+1)·⌊N/F⌋) and the last frame also takes the remainder.
    | ByCount
    /// Equal durations (SpikingJelly's `split_by='time'`): with Δ = ⌊(t_last − t_first)/F⌋ µs, frame i holds the
    /// events with t_first + i·Δ ≤ t < t_first + (i+1)·Δ, and the last frame also takes everything up to t_last.
    | ByTime

/// Whether polarity becomes two channels or is summed into one.
type PolarityChannels =
    /// Two channels: 0 = OFF, 1 = ON (SpikingJelly's layout).
    | Split
    /// One channel counting events of both polarities.
    | Merged

/// Frame integration and event filters.
[<RequireQualifiedAccess>]
module Frames =

    /// Integrates events into `frames` frames given the frame of each event (−1 = dropped).
    let private integrate (polarity: PolarityChannels) (frames: int) (frameOf: int -> int) (events: CameraEvents) : FrameStack =
        let channels = match polarity with Split -> 2 | Merged -> 1
        // Checked in floating point before the int32 product can wrap or the array be allocated.
        Snn.Limits.checkElements "frames" $"{frames} frames of {channels} x {events.Height} x {events.Width} pixels" (float frames * float channels * float events.Height * float events.Width) 4.0
        let plane = events.Height * events.Width
        let data = Array.zeroCreate<float32> (frames * channels * plane)
        for i in 0 .. events.Count - 1 do
            let f = frameOf i
            if f >= 0 && f < frames then
                let c = match polarity with Split -> (if events.P.[i] then 1 else 0) | Merged -> 0
                let index = (f * channels + c) * plane + int events.Y.[i] * events.Width + int events.X.[i]
                data.[index] <- data.[index] + 1.0f
        { Shape = [| int64 frames; int64 channels; int64 events.Height; int64 events.Width |]; Data = data }

    /// Integrates events into `frames` frames of equal duration over the fixed window [tStart, tEnd) microseconds
    /// (a recording protocol's window, e.g. three saccades): frame f counts the events with
    /// tStart + f·Δ ≤ t < tStart + (f+1)·Δ, Δ = (tEnd − tStart)/frames (real-valued); events outside are dropped.
    /// Unlike `fixedCount ByTime`, the window does not follow the stream's first and last event, so every sample of
    /// a dataset gets the same bins. Result [frames; 2 or 1; Height; Width] float32 counts.
    let inWindow (frames: int) (tStart: int64) (tEnd: int64) (polarity: PolarityChannels) (events: CameraEvents) : FrameStack =
        if frames <= 0 then invalidArg "frames" $"must be > 0, got {frames}"
        if tEnd <= tStart then invalidArg "tEnd" $"must be later than tStart ({tStart} us), got {tEnd} us"
        let span = float (tEnd - tStart)
        integrate polarity frames (fun i ->
            let t = events.T.[i]
            if t >= tStart && t < tEnd then min (frames - 1) (int (float (t - tStart) / span * float frames)) else -1) events

    /// `inWindow` with both polarities, each frame flattened: a float32 tensor [frames; 2·Height·Width] (OFF plane,
    /// then ON), the input of the dense networks.
    let inWindowFlat (frames: int) (tStart: int64) (tEnd: int64) (events: CameraEvents) : Tensor =
        use stack = (inWindow frames tStart tEnd Split events).ToTensor ()
        stack.reshape (int64 frames, -1L)

    /// Integrates events into exactly `frames` frames, split by event count or by time (see `SplitBy`). Result
    /// [frames; 2 or 1; Height; Width] float32 counts. Events must be sorted by time.
    let fixedCount (frames: int) (split: SplitBy) (polarity: PolarityChannels) (events: CameraEvents) : FrameStack =
        if frames <= 0 then invalidArg "frames" $"must be > 0, got {frames}"
        let n = events.Count
        match split with
        | ByCount ->
            let per = n / frames
            integrate polarity frames (fun i -> if per = 0 then frames - 1 else min (frames - 1) (i / per)) events
        | ByTime ->
            if n = 0 then integrate polarity frames (fun _ -> -1) events
            else
                let t0 = events.T.[0]
                let delta = (events.T.[n - 1] - t0) / int64 frames
                integrate polarity frames (fun i ->
                    if delta = 0L then frames - 1 else int (min (int64 frames - 1L) ((events.T.[i] - t0) / delta))) events

    /// Integrates events into frames of `durationUs` microseconds each, starting at the first event: frame f holds
    /// t_first + f·d ≤ t < t_first + (f+1)·d; there are ⌊(t_last − t_first)/d⌋ + 1 frames (0 for no events).
    let fixedDuration (durationUs: int64) (polarity: PolarityChannels) (events: CameraEvents) : FrameStack =
        if durationUs <= 0L then invalidArg "durationUs" $"must be > 0, got {durationUs}"
        if events.Count = 0 then integrate polarity 0 (fun _ -> -1) events
        else
            let t0 = events.T.[0]
            let span = events.T.[events.Count - 1] - t0
            if span / durationUs >= 1_000_000L then invalidArg "durationUs" $"gives more than 10^6 frames for a {span} us recording"
            let frames = int (span / durationUs) + 1
            integrate polarity frames (fun i -> int ((events.T.[i] - t0) / durationUs)) events

    /// Spatial down-sampling by an integer factor: (x, y) → (⌊x/k⌋, ⌊y/k⌋) on a ⌈W/k⌉×⌈H/k⌉ sensor; events are
    /// kept (frames then count k×k pixels together).
    let downsample (factor: int) (events: CameraEvents) : CameraEvents =
        if factor <= 0 then invalidArg "factor" $"must be > 0, got {factor}"
        { events with
            Width = (events.Width + factor - 1) / factor
            Height = (events.Height + factor - 1) / factor
            X = events.X |> Array.map (fun x -> int16 (int x / factor))
            Y = events.Y |> Array.map (fun y -> int16 (int y / factor)) }

    /// Refractory filter: drops an event when the same pixel emitted a kept event less than `refractoryUs`
    /// microseconds before (of either polarity), as a pixel's refractory period would.
    let refractory (refractoryUs: int64) (events: CameraEvents) : CameraEvents =
        if refractoryUs < 0L then invalidArg "refractoryUs" $"must be >= 0, got {refractoryUs}"
        let last = Array.create (events.Width * events.Height) Int64.MinValue
        let keep = Array.zeroCreate<bool> events.Count
        for i in 0 .. events.Count - 1 do
            let pixel = int events.Y.[i] * events.Width + int events.X.[i]
            if last.[pixel] = Int64.MinValue || events.T.[i] - last.[pixel] >= refractoryUs then
                keep.[i] <- true
                last.[pixel] <- events.T.[i]
        Events.filteri (fun i -> keep.[i]) events

    /// Background-activity filter (the nearest-neighbour filter of jAER and Tonic's `denoise`): keeps an event only
    /// when one of its 8 neighbouring pixels had an event at most `windowUs` microseconds earlier. Real edges fire
    /// neighbours together; isolated noise events have no such support.
    let denoise (windowUs: int64) (events: CameraEvents) : CameraEvents =
        if windowUs <= 0L then invalidArg "windowUs" $"must be > 0, got {windowUs}"
        let w, h = events.Width, events.Height
        let last = Array.create (w * h) Int64.MinValue
        let keep = Array.zeroCreate<bool> events.Count
        for i in 0 .. events.Count - 1 do
            let x, y, t = int events.X.[i], int events.Y.[i], events.T.[i]
            let mutable supported = false
            for dy in -1 .. 1 do
                for dx in -1 .. 1 do
                    let nx, ny = x + dx, y + dy
                    if (dx <> 0 || dy <> 0) && nx >= 0 && nx < w && ny >= 0 && ny < h then
                        let seen = last.[ny * w + nx]
                        if seen <> Int64.MinValue && t - seen <= windowUs then supported <- true
            keep.[i] <- supported
            last.[y * w + x] <- t
        Events.filteri (fun i -> keep.[i]) events

    /// Time-binned audio tensor: bin b counts, per channel, the events with b·binUs ≤ t < (b+1)·binUs (t measured
    /// from 0 µs, the start of the recording); events at or after bins·binUs are dropped. Result [bins; Channels].
    let audioBins (binUs: int64) (bins: int) (events: AudioEvents) : FrameStack =
        if binUs <= 0L then invalidArg "binUs" $"must be > 0, got {binUs}"
        if bins <= 0 then invalidArg "bins" $"must be > 0, got {bins}"
        Snn.Limits.checkElements "bins" $"{bins} bins of {events.Channels} channels" (float bins * float events.Channels) 4.0
        let data = Array.zeroCreate<float32> (bins * events.Channels)
        for i in 0 .. events.Count - 1 do
            let b = events.T.[i] / binUs
            if events.T.[i] >= 0L && b < int64 bins then
                let index = int b * events.Channels + int events.Channel.[i]
                data.[index] <- data.[index] + 1.0f
        { Shape = [| int64 bins; int64 events.Channels |]; Data = data }

    /// The number of bins of `binUs` that cover an audio recording up to its last event.
    let audioBinCount (binUs: int64) (events: AudioEvents) : int =
        if binUs <= 0L then invalidArg "binUs" $"must be > 0, got {binUs}"
        if events.Count = 0 then 1 else Snn.Limits.toInt32 "binUs" (events.T.[events.Count - 1] / binUs + 1L)
