/// Encoders from analog values to spike trains, and SpykeTorch's S1C1 front end (difference-of-Gaussians filters
/// followed by intensity-to-latency coding).
///
/// Outputs are time-first: an encoder of intensities [B; ...] returns spikes [T; B; ...] (float32 zeros and ones,
/// or -1/0/+1 for the signed delta code). Intensities are normalised to [0, 1] where a code needs probabilities.
/// Random codes take a seed and draw from their own generator, so they never disturb the global random stream.
[<RequireQualifiedAccess>]
module Snn.Encoding

open System
open TorchSharp
open Snn.Tensors

/// How a latency code maps an intensity x ∈ [0, 1] to a firing step.
type LatencyCode =
    /// t(x) = round((T - 1)(1 - x)): the brightest input fires at step 0, an input at the threshold near T - 1.
    | Linear
    /// The RC-circuit code (snnTorch's default): t(x) = τ ln(x / (x - θ)) for x > θ, clipped to T - 1, with the
    /// time constant τ in steps; large intensities fire early, logarithmically.
    | Logarithmic of tau: float

let private checkSteps (steps: int) =
    if steps <= 0 then invalidArg "steps" $"must be > 0, got {steps}"

let private checkIntensities (x: Tensor) =
    if isNull (box x) then nullArg "intensities"
    if x.dim () < 1 then invalidArg "intensities" $"must be batch-first [B; ...], got shape %A{x.shape}"
    if holdsValues x then
        if x.isnan().any().ToBoolean () then invalidArg "intensities" "contains NaN"
        if x.lt((0.0: float).ToScalar ()).any().ToBoolean () || x.gt((1.0: float).ToScalar ()).any().ToBoolean () then
            invalidArg "intensities" "must lie in [0, 1] (normalise the input first)"

/// A step index tensor [T; 1; ...; 1] on the device of `like` that broadcasts against one step of it ([B; ...]).
let private stepIndex (steps: int) (like: Tensor) : Tensor =
    let shape = Array.append [| int64 steps |] (Array.create (int (like.dim ())) 1L)
    torch.arange(int64 steps, dtype = torch.float32, device = like.device).reshape shape

/// One spike per element at its step in `times` ([B; ...], float, steps ≥ T mean "never"): spikes [T; B; ...].
let spikesAt (steps: int) (times: Tensor) : Tensor =
    checkSteps steps
    if isNull (box times) then nullArg "times"
    (stepIndex steps times).eq(times.``to`` torch.float32).``to`` torch.float32

/// Poisson (Bernoulli-per-step) rate code: z_tb ~ Bernoulli(x_b) independently at every step, so the expected
/// firing rate of each element equals its intensity. Intensities [B; ...] in [0, 1] → spikes [T; B; ...] on their
/// device. The uniforms are drawn on the CPU by the seeded generator and then moved, so a seed gives the same
/// spikes on every device.
let poisson (seed: int64) (steps: int) (intensities: Tensor) : Tensor =
    checkSteps steps
    checkIntensities intensities
    use generator = new torch.Generator(uint64 seed)
    let shape = Array.append [| int64 steps |] intensities.shape
    use drawn = torch.rand (shape, dtype = torch.float32, generator = generator)
    let u = onDevice intensities.device drawn
    u.lt(intensities.``to`` torch.float32).``to`` torch.float32

/// The firing step of each intensity under a latency code, as float32 [B; ...]; elements at or below `threshold`
/// never fire and get the step T.
let latencyTimes (code: LatencyCode) (threshold: float) (steps: int) (intensities: Tensor) : Tensor =
    checkSteps steps
    checkIntensities intensities
    if not (threshold >= 0.0 && threshold < 1.0) then invalidArg "threshold" $"must lie in [0, 1), got {threshold}"
    let x = intensities.``to`` torch.float32
    let last = float (steps - 1)
    let times =
        match code with
        | Linear -> (last * (1.0 - x)).round ()
        | Logarithmic tau ->
            if not (tau > 0.0) || Double.IsInfinity tau then invalidArg "tau" $"must be a finite number > 0, got {tau}"
            // Above θ the ratio x/(x - θ) is finite and > 1; elsewhere a dummy 2 keeps the log finite (masked below).
            let above = x.gt ((threshold: float).ToScalar ())
            let ratio = torch.where (above, x / (x - threshold), torch.full_like (x, 2.0))
            (ratio.log () * tau).round().clamp_max last
    torch.where (x.gt ((threshold: float).ToScalar ()), times, torch.full_like (x, float steps))

/// Latency (time-to-first-spike) code: every element above `threshold` fires exactly one spike, earlier for larger
/// intensities; elements at or below it stay silent. Intensities [B; ...] in [0, 1] → spikes [T; B; ...].
let latency (code: LatencyCode) (threshold: float) (steps: int) (intensities: Tensor) : Tensor =
    spikesAt steps (latencyTimes code threshold steps intensities)

/// Delta (change) code of a time series x [T; B; ...]: a spike where the value changed by at least `threshold`
/// since the previous step, z_t = H(|x_t - x_{t-1}| - θ), with x_{-1} = 0 (so a non-zero start is an event).
/// With `signed` the spike carries the sign of the change (+1 up, -1 down; snnTorch's off-spikes).
let delta (threshold: float) (signed: bool) (series: Tensor) : Tensor =
    if not (threshold > 0.0) || Double.IsInfinity threshold then invalidArg "threshold" $"must be a finite number > 0, got {threshold}"
    if isNull (box series) then nullArg "series"
    if series.dim () < 2 then invalidArg "series" $"must be time-first [T; B; ...], got shape %A{series.shape}"
    let x = series.``to`` torch.float32
    let previous = torch.cat ([| torch.zeros_like (x.narrow (0L, 0L, 1L)); x.narrow (0L, 0L, x.shape.[0] - 1L) |], 0L)
    let change = x - previous
    let events = change.abs().ge((threshold: float).ToScalar ()).``to`` torch.float32
    if signed then events * change.sign () else events

/// Direct (constant-current) code: the analog input repeated at every step, x_t = x, for a first layer that
/// integrates currents. Input [B; ...] → [T; B; ...] (a fresh copy, not a view).
let directCurrent (steps: int) (input: Tensor) : Tensor =
    checkSteps steps
    if isNull (box input) then nullArg "input"
    let repeats = Array.append [| int64 steps |] (Array.create (int (input.dim ())) 1L)
    input.unsqueeze(0L).repeat repeats

/// How each Gaussian of a DoG kernel is weighted before the two are subtracted.
type DogForm =
    /// SpykeTorch's `DoGKernel`: the unnormalised density a·(1/σ²)·exp(-r²/(2σ²)) with a = 1/(2π), evaluated on the
    /// window only (the weight 1/σ² is the continuous normalisation, so a wide Gaussian clipped by a small window
    /// keeps less mass than a narrow one). Mozafari et al.'s published thresholds assume this form.
    | Density
    /// Each Gaussian divided by its sum over the window (unit sum on the window), so the two always carry equal mass
    /// and a constant image filters to exactly 0 before the zero-mean shift. Snn's earlier form.
    | UnitSum

/// A difference-of-Gaussians kernel [k; k] (k odd) with r the distance to the window centre: the centre Gaussian of
/// width σ_c minus the surround Gaussian of width σ_s, each weighted by `form`
/// (Density: G_σ(r) = (1/(2π σ²)) exp(-r²/(2σ²)); UnitSum: G_σ(r) = exp(-r²/(2σ²)) / Σ_window exp(-r²/(2σ²))),
/// then shifted to zero mean and scaled so its maximum is 1: D = G_σc - G_σs, D ← (D - mean D) / max(D - mean D).
/// σ_c < σ_s gives an on-centre filter, σ_c > σ_s an off-centre one. The final scaling cancels any common factor
/// (such as 1/(2π)), so the forms differ only in the relative weight of the two Gaussians.
let differenceOfGaussiansWith (form: DogForm) (size: int) (sigmaCentre: float) (sigmaSurround: float) : Tensor =
    if size < 3 || size % 2 = 0 then invalidArg "size" $"must be an odd number >= 3, got {size}"
    if not (sigmaCentre > 0.0) || Double.IsInfinity sigmaCentre then invalidArg "sigmaCentre" $"must be a finite number > 0, got {sigmaCentre}"
    if not (sigmaSurround > 0.0) || Double.IsInfinity sigmaSurround then invalidArg "sigmaSurround" $"must be a finite number > 0, got {sigmaSurround}"
    if sigmaCentre = sigmaSurround then invalidArg "sigmaSurround" "must differ from sigmaCentre (the difference would be 0)"
    let half = float (size / 2)
    let gaussian sigma =
        let g = Array2D.init size size (fun i j ->
            let di, dj = float i - half, float j - half
            Math.Exp (-(di * di + dj * dj) / (2.0 * sigma * sigma)))
        let weight =
            match form with
            | Density -> 1.0 / (2.0 * Math.PI * sigma * sigma)
            | UnitSum -> 1.0 / Seq.sum (Seq.cast<float> g)
        Array2D.map (fun v -> v * weight) g
    let c, s = gaussian sigmaCentre, gaussian sigmaSurround
    let d = Array2D.init size size (fun i j -> c.[i, j] - s.[i, j])
    let mean = Seq.average (Seq.cast<float> d)
    let centred = Array2D.map (fun v -> v - mean) d
    let peak = Seq.max (Seq.cast<float> centred)
    if not (peak > 0.0) then invalidArg "size" $"a {size}x{size} window leaves the DoG ({sigmaCentre}, {sigmaSurround}) without a positive peak"
    let values = Array.init (size * size) (fun k -> float32 (centred.[k / size, k % size] / peak))
    ofArray [| int64 size; int64 size |] values

/// SpykeTorch's DoG kernel (`Density` form; see `differenceOfGaussiansWith`).
let differenceOfGaussians (size: int) (sigmaCentre: float) (sigmaSurround: float) : Tensor =
    differenceOfGaussiansWith Density size sigmaCentre sigmaSurround

/// A bank of DoG kernels [F; 1; k; k] for conv2d, one per (σ_c, σ_s) pair, each of the given form (SpykeTorch's S1
/// uses an on-centre and an off-centre pair, e.g. (1, 2) and (2, 1) at k = 7).
let dogBankWith (form: DogForm) (size: int) (sigmas: (float * float)[]) : Tensor =
    if isNull sigmas || sigmas.Length = 0 then invalidArg "sigmas" "needs at least one (centre, surround) pair"
    (torch.stack (sigmas |> Array.map (fun (c, s) -> differenceOfGaussiansWith form size c s), 0L)).unsqueeze 1L

/// A bank of SpykeTorch's (`Density`) DoG kernels [F; 1; k; k]; see `dogBankWith`.
let dogBank (size: int) (sigmas: (float * float)[]) : Tensor = dogBankWith Density size sigmas

/// Filters grey images [B; 1; H; W] with a DoG bank [F; 1; k; k] (zero padding k/2, so the maps keep H × W) and
/// keeps only responses above `threshold` (the others become 0): feature maps [B; F; H; W], non-negative.
let dogFilter (bank: Tensor) (threshold: float) (images: Tensor) : Tensor =
    if isNull (box bank) then nullArg "bank"
    if isNull (box images) then nullArg "images"
    if bank.dim () <> 4 || bank.shape.[1] <> 1L || bank.shape.[2] <> bank.shape.[3] || bank.shape.[2] % 2L = 0L then
        invalidArg "bank" $"must be [F; 1; k; k] with odd k, got shape %A{bank.shape}"
    if images.dim () <> 4 || images.shape.[1] <> 1L then
        invalidArg "images" $"must be grey images [B; 1; H; W], got shape %A{images.shape}"
    if threshold < 0.0 then invalidArg "threshold" $"must be >= 0, got {threshold}"
    let kernels = onDevice images.device (bank.``to`` torch.float32)
    let maps = torch.nn.functional.conv2d (images.``to`` torch.float32, kernels, padding = [| bank.shape.[2] / 2L; bank.shape.[2] / 2L |])
    torch.where (maps.gt ((threshold: float).ToScalar ()), maps, torch.zeros_like maps)

/// How intensity-to-latency spreads the k non-zero values of a sample over T steps when k is not a multiple of T.
type LatencyBins =
    /// Snn's rule (the default): the value of rank r (0-based, largest first) fires at step ⌊r T / k⌋, so every
    /// non-zero value fires and the bins differ in size by at most one.
    | Proportional
    /// SpykeTorch's `Intensity2Latency`: bins of exactly ⌊k / T⌋ values, rank r fires at step ⌊r / ⌊k/T⌋⌋ when
    /// r < T ⌊k/T⌋; the k mod T weakest non-zero values never fire (and nothing fires when k < T, where SpykeTorch
    /// itself stops with an error).
    | EqualBins

/// Intensity-to-latency code (SpykeTorch's `Intensity2Latency`): within each sample, the non-zero values are
/// ranked from largest to smallest (ties: lower flat index first) and split into T bins; with k non-zero values the
/// value of rank r (0-based) fires at step ⌊r T / k⌋ under `Proportional` (every non-zero value fires) or at step
/// ⌊r / ⌊k/T⌋⌋ under `EqualBins` (SpykeTorch's bins; the k mod T weakest stay silent). Zeros never fire. With
/// `cumulative` a neuron stays at 1 after its spike (SpykeTorch's accumulated form, ready for its convolutions);
/// otherwise it fires once. Input [B; ...] (any non-negative values) → spikes [T; B; ...].
let intensityToLatencyWith (bins: LatencyBins) (steps: int) (cumulative: bool) (input: Tensor) : Tensor =
    checkSteps steps
    if isNull (box input) then nullArg "input"
    if input.dim () < 1 then invalidArg "input" $"must be batch-first [B; ...], got shape %A{input.shape}"
    if holdsValues input && input.lt((0.0: float).ToScalar ()).any().ToBoolean () then invalidArg "input" "must be non-negative (e.g. DoG maps after the threshold)"
    let batch = input.shape.[0]
    let flat = input.reshape(batch, -1L).``to`` torch.float32
    // rank = position in a stable descending sort; the argsort of the sort order inverts the permutation.
    let struct (_, order) = flat.sort (1L, descending = true, stable = true)
    let rank = order.argsort(1L).``to`` torch.float32
    let nonZero = flat.gt((0.0: float).ToScalar ()).sum(1L, keepdim = true).``to`` torch.float32
    let silent = torch.full_like (rank, float steps)
    let times, fires =
        match bins with
        | Proportional -> (rank * float steps / nonZero.clamp_min 1.0).floor (), flat.gt ((0.0: float).ToScalar ())
        | EqualBins ->
            let binSize = (nonZero / float steps).floor ()
            // Ranks below T·⌊k/T⌋ are non-zero values (the sort is descending), so this also silences the zeros.
            (rank / binSize.clamp_min 1.0).floor (), rank.lt (binSize * float steps)
    let times = (torch.where (fires, times, silent)).reshape input.shape
    let spikes = spikesAt steps times
    if cumulative then spikes.cumsum(0L).clamp_max(1.0) else spikes

/// Intensity-to-latency with Snn's `Proportional` bins (every non-zero value fires); see `intensityToLatencyWith`.
let intensityToLatency (steps: int) (cumulative: bool) (input: Tensor) : Tensor =
    intensityToLatencyWith Proportional steps cumulative input
