/// Seeded data augmentation of camera events and of integrated frames: horizontal flip, roll, rotation, shear,
/// cutout, cutmix and random crop. Geometric transforms of events move each event to the rounded transformed
/// position and drop events that leave the sensor; the frame versions use the same maps (nearest neighbour) on
/// every frame and channel of a [T; C; H; W] stack, so augmenting events then integrating equals integrating then
/// augmenting for flips, rolls and crops.
[<RequireQualifiedAccess>]
module Snn.Data.Augment

open System

// ---- events ----------------------------------------------------------------------------------------------------

/// Moves every event with `map x y` → Some (x', y') or drops it (None); time and polarity are kept.
let private remapEvents (map: int -> int -> (int * int) option) (events: CameraEvents) : CameraEvents =
    let moved = Array.init events.Count (fun i -> map (int events.X.[i]) (int events.Y.[i]))
    let kept = Array.init events.Count id |> Array.filter (fun i -> moved.[i].IsSome)
    { events with
        X = kept |> Array.map (fun i -> int16 (fst moved.[i].Value))
        Y = kept |> Array.map (fun i -> int16 (snd moved.[i].Value))
        T = kept |> Array.map (fun i -> events.T.[i])
        P = kept |> Array.map (fun i -> events.P.[i]) }

let private onSensor (w: int) (h: int) (x: int, y: int) = if x >= 0 && x < w && y >= 0 && y < h then Some (x, y) else None

let private modulo (a: int) (n: int) = ((a % n) + n) % n

/// Horizontal flip: x → Width − 1 − x. Applied twice it is the identity; it keeps every event.
let flipX (events: CameraEvents) : CameraEvents =
    remapEvents (fun x y -> Some (events.Width - 1 - x, y)) events

/// Circular shift by (dx, dy) pixels: x → (x + dx) mod Width, y → (y + dy) mod Height; keeps every event.
let roll (dx: int) (dy: int) (events: CameraEvents) : CameraEvents =
    remapEvents (fun x y -> Some (modulo (x + dx) events.Width, modulo (y + dy) events.Height)) events

/// Rotation by `degrees` (counter-clockwise on screen, y pointing down) about the sensor centre; events that land
/// off the sensor are dropped.
let rotate (degrees: float) (events: CameraEvents) : CameraEvents =
    let a = degrees * Math.PI / 180.0
    let cx, cy = float (events.Width - 1) / 2.0, float (events.Height - 1) / 2.0
    remapEvents (fun x y ->
        let px, py = float x - cx, float y - cy
        let rx = cx + px * Math.Cos a + py * Math.Sin a
        let ry = cy - px * Math.Sin a + py * Math.Cos a
        onSensor events.Width events.Height (int (Math.Round rx), int (Math.Round ry))) events

/// Horizontal shear: x → x + factor·(y − centre row); events that land off the sensor are dropped.
let shear (factor: float) (events: CameraEvents) : CameraEvents =
    let cy = float (events.Height - 1) / 2.0
    remapEvents (fun x y -> onSensor events.Width events.Height (int (Math.Round (float x + factor * (float y - cy))), y)) events

/// Removes the events inside the box [x0, x0 + w) × [y0, y0 + h).
let cutout (x0: int) (y0: int) (w: int) (h: int) (events: CameraEvents) : CameraEvents =
    remapEvents (fun x y -> if x >= x0 && x < x0 + w && y >= y0 && y < y0 + h then None else Some (x, y)) events

/// Keeps the events inside [x0, x0 + w) × [y0, y0 + h), moved to a w×h sensor.
let crop (x0: int) (y0: int) (w: int) (h: int) (events: CameraEvents) : CameraEvents =
    if w <= 0 || h <= 0 then invalidArg "w" $"the crop must be at least 1x1, got {w}x{h}"
    { remapEvents (fun x y -> onSensor w h (x - x0, y - y0)) events with Width = w; Height = h }

/// CutMix of two recordings on the same sensor: the events of `b` inside the box [x0, x0 + w) × [y0, y0 + h)
/// replace those of `a` there. Returns the mixed events (time-sorted) and λ, the weight of `a`'s label
/// (1 − box area / sensor area); the target is λ·onehot(a) + (1 − λ)·onehot(b).
let cutMix (x0: int) (y0: int) (w: int) (h: int) (a: CameraEvents) (b: CameraEvents) : CameraEvents * float =
    if a.Width <> b.Width || a.Height <> b.Height then invalidArg "b" "both recordings must come from the same sensor size"
    let inside x y = x >= x0 && x < x0 + w && y >= y0 && y < y0 + h
    let outsideA = remapEvents (fun x y -> if inside x y then None else Some (x, y)) a
    let insideB = remapEvents (fun x y -> if inside x y then Some (x, y) else None) b
    let merged =
        { a with
            X = Array.append outsideA.X insideB.X; Y = Array.append outsideA.Y insideB.Y
            T = Array.append outsideA.T insideB.T; P = Array.append outsideA.P insideB.P }
        |> Events.sortByTime
    let clippedW = max 0 (min (x0 + w) a.Width - max x0 0)
    let clippedH = max 0 (min (y0 + h) a.Height - max y0 0)
    merged, 1.0 - float (clippedW * clippedH) / float (a.Width * a.Height)

// ---- frames ----------------------------------------------------------------------------------------------------

/// Builds a [T; C; H'; W'] stack whose pixel (x', y') takes source pixel `source x' y'` (None = 0).
let private remapFrames (width': int) (height': int) (source: int -> int -> (int * int) option) (frames: FrameStack) : FrameStack =
    if frames.Shape.Length <> 4 then invalidArg "frames" $"expected [T; C; H; W] frames, got shape %A{frames.Shape}"
    let planes = int (frames.Shape.[0] * frames.Shape.[1])
    let h, w = int frames.Shape.[2], int frames.Shape.[3]
    let data = Array.zeroCreate<float32> (planes * height' * width')
    for y' in 0 .. height' - 1 do
        for x' in 0 .. width' - 1 do
            match source x' y' with
            | Some (x, y) when x >= 0 && x < w && y >= 0 && y < h ->
                for p in 0 .. planes - 1 do
                    data.[(p * height' + y') * width' + x'] <- frames.Data.[(p * h + y) * w + x]
            | _ -> ()
    { Shape = [| frames.Shape.[0]; frames.Shape.[1]; int64 height'; int64 width' |]; Data = data }

let private dims (frames: FrameStack) = int frames.Shape.[3], int frames.Shape.[2]

/// Horizontal flip of every frame.
let flipFramesX (frames: FrameStack) : FrameStack =
    let w, h = dims frames
    remapFrames w h (fun x y -> Some (w - 1 - x, y)) frames

/// Circular shift of every frame by (dx, dy) pixels (same convention as `roll`).
let rollFrames (dx: int) (dy: int) (frames: FrameStack) : FrameStack =
    let w, h = dims frames
    remapFrames w h (fun x y -> Some (modulo (x - dx) w, modulo (y - dy) h)) frames

/// Rotation of every frame by `degrees` about the centre (same convention as `rotate`), nearest neighbour.
let rotateFrames (degrees: float) (frames: FrameStack) : FrameStack =
    let w, h = dims frames
    let a = degrees * Math.PI / 180.0
    let cx, cy = float (w - 1) / 2.0, float (h - 1) / 2.0
    remapFrames w h (fun x y ->
        // Inverse rotation: where did this output pixel come from?
        let px, py = float x - cx, float y - cy
        let sx = cx + px * Math.Cos a - py * Math.Sin a
        let sy = cy + px * Math.Sin a + py * Math.Cos a
        Some (int (Math.Round sx), int (Math.Round sy))) frames

/// Horizontal shear of every frame (same convention as `shear`), nearest neighbour.
let shearFrames (factor: float) (frames: FrameStack) : FrameStack =
    let w, h = dims frames
    let cy = float (h - 1) / 2.0
    remapFrames w h (fun x y -> Some (int (Math.Round (float x - factor * (float y - cy))), y)) frames

/// Sets the box [x0, x0 + w) × [y0, y0 + h) to zero in every frame.
let cutoutFrames (x0: int) (y0: int) (bw: int) (bh: int) (frames: FrameStack) : FrameStack =
    let w, h = dims frames
    remapFrames w h (fun x y -> if x >= x0 && x < x0 + bw && y >= y0 && y < y0 + bh then None else Some (x, y)) frames

/// Crops every frame to [x0, x0 + w) × [y0, y0 + h).
let cropFrames (x0: int) (y0: int) (cw: int) (ch: int) (frames: FrameStack) : FrameStack =
    if cw <= 0 || ch <= 0 then invalidArg "cw" $"the crop must be at least 1x1, got {cw}x{ch}"
    remapFrames cw ch (fun x y -> Some (x + x0, y + y0)) frames

/// CutMix of two stacks of equal shape: the box of `b` replaces that of `a`; returns the mix and λ (see `cutMix`).
let cutMixFrames (x0: int) (y0: int) (bw: int) (bh: int) (a: FrameStack) (b: FrameStack) : FrameStack * float =
    if a.Shape <> b.Shape then invalidArg "b" $"shapes differ: %A{a.Shape} and %A{b.Shape}"
    let w, h = dims a
    let planes = a.Data.Length / (w * h)
    let data = Array.copy a.Data
    let mutable area = 0
    for y in max 0 y0 .. min h (y0 + bh) - 1 do
        for x in max 0 x0 .. min w (x0 + bw) - 1 do
            area <- area + 1
            for p in 0 .. planes - 1 do
                data.[(p * h + y) * w + x] <- b.Data.[(p * h + y) * w + x]
    { a with Data = data }, 1.0 - float area / float (w * h)

// ---- seeded random policies ------------------------------------------------------------------------------------

/// Settings of `random`: each transform is applied with its probability and a parameter drawn uniformly.
type Policy =
    { /// Probability of a horizontal flip.
      FlipProbability: float
      /// Largest roll in pixels, either direction, both axes (0 = none).
      MaxRoll: int
      /// Largest rotation in degrees, either direction (0 = none).
      MaxRotationDegrees: float
      /// Largest shear factor, either direction (0 = none).
      MaxShear: float
      /// Side of the cutout box as a fraction of the sensor side (0 = none); the box is placed uniformly.
      CutoutFraction: float }

    /// Flip with probability 0.5, roll up to 3 pixels, rotate up to 15°, shear up to 0.2, no cutout.
    static member Default =
        { FlipProbability = 0.5; MaxRoll = 3; MaxRotationDegrees = 15.0; MaxShear = 0.2; CutoutFraction = 0.0 }

/// Applies a random draw of `policy` to a recording; the same `seed` always gives the same result.
let random (policy: Policy) (seed: int) (events: CameraEvents) : CameraEvents =
    let rng = Random seed
    let mutable e = events
    if rng.NextDouble () < policy.FlipProbability then e <- flipX e
    if policy.MaxRoll > 0 then e <- roll (rng.Next (-policy.MaxRoll, policy.MaxRoll + 1)) (rng.Next (-policy.MaxRoll, policy.MaxRoll + 1)) e
    if policy.MaxRotationDegrees > 0.0 then e <- rotate ((2.0 * rng.NextDouble () - 1.0) * policy.MaxRotationDegrees) e
    if policy.MaxShear > 0.0 then e <- shear ((2.0 * rng.NextDouble () - 1.0) * policy.MaxShear) e
    if policy.CutoutFraction > 0.0 then
        let bw, bh = max 1 (int (policy.CutoutFraction * float e.Width)), max 1 (int (policy.CutoutFraction * float e.Height))
        e <- cutout (rng.Next (0, e.Width - bw + 1)) (rng.Next (0, e.Height - bh + 1)) bw bh e
    e

/// A random crop of size w×h placed uniformly on the sensor, seeded.
let randomCrop (w: int) (h: int) (seed: int) (events: CameraEvents) : CameraEvents =
    if w > events.Width || h > events.Height then invalidArg "w" $"a {w}x{h} crop does not fit the {events.Width}x{events.Height} sensor"
    let rng = Random seed
    crop (rng.Next (0, events.Width - w + 1)) (rng.Next (0, events.Height - h + 1)) w h events

/// CutMix with a box of random size (area fraction uniform in [0, 1], aspect as the sensor) and place, seeded.
let randomCutMix (seed: int) (a: CameraEvents) (b: CameraEvents) : CameraEvents * float =
    let rng = Random seed
    let side = sqrt (rng.NextDouble ())
    let bw, bh = int (Math.Round (side * float a.Width)), int (Math.Round (side * float a.Height))
    cutMix (rng.Next (0, a.Width - bw + 1)) (rng.Next (0, a.Height - bh + 1)) bw bh a b
