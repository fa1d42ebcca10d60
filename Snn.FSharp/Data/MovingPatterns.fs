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
      NoiseEvents: float }

    /// 16x16 pixels, 200 ms per sample rendered every 2 ms, 20 noise events per sample.
    static member Default = { Size = 16; DurationUs = 200_000L; RenderStepUs = 2_000L; NoiseEvents = 20.0 }

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
    if label < 8 then
        let angle = float label * Math.PI / 4.0
        let speed = uniform rng 30.0 50.0 // pixels per second
        let radius = uniform rng 1.8 3.0
        let dx, dy = Math.Cos angle, -Math.Sin angle // image rows grow downwards
        let travel = speed * seconds
        let x0 = centre - dx * travel / 2.0 + uniform rng -2.0 2.0
        let y0 = centre - dy * travel / 2.0 + uniform rng -2.0 2.0
        fun x y s ->
            let cx, cy = x0 + dx * speed * s, y0 + dy * speed * s
            (x - cx) * (x - cx) + (y - cy) * (y - cy) <= radius * radius
    else
        let direction = if label = 8 then -1.0 else 1.0 // clockwise on screen = decreasing angle (y down)
        let omega = direction * uniform rng 5.0 9.0 // radians per second
        let theta0 = uniform rng 0.0 (2.0 * Math.PI)
        let halfLength = uniform rng 4.0 6.5
        let halfWidth = uniform rng 0.7 1.1
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
    let covered = shapeOf settings rng label
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
        |> Array.map (fun s -> (Events.toFramesByTime frames 0L settings.DurationUs s.Events).reshape (int64 frames, -1L))
    { Frames = torch.stack (stacked, 0L)
      Labels = torch.tensor (samples |> Array.map (fun s -> int64 s.Label)) }

/// Deterministic train and test splits of the stream `seed`; they are drawn independently (split 0 and 1).
let trainTest (settings: Settings) (frames: int) (seed: int) (trainCount: int) (testCount: int) : FrameSet * FrameSet =
    frameSet settings frames seed 0 trainCount, frameSet settings frames seed 1 testCount
