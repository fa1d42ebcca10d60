/// A built-in synthetic event dataset: shapes moving in front of a simulated event camera. Deterministic by seed,
/// no download, ten classes: translation of a disk in one of eight directions and rotation of a bar clockwise or
/// counter-clockwise. Each pixel emits an ON event when the shape starts covering it and an OFF event when it
/// stops, plus uniformly scattered background-activity noise, as a DVS would.
[<RequireQualifiedAccess>]
module Snn.Data.MovingPatterns

open System
open TorchSharp
open Snn.Tensors

/// Names of the ten classes, indexed by label.
let classNames =
    [| "right"; "up-right"; "up"; "up-left"; "left"; "down-left"; "down"; "down-right"
       "clockwise"; "counter-clockwise" |]

/// Settings of the generator.
type Settings =
    { /// Sensor width and height in pixels.
      Size: int
      /// Duration of every sample in microseconds.
      DurationUs: int64
      /// Time between two renderings of the scene in microseconds (event timestamps are jittered within it).
      RenderStepUs: int64
      /// Mean number of background-noise events per sample.
      NoiseEvents: float
      /// Difficulty level: 0 = the original set; each level makes shapes smaller and slower (fewer events), and from
      /// level 2 on a distractor disk crosses the scene in a random direction.
      Difficulty: int }

    /// 16x16 pixels, 200 ms per sample rendered every 2 ms, 20 noise events per sample, difficulty 0.
    static member Default = { Size = 16; DurationUs = 200_000L; RenderStepUs = 2_000L; NoiseEvents = 20.0; Difficulty = 0 }

    /// The default settings at a difficulty level (0..3): level d also has 20·(1 + d) noise events per sample.
    static member Level (difficulty: int) =
        if difficulty < 0 || difficulty > 3 then invalidArg "difficulty" $"must be 0..3, got {difficulty}"
        { Settings.Default with Difficulty = difficulty; NoiseEvents = 20.0 * float (1 + difficulty) }

/// One labelled sample.
type Sample =
    { /// The events of the sample.
      Events: CameraEvents
      /// Class index into `classNames`.
      Label: int }

/// A deterministic 31-bit seed for one sample (SplitMix64 finaliser over seed, split and index); unlike
/// HashCode.Combine it is the same in every process.
let private sampleSeed (seed: int) (split: int) (index: int) : int =
    let mutable z = uint64 (uint32 seed) * 0x9E3779B97F4A7C15UL + uint64 (uint32 split) * 0xBF58476D1CE4E5B9UL + uint64 (uint32 index)
    z <- (z ^^^ (z >>> 30)) * 0xBF58476D1CE4E5B9UL
    z <- (z ^^^ (z >>> 27)) * 0x94D049BB133111EBUL
    z <- z ^^^ (z >>> 31)
    int (z &&& 0x7FFFFFFFUL)

let private uniform (rng: Random) (lo: float) (hi: float) = lo + (hi - lo) * rng.NextDouble ()

/// The shape of a class: a function telling whether the pixel centre (x, y) is covered at time s (seconds).
let private shapeOf (settings: Settings) (rng: Random) (label: int) : float -> float -> float -> bool =
    let centre = float settings.Size / 2.0
    let seconds = float settings.DurationUs / 1e6
    // Harder levels scale the drawn values; no extra draws, so level 0 reproduces the original samples exactly.
    let slower = 1.0 / (1.0 + 0.3 * float settings.Difficulty)
    let smaller = 1.0 / (1.0 + 0.15 * float settings.Difficulty)
    if label < 8 then
        let angle = float label * Math.PI / 4.0
        let speed = uniform rng 30.0 50.0 * slower // pixels per second
        let radius = uniform rng 1.8 3.0 * smaller
        let dx, dy = Math.Cos angle, -Math.Sin angle // image rows grow downwards
        let travel = speed * seconds
        let x0 = centre - dx * travel / 2.0 + uniform rng -2.0 2.0
        let y0 = centre - dy * travel / 2.0 + uniform rng -2.0 2.0
        fun x y s ->
            let cx, cy = x0 + dx * speed * s, y0 + dy * speed * s
            (x - cx) * (x - cx) + (y - cy) * (y - cy) <= radius * radius
    else
        let direction = if label = 8 then -1.0 else 1.0 // clockwise on screen = decreasing angle (y down)
        let omega = direction * uniform rng 5.0 9.0 * slower // radians per second
        let theta0 = uniform rng 0.0 (2.0 * Math.PI)
        let halfLength = uniform rng 4.0 6.5 * smaller
        let halfWidth = uniform rng 0.7 1.1 * smaller
        let cx, cy = centre + uniform rng -2.0 2.0, centre + uniform rng -2.0 2.0
        fun x y s ->
            let theta = theta0 + omega * s
            let ux, uy = Math.Cos theta, -Math.Sin theta
            let px, py = x - cx, y - cy
            let along = px * ux + py * uy
            let across = -px * uy + py * ux
            abs along <= halfLength && abs across <= halfWidth

/// Generates sample `index` of split `split` (0 = train, 1 = test) of the stream identified by `seed`; the same
/// (seed, split, index) always gives the same sample. The label is index mod 10, so indices cycle through the classes.
let sample (settings: Settings) (seed: int) (split: int) (index: int) : Sample =
    if settings.Size < 8 then invalidArg "Size" $"must be at least 8 pixels, got {settings.Size}"
    if settings.RenderStepUs <= 0L || settings.DurationUs < 2L * settings.RenderStepUs then
        invalidArg "RenderStepUs" "must be > 0 and at most half of DurationUs"
    let rng = Random(sampleSeed seed split index)
    let label = index % classNames.Length
    let shape = shapeOf settings rng label
    let covered =
        if settings.Difficulty < 2 then shape
        else
            // A distractor disk in a random direction; drawn after the shape so the shape's draws are unchanged.
            let angle = uniform rng 0.0 (2.0 * Math.PI)
            let speed = uniform rng 20.0 40.0
            let radius = uniform rng 1.2 1.8
            let c = float settings.Size / 2.0
            let x0, y0 = c + uniform rng -4.0 4.0, c + uniform rng -4.0 4.0
            fun x y s ->
                let cx, cy = x0 + Math.Cos angle * speed * s, y0 - Math.Sin angle * speed * s
                shape x y s || (x - cx) * (x - cx) + (y - cy) * (y - cy) <= radius * radius
    let n = settings.Size
    let steps = int (settings.DurationUs / settings.RenderStepUs)
    let events = Collections.Generic.List<struct (int64 * int16 * int16 * bool)>()
    let mutable previous = Array.init (n * n) (fun i -> covered (float (i % n) + 0.5) (float (i / n) + 0.5) 0.0)
    for k in 1 .. steps - 1 do
        let s = float (int64 k * settings.RenderStepUs) / 1e6
        let current = Array.init (n * n) (fun i -> covered (float (i % n) + 0.5) (float (i / n) + 0.5) s)
        for i in 0 .. n * n - 1 do
            if current.[i] <> previous.[i] then
                let t = int64 k * settings.RenderStepUs - int64 (rng.NextDouble () * float settings.RenderStepUs)
                events.Add (struct (t, int16 (i % n), int16 (i / n), current.[i]))
        previous <- current
    // Background activity: a Poisson number of events at uniform pixels and times (Knuth's method; small means).
    let mutable noise = 0
    let mutable p = rng.NextDouble ()
    while p > Math.Exp (-settings.NoiseEvents) do
        noise <- noise + 1
        p <- p * rng.NextDouble ()
    for _ in 1 .. noise do
        let t = int64 (rng.NextDouble () * float settings.DurationUs)
        events.Add (struct (t, int16 (rng.Next n), int16 (rng.Next n), rng.Next 2 = 1))
    let sorted = events.ToArray () |> Array.sortBy (fun struct (t, _, _, _) -> t)
    { Label = label
      Events =
        { Width = n; Height = n
          X = sorted |> Array.map (fun struct (_, x, _, _) -> x)
          Y = sorted |> Array.map (fun struct (_, _, y, _) -> y)
          T = sorted |> Array.map (fun struct (t, _, _, _) -> t)
          P = sorted |> Array.map (fun struct (_, _, _, p) -> p) } }

/// A split as tensors: frames [N; T; 2·Size·Size] (event counts per time bin, OFF then ON channel, flattened)
/// and labels [N] (int64).
type FrameSet =
    { /// Event-count frames, [N; T; 2·Size·Size].
      Frames: Tensor
      /// Class labels, [N].
      Labels: Tensor }

/// Generates `count` samples of split `split` of the stream `seed` and integrates each into `frames` equal time bins.
let frameSet (settings: Settings) (frames: int) (seed: int) (split: int) (count: int) : FrameSet =
    if count <= 0 then invalidArg "count" $"must be > 0, got {count}"
    let samples = Array.Parallel.init count (sample settings seed split)
    let stacked =
        samples
        |> Array.map (fun s -> Frames.inWindowFlat frames 0L settings.DurationUs s.Events)
    { Frames = torch.stack (stacked, 0L)
      Labels = torch.tensor (samples |> Array.map (fun s -> int64 s.Label)) }

/// Deterministic train and test splits of the stream `seed`; they are drawn independently (split 0 and 1).
let trainTest (settings: Settings) (frames: int) (seed: int) (trainCount: int) (testCount: int) : FrameSet * FrameSet =
    frameSet settings frames seed 0 trainCount, frameSet settings frames seed 1 testCount

// ---- audio-like variant ------------------------------------------------------------------------------------------

/// Names of the ten classes of the audio-like variant, indexed by label.
let audioClassNames =
    [| "rising sweep"; "falling sweep"; "low tone"; "middle tone"; "high tone"; "low and high tones"
       "rise then fall"; "fall then rise"; "pulsed middle tone"; "broadband burst" |]

/// Settings of the audio-like variant: spikes of a bank of frequency channels (channels × time), like a cochlea.
type AudioSettings =
    { /// Number of frequency channels.
      Channels: int
      /// Duration of every sample in microseconds.
      DurationUs: int64
      /// Firing rate of a channel inside the sound, in spikes per second.
      RateHz: float
      /// Firing rate of every channel outside it (background), in spikes per second.
      NoiseRateHz: float }

    /// 32 channels, 500 ms, 150 Hz inside the sound, 2 Hz background.
    static member Default = { Channels = 32; DurationUs = 500_000L; RateHz = 150.0; NoiseRateHz = 2.0 }

/// The channel position(s) (fractions 0..1 of the channel range, or empty = silent) of class `label` at time s ∈ [0, 1).
let private soundAt (label: int) (jitter: float) (s: float) : float[] =
    match label with
    | 0 -> [| 0.1 + 0.8 * s |]
    | 1 -> [| 0.9 - 0.8 * s |]
    | 2 -> [| 0.2 + jitter |]
    | 3 -> [| 0.5 + jitter |]
    | 4 -> [| 0.8 + jitter |]
    | 5 -> [| 0.2 + jitter; 0.8 + jitter |]
    | 6 -> [| 0.9 - 1.6 * abs (s - 0.5) |]
    | 7 -> [| 0.1 + 1.6 * abs (s - 0.5) |]
    | 8 -> if int (s * 10.0) % 2 = 0 then [| 0.5 + jitter |] else [||]
    | _ -> if s > 0.35 && s < 0.65 then Array.init 9 (fun k -> 0.1 * float (k + 1)) else [||]

/// Sample `index` of split `split` of the audio-like stream `seed`: Poisson spikes, 3 channels wide around each
/// sound's channel trajectory at RateHz, plus background at NoiseRateHz; deterministic by (seed, split, index),
/// label = index mod 10.
let audioSample (settings: AudioSettings) (seed: int) (split: int) (index: int) : AudioSample =
    if settings.Channels < 8 then invalidArg "Channels" $"must be at least 8, got {settings.Channels}"
    if settings.DurationUs < 10_000L then invalidArg "DurationUs" $"must be at least 10 ms, got {settings.DurationUs} us"
    // A different stream from the camera samples of the same seed: offset the split.
    let rng = Random(sampleSeed seed (split + 1000) index)
    let label = index % audioClassNames.Length
    let jitter = uniform rng -0.05 0.05
    let stepUs = 1_000L
    let steps = int (settings.DurationUs / stepUs)
    let events = Collections.Generic.List<struct (int64 * int16)>()
    let pInside = settings.RateHz * float stepUs / 1e6
    let pNoise = settings.NoiseRateHz * float stepUs / 1e6
    for k in 0 .. steps - 1 do
        let centres = soundAt label jitter (float k / float steps) |> Array.map (fun f -> f * float (settings.Channels - 1))
        for c in 0 .. settings.Channels - 1 do
            let inside = centres |> Array.exists (fun centre -> abs (float c - centre) <= 1.0)
            if rng.NextDouble () < (if inside then pInside else pNoise) then
                events.Add (struct (int64 k * stepUs + int64 (rng.NextDouble () * float stepUs), int16 c))
    let sorted = events.ToArray () |> Array.sortBy (fun struct (t, _) -> t)
    { Label = label
      Events =
        { Channels = settings.Channels
          Channel = sorted |> Array.map (fun struct (_, c) -> c)
          T = sorted |> Array.map (fun struct (t, _) -> t) } }

/// Generates `count` audio-like samples binned into `bins` equal time bins: frames [N; bins; Channels], labels [N].
let audioFrameSet (settings: AudioSettings) (bins: int) (seed: int) (split: int) (count: int) : FrameSet =
    if count <= 0 then invalidArg "count" $"must be > 0, got {count}"
    if bins <= 0 then invalidArg "bins" $"must be > 0, got {bins}"
    let binUs = max 1L (settings.DurationUs / int64 bins)
    let samples = Array.Parallel.init count (audioSample settings seed split)
    let stacked = samples |> Array.map (fun s -> (Frames.audioBins binUs bins s.Events).ToTensor ())
    { Frames = torch.stack (stacked, 0L)
      Labels = torch.tensor (samples |> Array.map (fun s -> int64 s.Label)) }
