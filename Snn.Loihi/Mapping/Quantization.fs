/// Float network parameters to Loihi mantissas, as lava-dl's CUBA blocks export them (docs/loihi.md §2):
/// weights in steps of 2/64 clamped to [-256/64, 254/64], exported as even mantissas w·64 in [-256, 254];
/// decays round(4096·decay) (half to even) clamped to [0, 4096]; vThMant = floor(threshold·64); bias as weights.
/// A per-layer scale s (weights and bias multiplied by s before quantization) is folded into the threshold,
/// vThMant = floor(s·threshold·64), which leaves the dynamics unchanged because they are linear in that scale.
/// Every value that had to be clipped is reported.
[<RequireQualifiedAccess>]
module Snn.Loihi.Quantization

open System

/// One clipped value: where it was and what it became.
type Clip =
    { /// Which quantity and index, e.g. "weight[12]".
      Key: string
      /// The float value before quantization (after the layer scale).
      Original: float
      /// The mantissa it became.
      Mantissa: int }

/// Snaps x to the nearest multiple of 1/2 when it lies within float32 rounding error of it (relative 1e-6, about
/// eight float32 ulps): parameters that passed through float32 arithmetic arrive as 634.99999 for 635 or 1.4999999
/// for 1.5, and floor or half-to-even rounding must see the intended value, not the rounding error.
let snap (x: float) : float =
    let nearest = Math.Round (x * 2.0) / 2.0
    if abs (x - nearest) <= 1e-6 * max 1.0 (abs x) then nearest else x

/// Quantizes weights (already multiplied by the layer scale) to even mantissas in [-256, 254]; returns the
/// mantissas and the clipped entries.
let weights (name: string) (scale: float) (values: float[]) : int[] * Clip list =
    let clips = ResizeArray<Clip> ()
    let mantissas =
        values
        |> Array.mapi (fun i w ->
            let scaled = snap (w * scale * 64.0)
            let even = 2.0 * Math.Round (scaled / 2.0, MidpointRounding.ToEven)
            let clamped = max -256.0 (min 254.0 even)
            if clamped <> even then clips.Add { Key = $"{name}[{i}]"; Original = w * scale; Mantissa = int clamped }
            int clamped)
    mantissas, List.ofSeq clips

/// round(4096·decay), half to even, clamped to [0, 4096]; a clip is reported when decay lies outside [0, 1].
let decay (name: string) (value: float) : int * Clip list =
    let raw = Math.Round (snap (4096.0 * value), MidpointRounding.ToEven)
    let clamped = max 0.0 (min 4096.0 raw)
    int clamped, (if clamped <> raw then [ { Key = name; Original = value; Mantissa = int clamped } ] else [])

/// floor(scale·threshold·64) clamped to [0, 131071], after `snap` (634.99999 is 635, not 634).
let threshold (name: string) (scale: float) (value: float) : int * Clip list =
    let raw = Math.Floor (snap (scale * value * 64.0))
    let clamped = max 0.0 (min 131071.0 raw)
    int clamped, (if clamped <> raw then [ { Key = name; Original = scale * value; Mantissa = int clamped } ] else [])
