/// Input codes for the first-spike STDP network: first-spike times [N; C; H; W] (T = never) from grey images (DoG
/// filters then intensity-to-latency, SpykeTorch's S1C1) or from event-camera recordings (the first event of each
/// pixel and polarity). Spike trains built from them are time-first [T; B; ...].
[<RequireQualifiedAccess>]
module Snn.StdpInput

open TorchSharp
open Snn.Tensors
open Snn.Data

/// The image front end: a DoG bank and the threshold below which a filter response is dropped.
type ImageCode =
    { /// How each Gaussian of the DoG kernels is weighted (SpykeTorch's density, or unit sum on the window).
      Form: Encoding.DogForm
      /// Odd DoG kernel size.
      Size: int
      /// (σ_centre, σ_surround) pairs, one channel each (σ in pixels).
      Sigmas: (float * float)[]
      /// Responses at or below this value never spike (images are scaled to [0, 1]).
      Threshold: float }

    /// SpykeTorch's DoG form (the one Mozafari et al.'s settings assume) with 7×7 on-centre (1, 2) and off-centre
    /// (2, 1) filters, threshold 0.1.
    static member Default = { Form = Encoding.Density; Size = 7; Sigmas = [| 1.0, 2.0; 2.0, 1.0 |]; Threshold = 0.1 }

/// First-spike times [B; F; H; W] of grey images [B; 1; H; W] in [0, 1]: DoG filtering (`Encoding.dogFilter` with
/// the code's kernel form), then intensity-to-latency (`Encoding.intensityToLatency`): the strongest responses
/// fire at step 0, zeros never (T).
/// Runs in chunks of 256 images, so the intermediate spike trains [T; chunk; F; H; W] stay small.
let imageTimes (code: ImageCode) (steps: int) (images: Tensor) : Tensor =
    if isNull (box images) then nullArg "images"
    if images.dim () <> 4L then invalidArg "images" $"must be grey images [B; 1; H; W], got shape %A{images.shape}"
    let bank = Encoding.dogBankWith code.Form code.Size code.Sigmas
    let count = images.shape.[0]
    let chunks =
        [| for start in 0L .. 256L .. count - 1L do
            use _ = torch.NewDisposeScope ()
            let maps = Encoding.dogFilter bank code.Threshold (images.narrow (0L, start, min 256L (count - start)))
            yield (Plasticity.firstSpikeTimes (Encoding.intensityToLatency steps false maps)).MoveToOuterDisposeScope () |]
    torch.cat (chunks, 0L)

/// Images `first .. first + count - 1` of an image set as a float tensor [count; 1; H; W] scaled to [0, 1].
let imageTensor (set: ImageSets.ImageSet) (first: int) (count: int) : Tensor =
    if first < 0 || count < 1 || first + count > set.Count then
        invalidArg "count" $"images {first}..{first + count - 1} are outside the {set.Count} images"
    let pixels = set.Pixels.[first * set.Width * set.Height .. (first + count) * set.Width * set.Height - 1]
    (torch.tensor(pixels).``to``(torch.float32) / 255.0).reshape (int64 count, 1L, int64 set.Height, int64 set.Width)

/// First-spike times [N; 2; S; S] of MovingPatterns frames [N; T; 2·S·S] (event counts per bin, OFF then ON): each
/// pixel and polarity fires at the bin of its first event (T if it has none), so the time code carries the
/// direction of motion.
let eventTimes (size: int) (frames: Tensor) : Tensor =
    if isNull (box frames) then nullArg "frames"
    if frames.dim () <> 3L || frames.shape.[2] <> 2L * int64 size * int64 size then
        invalidArg "frames" $"must be [N; T; 2·{size}·{size}], got shape %A{frames.shape}"
    let n, t = frames.shape.[0], frames.shape.[1]
    Plasticity.firstSpikeTimes (frames.permute(1L, 0L, 2L).reshape (t, n, 2L, int64 size, int64 size))
