/// A DVS emulator for still images, after the way N-MNIST was recorded: the image is moved in front of the
/// emulated sensor along three saccades forming a triangle, and each pixel emits events when its log intensity
/// changes by a contrast threshold since its last event.
///
/// Pixel model (the idealised DVS of v2e/ESIM without noise): L = ln(I + ε) with I ∈ [0, 1]; each pixel keeps a
/// reference level L_ref, initially L at time 0. Between two renderings L is interpolated linearly in time; every
/// time L − L_ref reaches +θ an ON event is emitted at the interpolated crossing time and L_ref += θ (the reference
/// reset), every time it reaches −θ an OFF event is emitted and L_ref −= θ.
[<RequireQualifiedAccess>]
module Snn.Data.DvsEmulator

open System

/// Parameters of the emulator and of the saccade motion.
type Settings =
    { /// Contrast threshold θ in log-intensity units (DVS pixels: 0.1 to 0.5).
      Threshold: float
      /// ε of L = ln(I + ε): keeps black pixels finite and damps their noise-like sensitivity.
      LogEpsilon: float
      /// Time between two renderings in microseconds.
      StepUs: int64
      /// Duration of each of the three saccades in microseconds.
      SaccadeUs: int64
      /// Half-size of the saccade triangle in pixels: vertices (−A, A), (A, A), (0, −A) relative to the centred image.
      Amplitude: float
      /// Side of the square sensor in pixels (the image is centred on it).
      SensorSize: int }

    /// θ = 0.2, ε = 0.1, 1 ms renderings, three saccades of 100 ms, amplitude 2 pixels, 34x34 sensor (as N-MNIST for
    /// 28x28 images).
    static member Default =
        { Threshold = 0.2; LogEpsilon = 0.1; StepUs = 1_000L; SaccadeUs = 100_000L; Amplitude = 2.0; SensorSize = 34 }

/// Converts a sequence of renderings (time in µs, intensities in [0, 1], row-major width×height) into events with
/// the pixel model above. Renderings must come in increasing time.
let emulate (settings: Settings) (width: int) (height: int) (renderings: seq<int64 * float[]>) : CameraEvents =
    if not (settings.Threshold > 0.0) then invalidArg "Threshold" $"must be > 0, got {settings.Threshold}"
    if not (settings.LogEpsilon > 0.0) then invalidArg "LogEpsilon" $"must be > 0, got {settings.LogEpsilon}"
    let theta = settings.Threshold
    let events = Collections.Generic.List<struct (int64 * int16 * int16 * bool)>()
    let mutable previous: (int64 * float[]) option = None
    let mutable reference: float[] = [||]
    for (t, image) in renderings do
        if image.Length <> width * height then invalidArg "renderings" $"each rendering needs {width * height} pixels, got {image.Length}"
        let level = image |> Array.map (fun i -> Math.Log (i + settings.LogEpsilon))
        match previous with
        | None -> reference <- Array.copy level
        | Some (t0, before) ->
            if t <= t0 then invalidArg "renderings" $"times must increase, got {t} after {t0}"
            for p in 0 .. level.Length - 1 do
                let l0, l1 = before.[p], level.[p]
                let crossingTime (target: float) = t0 + int64 (Math.Round (float (t - t0) * (target - l0) / (l1 - l0)))
                while l1 - reference.[p] >= theta do
                    reference.[p] <- reference.[p] + theta
                    events.Add (struct (crossingTime reference.[p], int16 (p % width), int16 (p / width), true))
                while l1 - reference.[p] <= -theta do
                    reference.[p] <- reference.[p] - theta
                    events.Add (struct (crossingTime reference.[p], int16 (p % width), int16 (p / width), false))
        previous <- Some (t, level)
    let sorted = events.ToArray () |> Array.sortBy (fun struct (t, _, _, _) -> t) // stable: pixel order within a time
    { Width = width; Height = height
      X = sorted |> Array.map (fun struct (_, x, _, _) -> x)
      Y = sorted |> Array.map (fun struct (_, _, y, _) -> y)
      T = sorted |> Array.map (fun struct (t, _, _, _) -> t)
      P = sorted |> Array.map (fun struct (_, _, _, p) -> p) }

/// The displacement of the image at time t µs along the three saccades (piecewise linear, back to the start).
let saccadeOffset (settings: Settings) (t: int64) : float * float =
    let a = settings.Amplitude
    let vertices = [| (-a, a); (a, a); (0.0, -a); (-a, a) |]
    let k = min 2 (int (t / settings.SaccadeUs))
    let s = min 1.0 (float (t - int64 k * settings.SaccadeUs) / float settings.SaccadeUs)
    let (x0, y0), (x1, y1) = vertices.[k], vertices.[k + 1]
    x0 + (x1 - x0) * s, y0 + (y1 - y0) * s

/// Renders a grey image (0..255, row-major width×height) centred on the sensor and shifted by (dx, dy) pixels, with
/// bilinear interpolation; outside the image the scene is black.
let render (settings: Settings) (width: int) (height: int) (pixels: byte[]) (dx: float) (dy: float) : float[] =
    let n = settings.SensorSize
    let ox, oy = float (n - width) / 2.0 + dx, float (n - height) / 2.0 + dy
    let at (x: int) (y: int) = if x >= 0 && x < width && y >= 0 && y < height then float pixels.[y * width + x] / 255.0 else 0.0
    Array.init (n * n) (fun p ->
        let sx, sy = float (p % n) - ox, float (p / n) - oy
        let x0, y0 = int (floor sx), int (floor sy)
        let fx, fy = sx - float x0, sy - float y0
        (1.0 - fx) * (1.0 - fy) * at x0 y0 + fx * (1.0 - fy) * at (x0 + 1) y0
        + (1.0 - fx) * fy * at x0 (y0 + 1) + fx * fy * at (x0 + 1) (y0 + 1))

/// The events of a still grey image (0..255, row-major width×height) moved along the three saccades; times run
/// from 0 to 3·SaccadeUs microseconds.
let saccades (settings: Settings) (width: int) (height: int) (pixels: byte[]) : CameraEvents =
    if pixels.Length <> width * height then invalidArg "pixels" $"expected {width * height} pixels, got {pixels.Length}"
    if settings.StepUs <= 0L || settings.SaccadeUs < settings.StepUs then invalidArg "StepUs" "must be > 0 and at most SaccadeUs"
    let total = 3L * settings.SaccadeUs
    let renderings =
        seq { for t in 0L .. settings.StepUs .. total do
                let dx, dy = saccadeOffset settings t
                yield t, render settings width height pixels dx dy }
    emulate settings settings.SensorSize settings.SensorSize renderings

/// Image i of an image set (MNIST, Fashion-MNIST) as a labelled event recording: with Fashion-MNIST this gives an
/// event-camera Fashion-MNIST recorded the way N-MNIST was.
let sampleOf (settings: Settings) (set: ImageSets.ImageSet) (i: int) : CameraSample =
    { Events = saccades settings set.Width set.Height (set.Image i); Label = int set.Labels.[i] }

/// The first `count` images of a set through the emulator's three saccades, integrated into `frames` equal time bins
/// over the recording (`Frames.inWindowFlat`): event counts [count; frames; 2·H·W] (polarity-major, flattened per
/// bin) and labels [count]. Images are emulated in parallel.
let frameSet (settings: Settings) (set: ImageSets.ImageSet) (frames: int) (count: int) : TorchSharp.torch.Tensor * TorchSharp.torch.Tensor =
    if count <= 0 || count > set.Count then invalidArg "count" $"must lie in [1, {set.Count}], got {count}"
    let duration = 3L * settings.SaccadeUs
    let samples = Array.Parallel.init count (sampleOf settings set)
    let stacked = samples |> Array.map (fun s -> Frames.inWindowFlat frames 0L duration s.Events)
    TorchSharp.torch.stack (stacked, 0L), TorchSharp.torch.tensor (samples |> Array.map (fun s -> int64 s.Label))
