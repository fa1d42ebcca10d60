/// Spike-timing-dependent plasticity (STDP) and reward-modulated STDP (R-STDP) as pure functions that return
/// weight updates; nothing here changes a weight in place.
///
/// Three families:
/// - trace-based pair STDP for dense ([out; in]) and 2-D convolution ([Cout; Cin; kh; kw]) weights, all-to-all
///   pairing through exponential pre/post traces, additive or multiplicative (soft-bound) weight dependence;
/// - first-spike STDP for convolutional feature learning (Masquelier and Thorpe 2007, as in SpykeTorch /
///   Mozafari et al. 2018): only the sign of t_post - t_pre matters, the update is stabilised by
///   (W - W_min)(W_max - W), and k-winners-take-all with lateral inhibition chooses which features learn;
/// - reward modulation: Mozafari's R-STDP (reward applies STDP, punishment applies anti-STDP) for first-spike
///   layers, and Florian's (2007) MSTDP and MSTDPET (eligibility trace) for the trace-based rules.
///
/// Tensors are time-first: spike trains are [T; B; ...] of zeros and ones (float32). Times and time constants are in
/// milliseconds with the step dt explicit; traces decay by the exact exponential exp(-dt/τ) per step.
[<RequireQualifiedAccess>]
module Snn.Plasticity

open System
open TorchSharp
open Snn.Tensors

// ---- shared checks -----------------------------------------------------------------------------------------------

let private finite (name: string) (value: float) =
    if Double.IsNaN value || Double.IsInfinity value then invalidArg name $"must be a finite number, got {value}"

let private positive (name: string) (value: float) =
    finite name value
    if not (value > 0.0) then invalidArg name $"must be > 0, got {value}"

let private nonNegative (name: string) (value: float) =
    finite name value
    if value < 0.0 then invalidArg name $"must be >= 0, got {value}"

let private notNull (name: string) (t: Tensor) = if isNull (box t) then nullArg name

let private checkRank (name: string) (rank: int) (meaning: string) (t: Tensor) =
    notNull name t
    if int (t.dim ()) <> rank then invalidArg name $"must be {meaning}, got shape %A{t.shape}"

let private sc (v: float) = v.ToScalar ()

// ---- trace-based pair STDP ---------------------------------------------------------------------------------------

/// How the size of an STDP update depends on the current weight w ∈ [W_min, W_max].
type WeightDependence =
    /// Weight-independent: potentiation A₊, depression A₋ (hard bounds only through clamping).
    | Additive
    /// Soft bounds (multiplicative STDP): potentiation A₊ (W_max - w), depression A₋ (w - W_min), so updates
    /// shrink as the weight approaches the bound it moves towards.
    | Multiplicative

/// Parameters of trace-based pair STDP.
type StdpParameters =
    { /// Time constant τ₊ of the presynaptic trace in ms.
      TauPre: float
      /// Time constant τ₋ of the postsynaptic trace in ms.
      TauPost: float
      /// Simulation step dt in ms (one index of the time dimension).
      Dt: float
      /// Potentiation amplitude A₊ ≥ 0 (pre before post).
      APlus: float
      /// Depression amplitude A₋ ≥ 0 (post before pre).
      AMinus: float
      /// Lower weight bound W_min.
      WeightMin: float
      /// Upper weight bound W_max (> W_min).
      WeightMax: float
      /// Weight dependence of the update.
      Dependence: WeightDependence }

    /// τ₊ = τ₋ = 20 ms, dt = 1 ms, A₊ = 0.01, A₋ = 0.0105 (slightly depression-dominated, after Song et al.
    /// 2000), weights in [0, 1], additive.
    static member Default =
        { TauPre = 20.0; TauPost = 20.0; Dt = 1.0; APlus = 0.01; AMinus = 0.0105
          WeightMin = 0.0; WeightMax = 1.0; Dependence = Additive }

/// Raises ArgumentException naming the first bad field of the STDP parameters.
let validate (p: StdpParameters) : unit =
    positive "TauPre" p.TauPre
    positive "TauPost" p.TauPost
    positive "Dt" p.Dt
    nonNegative "APlus" p.APlus
    nonNegative "AMinus" p.AMinus
    finite "WeightMin" p.WeightMin
    finite "WeightMax" p.WeightMax
    if not (p.WeightMax > p.WeightMin) then invalidArg "WeightMax" $"must be > WeightMin ({p.WeightMin}), got {p.WeightMax}"

/// The per-step decay factor exp(-dt/τ) of an exponential trace (dt, τ in ms).
let decayFactor (dt: float) (tau: float) : float =
    positive "dt" dt
    positive "tau" tau
    Math.Exp (-dt / tau)

/// One step of an exponential spike trace, exact for a trace that decays with τ between steps and jumps by 1 at
/// every spike: x_t = x_{t-1} · exp(-dt/τ) + s_t. (SpikingJelly's STDPLearner uses the Euler form x(1 - 1/τ).)
let traceStep (decay: float) (trace: Tensor) (spikes: Tensor) : Tensor =
    notNull "trace" trace
    notNull "spikes" spikes
    trace * decay + spikes

/// A presynaptic trace x and a postsynaptic trace y of one layer, batch-first ([B; ...] like one step of the spikes).
type StdpTraces =
    { /// Presynaptic trace x, shaped like one step of the input spikes.
      Pre: Tensor
      /// Postsynaptic trace y, shaped like one step of the output spikes.
      Post: Tensor }

/// Zero traces for one step of input spikes shaped `preShape` and output spikes shaped `postShape` ([B; ...]), on the
/// CPU: the steps move them to the device of the spikes they meet (`pairTermStep`).
let zeroTraces (preShape: int64[]) (postShape: int64[]) : StdpTraces =
    { Pre = torch.zeros (preShape, dtype = torch.float32); Post = torch.zeros (postShape, dtype = torch.float32) }

/// Which weight the pair terms are taken for.
type Connection =
    /// A dense weight [out; in]; one step of spikes is [B; in] (pre) and [B; out] (post).
    | Dense
    /// A 2-D convolution weight [Cout; Cin; kh; kw] with this stride and zero padding (dilation 1, no groups); one
    /// step of spikes is [B; Cin; H; W] (pre) and [B; Cout; H'; W'] (post).
    | Conv2d of stride: int * padding: int

/// LTP and LTD coincidence counts per sample, [B; weight shape]: LTP_b[i, j] = s_post,b,i · x_b,j (post spike
/// reading the pre trace), LTD_b[i, j] = y_b,i · s_pre,b,j (pre spike reading the post trace); for a convolution
/// summed over every output position the weight element connects.
let private coincidences (connection: Connection) (weight: Tensor) (preTrace: Tensor) (postTrace: Tensor)
                         (pre: Tensor) (post: Tensor) : Tensor * Tensor =
    match connection with
    | Dense ->
        checkRank "weight" 2 "a dense weight [out; in]" weight
        checkRank "pre" 2 "one step of input spikes [B; in]" pre
        checkRank "post" 2 "one step of output spikes [B; out]" post
        if pre.shape.[1] <> weight.shape.[1] then invalidArg "pre" $"has {pre.shape.[1]} inputs, the weight {weight.shape.[1]}"
        if post.shape.[1] <> weight.shape.[0] then invalidArg "post" $"has {post.shape.[1]} outputs, the weight {weight.shape.[0]}"
        if pre.shape.[0] <> post.shape.[0] then invalidArg "post" $"batch {post.shape.[0]} differs from the input batch {pre.shape.[0]}"
        post.unsqueeze(2L) * preTrace.unsqueeze(1L), postTrace.unsqueeze(2L) * pre.unsqueeze(1L)
    | Conv2d (stride, padding) ->
        if stride < 1 then invalidArg "stride" $"must be >= 1, got {stride}"
        if padding < 0 then invalidArg "padding" $"must be >= 0, got {padding}"
        checkRank "weight" 4 "a convolution weight [Cout; Cin; kh; kw]" weight
        checkRank "pre" 4 "one step of input spikes [B; Cin; H; W]" pre
        checkRank "post" 4 "one step of output spikes [B; Cout; H'; W']" post
        let batch = pre.shape.[0]
        let kh, kw = weight.shape.[2], weight.shape.[3]
        if pre.shape.[1] <> weight.shape.[1] then invalidArg "pre" $"has {pre.shape.[1]} channels, the weight {weight.shape.[1]}"
        if post.shape.[1] <> weight.shape.[0] then invalidArg "post" $"has {post.shape.[1]} channels, the weight {weight.shape.[0]}"
        let outH = (pre.shape.[2] + 2L * int64 padding - kh) / int64 stride + 1L
        let outW = (pre.shape.[3] + 2L * int64 padding - kw) / int64 stride + 1L
        if post.shape.[0] <> batch || post.shape.[2] <> outH || post.shape.[3] <> outW then
            invalidArg "post" $"must be [{batch}; {weight.shape.[0]}; {outH}; {outW}] for this input, stride and padding, got %A{post.shape}"
        // im2col: every output position's receptive field as a column, [B; Cin·kh·kw; H'·W'].
        let columns (x: Tensor) =
            torch.nn.functional.unfold (x, struct (kh, kw), padding = struct (int64 padding, int64 padding), stride = struct (int64 stride, int64 stride))
        let flat (y: Tensor) = y.reshape (batch, y.shape.[1], -1L)
        let ltp = torch.bmm (flat post, columns(preTrace).transpose (1L, 2L))
        let ltd = torch.bmm (flat postTrace, columns(pre).transpose (1L, 2L))
        let shape = Array.append [| batch |] weight.shape
        ltp.reshape shape, ltd.reshape shape

/// The weight factors (f₊(w), f₋(w)) multiplying the LTP and LTD coincidences.
let private factors (p: StdpParameters) (weight: Tensor) : Tensor * Tensor =
    match p.Dependence with
    | Additive -> torch.zeros_like (weight) + p.APlus, torch.zeros_like (weight) + p.AMinus
    | Multiplicative -> (p.WeightMax - weight) * p.APlus, (weight - p.WeightMin) * p.AMinus

/// The per-sample pair term of one step, ξ_b [B; weight shape], after advancing the traces with this step's spikes:
/// x_t = x_{t-1} e^{-dt/τ₊} + s_pre,t,  y_t = y_{t-1} e^{-dt/τ₋} + s_post,t,
/// ξ_b = f₊(w) ⊙ (s_post,t ⊗ x_t) - f₋(w) ⊙ (y_t ⊗ s_pre,t)   (for a convolution summed over output positions).
/// Because both traces include the current step, a pre and a post spike in the same step give A₊ f₊ - A₋ f₋.
/// The traces follow the spikes' device (zero traces start on the CPU).
let pairTermStep (p: StdpParameters) (connection: Connection) (weight: Tensor) (traces: StdpTraces)
                 (pre: Tensor) (post: Tensor) : StdpTraces * Tensor =
    validate p
    notNull "traces.Pre" traces.Pre
    notNull "traces.Post" traces.Post
    notNull "pre" pre
    notNull "post" post
    let x = traceStep (decayFactor p.Dt p.TauPre) (onDevice pre.device traces.Pre) pre
    let y = traceStep (decayFactor p.Dt p.TauPost) (onDevice post.device traces.Post) post
    let ltp, ltd = coincidences connection weight x y pre post
    let fPlus, fMinus = factors p weight
    { Pre = x; Post = y }, fPlus * ltp - fMinus * ltd

/// One step of pair STDP (SpikingJelly STDPLearner semantics with exact trace decay): advances the traces and returns
/// the weight update summed over the batch, Δw = Σ_b ξ_b (see `pairTermStep`).
let stdpStep (p: StdpParameters) (connection: Connection) (weight: Tensor) (traces: StdpTraces)
             (pre: Tensor) (post: Tensor) : StdpTraces * Tensor =
    let traces', xi = pairTermStep p connection weight traces pre post
    traces', xi.sum (0L)

let private checkTrains (pre: Tensor) (post: Tensor) =
    notNull "pre" pre
    notNull "post" post
    if pre.dim () < 2L then invalidArg "pre" $"must be time-first [T; B; ...], got shape %A{pre.shape}"
    if post.dim () < 2L then invalidArg "post" $"must be time-first [T; B; ...], got shape %A{post.shape}"
    if pre.shape.[0] <> post.shape.[0] then invalidArg "post" $"has {post.shape.[0]} steps, the input {pre.shape.[0]}"

/// Pair STDP over whole spike trains pre [T; B; ...] and post [T; B; ...] with the weight held fixed during the
/// window: returns the final traces and Δw = Σ_t Σ_b ξ_{t,b}. All-to-all pairing, so for one pre spike at step t₁
/// and one post spike at step t₂: Δw = A₊ f₊(w) e^{-(t₂-t₁)dt/τ₊} if t₂ ≥ t₁, plus -A₋ f₋(w) e^{-(t₁-t₂)dt/τ₋} if
/// t₁ ≥ t₂.
let stdp (p: StdpParameters) (connection: Connection) (weight: Tensor) (traces: StdpTraces)
         (pre: Tensor) (post: Tensor) : StdpTraces * Tensor =
    checkTrains pre post
    let mutable state = traces
    let mutable total = torch.zeros_like (weight)
    for t in 0L .. pre.shape.[0] - 1L do
        let next, dw = stdpStep p connection weight state pre.[t] post.[t]
        state <- next
        total <- total + dw
    state, total

/// Applies an update and clamps to the bounds: w' = clamp(w + Δw, W_min, W_max) (a fresh tensor).
let applyUpdate (p: StdpParameters) (weight: Tensor) (delta: Tensor) : Tensor =
    validate p
    notNull "weight" weight
    notNull "delta" delta
    (weight + delta).clamp_min(sc p.WeightMin).clamp_max (sc p.WeightMax)

/// Online pair STDP: the weight changes after every step, w_t = clamp(w_{t-1} + Σ_b ξ_{t,b}, W_min, W_max).
/// Returns the final weight and traces.
let stdpOnline (p: StdpParameters) (connection: Connection) (weight: Tensor) (traces: StdpTraces)
               (pre: Tensor) (post: Tensor) : Tensor * StdpTraces =
    checkTrains pre post
    let mutable w = weight.clone ()
    let mutable state = traces
    for t in 0L .. pre.shape.[0] - 1L do
        let next, dw = stdpStep p connection w state pre.[t] post.[t]
        state <- next
        w <- applyUpdate p w dw
    w, state

// ---- reward-modulated trace STDP (Florian 2007) ------------------------------------------------------------------

/// Parameters of MSTDP and MSTDPET.
type RewardModulatedParameters =
    { /// The pair rule whose term ξ is modulated.
      Stdp: StdpParameters
      /// Learning rate γ.
      LearningRate: float
      /// Eligibility time constant τ_z in ms (MSTDPET only).
      TauEligibility: float }

    /// The default pair rule, γ = 1, τ_z = 25 ms.
    static member Default = { Stdp = StdpParameters.Default; LearningRate = 1.0; TauEligibility = 25.0 }

/// Raises ArgumentException naming the first bad field of the reward-modulated parameters.
let validateRewardModulated (p: RewardModulatedParameters) : unit =
    validate p.Stdp
    positive "LearningRate" p.LearningRate
    positive "TauEligibility" p.TauEligibility

let private checkReward (reward: Tensor) (batch: int64) =
    notNull "reward" reward
    if reward.dim () <> 1L || reward.shape.[0] <> batch then
        invalidArg "reward" $"must be one reward per sample [B] = [{batch}], got shape %A{reward.shape}"

/// Per-sample reward times per-sample term, summed over the batch: Σ_b r_b term_b (the rewards follow the terms'
/// device).
let private modulate (reward: Tensor) (terms: Tensor) : Tensor =
    let shape = Array.append [| reward.shape.[0] |] (Array.create (int (terms.dim ()) - 1) 1L)
    ((onDevice terms.device reward).``to``(torch.float32).reshape shape * terms).sum (0L)

/// One step of MSTDP (Florian 2007, eq. without eligibility): Δw_t = γ Σ_b r_{t,b} ξ_{t,b}, with ξ the pair term of
/// `pairTermStep` and r_t [B] the reward delivered at this step.
let mstdpStep (p: RewardModulatedParameters) (connection: Connection) (weight: Tensor) (traces: StdpTraces)
              (pre: Tensor) (post: Tensor) (reward: Tensor) : StdpTraces * Tensor =
    validateRewardModulated p
    let traces', xi = pairTermStep p.Stdp connection weight traces pre post
    checkReward reward xi.shape.[0]
    traces', modulate reward xi * p.LearningRate

/// State of MSTDPET: the STDP traces and the per-sample eligibility z [B; weight shape].
type EligibilityState =
    { /// Pre and post traces.
      Traces: StdpTraces
      /// Eligibility trace z per sample, [B; weight shape].
      Eligibility: Tensor }

/// One step of MSTDPET (Florian 2007): the eligibility follows dz/dt = (-z + ξ)/τ_z, discretised exactly for the
/// decay, z_t = z_{t-1} e^{-dt/τ_z} + ξ_t / τ_z, and the weight changes by Δw_t = γ dt Σ_b r_{t,b} z_{t,b}
/// (dt, τ_z in ms; r_t [B]). Returns the new state and Δw_t.
let mstdpetStep (p: RewardModulatedParameters) (connection: Connection) (weight: Tensor) (state: EligibilityState)
                (pre: Tensor) (post: Tensor) (reward: Tensor) : EligibilityState * Tensor =
    validateRewardModulated p
    notNull "state.Eligibility" state.Eligibility
    let traces', xi = pairTermStep p.Stdp connection weight state.Traces pre post
    if state.Eligibility.shape <> xi.shape then
        invalidArg "state.Eligibility" $"must be [B; weight shape] = %A{xi.shape}, got %A{state.Eligibility.shape}"
    checkReward reward xi.shape.[0]
    let z = onDevice xi.device state.Eligibility * decayFactor p.Stdp.Dt p.TauEligibility + xi / p.TauEligibility
    { Traces = traces'; Eligibility = z }, modulate reward z * (p.LearningRate * p.Stdp.Dt)

/// A zero MSTDPET state for a batch of `batch` samples, input steps shaped `preShape`, output steps `postShape` and
/// a weight shaped `weightShape`, on the CPU (`mstdpetStep` moves it to the device of the spikes).
let zeroEligibility (preShape: int64[]) (postShape: int64[]) (weightShape: int64[]) : EligibilityState =
    if isNull preShape || preShape.Length = 0 then invalidArg "preShape" "must be [B; ...]"
    { Traces = zeroTraces preShape postShape
      Eligibility = torch.zeros (Array.append [| preShape.[0] |] weightShape, dtype = torch.float32) }

/// MSTDPET over whole trains pre [T; B; ...], post [T; B; ...] and rewards [T; B], weight fixed during the window:
/// the final state and Σ_t Δw_t.
let mstdpet (p: RewardModulatedParameters) (connection: Connection) (weight: Tensor) (state: EligibilityState)
            (pre: Tensor) (post: Tensor) (rewards: Tensor) : EligibilityState * Tensor =
    checkTrains pre post
    notNull "rewards" rewards
    if rewards.dim () <> 2L || rewards.shape.[0] <> pre.shape.[0] then
        invalidArg "rewards" $"must be [T; B] with T = {pre.shape.[0]}, got shape %A{rewards.shape}"
    let mutable s = state
    let mutable total = torch.zeros_like (weight)
    for t in 0L .. pre.shape.[0] - 1L do
        let next, dw = mstdpetStep p connection weight s pre.[t] post.[t] rewards.[t]
        s <- next
        total <- total + dw
    s, total

// ---- first-spike STDP (SpykeTorch / Mozafari et al. 2018) --------------------------------------------------------

/// The first-spike step of every neuron of spike trains [T; B; ...] (any value > 0 is a spike) as float32 [B; ...];
/// T where it never fires: `Loss.firstSpikeTimes` of the binary trains, detached (STDP needs times, not gradients).
/// (Cumulative trains, which stay at 1 after the first spike, give the same times.)
let firstSpikeTimes (spikes: Tensor) : Tensor =
    notNull "spikes" spikes
    if spikes.dim () < 2L then invalidArg "spikes" $"must be time-first [T; B; ...], got shape %A{spikes.shape}"
    use _ = torch.no_grad ()
    use binary = spikes.gt(sc 0.0).``to`` torch.float32
    Loss.firstSpikeTimes binary

/// Rates of first-spike STDP: ΔW = a₊ (W - W_min)(W_max - W) when t_pre ≤ t_post, -a₋ (W - W_min)(W_max - W)
/// otherwise (including inputs that never fired).
type FirstSpikeStdpParameters =
    { /// Potentiation rate a₊ ≥ 0.
      Potentiation: float
      /// Depression rate a₋ ≥ 0 (applied with a minus sign).
      Depression: float
      /// Lower weight bound W_min.
      WeightMin: float
      /// Upper weight bound W_max.
      WeightMax: float
      /// Multiply by the stabiliser (W - W_min)(W_max - W); without it the update is a₊ or -a₋ alone.
      Stabilise: bool }

    /// Mozafari et al. 2018's first layer: a₊ = 0.004, a₋ = 0.003, W ∈ [0, 1], stabilised.
    static member Default = { Potentiation = 0.004; Depression = 0.003; WeightMin = 0.0; WeightMax = 1.0; Stabilise = true }

/// Raises ArgumentException naming the first bad field of the first-spike STDP parameters.
let validateFirstSpike (p: FirstSpikeStdpParameters) : unit =
    nonNegative "Potentiation" p.Potentiation
    nonNegative "Depression" p.Depression
    finite "WeightMin" p.WeightMin
    finite "WeightMax" p.WeightMax
    if not (p.WeightMax > p.WeightMin) then invalidArg "WeightMax" $"must be > WeightMin ({p.WeightMin}), got {p.WeightMax}"

/// A neuron chosen to learn: sample, feature (output channel) and position in the feature map.
[<Struct>]
type Winner =
    { /// Sample index in the batch.
      Sample: int
      /// Feature (output channel).
      Feature: int
      /// Row in the feature map.
      Row: int
      /// Column in the feature map.
      Column: int }

let private checkMaps (name: string) (t: Tensor) =
    checkRank name 4 "feature maps [B; F; H; W]" t

/// k-winners-take-all with lateral inhibition (SpykeTorch's `get_k_winners`), per sample of first-spike times
/// [B; F; H; W] (T = never) and scores [B; F; H; W] (e.g. potentials, or potentials summed over the firing steps):
/// candidates that fired are taken in order of earliest spike, then larger score, then lower flat index
/// f·H·W + row·W + column (SpykeTorch's arg-max returns the first of equal maxima), so the winners are fully
/// determined. After each winner its whole feature is inhibited (one winner per feature); with radius > 0 so is
/// every feature within `radius` rows and columns of its position (Chebyshev distance ≤ radius). Radius 0 means no
/// spatial inhibition at all, as in SpykeTorch: another feature may win at the same position. At most k winners
/// per sample, fewer when not enough neurons fired.
let kWinners (k: int) (radius: int) (steps: int) (times: Tensor) (potentials: Tensor) : Winner[] =
    if k < 1 then invalidArg "k" $"must be >= 1, got {k}"
    if radius < 0 then invalidArg "radius" $"must be >= 0, got {radius}"
    if steps < 1 then invalidArg "steps" $"must be >= 1, got {steps}"
    checkMaps "times" times
    checkMaps "potentials" potentials
    if times.shape <> potentials.shape then invalidArg "potentials" $"shape %A{potentials.shape} differs from the times' %A{times.shape}"
    let b, f, h, w = int times.shape.[0], int times.shape.[1], int times.shape.[2], int times.shape.[3]
    let t = toArray (times.contiguous ())
    let v = toArray (potentials.``to``(torch.float32).contiguous ())
    let perSample = f * h * w
    [| for s in 0 .. b - 1 do
        let offset = s * perSample
        let order =
            [| 0 .. perSample - 1 |]
            |> Array.filter (fun i -> t.[offset + i] < float32 steps)
            |> Array.sortWith (fun i j ->
                let byTime = compare t.[offset + i] t.[offset + j]
                if byTime <> 0 then byTime
                else
                    let byScore = compare v.[offset + j] v.[offset + i]
                    if byScore <> 0 then byScore else compare i j)
        let featureTaken = Array.zeroCreate f
        let blocked = Array.zeroCreate (h * w) // near an earlier winner (radius > 0): no feature may win there
        let mutable found = 0
        for i in order do
            if found < k then
                let feature, pos = i / (h * w), i % (h * w)
                if not featureTaken.[feature] && not blocked.[pos] then
                    let row, col = pos / w, pos % w
                    yield { Sample = s; Feature = feature; Row = row; Column = col }
                    found <- found + 1
                    featureTaken.[feature] <- true
                    if radius > 0 then
                        for r in max 0 (row - radius) .. min (h - 1) (row + radius) do
                            for c in max 0 (col - radius) .. min (w - 1) (col + radius) do
                                blocked.[r * w + c] <- true |]

/// Point-wise lateral inhibition (SpykeTorch's `pointwise_inhibition`): at every position of every sample only the
/// feature that fired first survives (ties: the larger score, e.g. potential; then the lower index). Returns a float mask
/// [B; F; H; W] of ones at the survivors (never at a position where nothing fired).
let pointwiseInhibition (steps: int) (times: Tensor) (potentials: Tensor) : Tensor =
    checkMaps "times" times
    checkMaps "potentials" potentials
    if times.shape <> potentials.shape then invalidArg "potentials" $"shape %A{potentials.shape} differs from the times' %A{times.shape}"
    let earliest = times.amin ([| 1L |], keepdim = true)
    let candidate = times.eq(earliest).logical_and (times.lt (sc (float steps)))
    let score = torch.where (candidate, potentials.``to`` torch.float32, torch.zeros_like (times) - Single.MaxValue)
    let best = score.argmax (1L, keepdim = true)
    let mask = torch.zeros_like(times).scatter (1L, best, torch.ones_like (best, dtype = torch.float32))
    mask * candidate.``to`` torch.float32

/// The signed first-spike update of the winners' kernels: for winner (b, f, r, c) with receptive field P (the
/// padded input times under the kernel at output position (r, c)),
/// ΔW_f += (t_pre ≤ t_post ? ltp : ltd) ⊙ S(W_f),  S(W) = (W - W_min)(W_max - W) when stabilised, else 1.
/// Padded border inputs count as never firing (as in SpykeTorch).
let private firstSpikeDelta (p: FirstSpikeStdpParameters) (ltp: float) (ltd: float) (stride: int) (padding: int)
                            (weight: Tensor) (preTimes: Tensor) (postTimes: Tensor) (winners: Winner[])
                            (scale: int -> float) : Tensor =
    validateFirstSpike p
    if stride < 1 then invalidArg "stride" $"must be >= 1, got {stride}"
    if padding < 0 then invalidArg "padding" $"must be >= 0, got {padding}"
    checkRank "weight" 4 "a convolution weight [Cout; Cin; kh; kw]" weight
    checkMaps "preTimes" preTimes
    checkMaps "postTimes" postTimes
    if isNull winners then nullArg "winners"
    if preTimes.shape.[1] <> weight.shape.[1] then invalidArg "preTimes" $"has {preTimes.shape.[1]} channels, the weight {weight.shape.[1]}"
    if postTimes.shape.[1] <> weight.shape.[0] then invalidArg "postTimes" $"has {postTimes.shape.[1]} channels, the weight {weight.shape.[0]}"
    let kh, kw = weight.shape.[2], weight.shape.[3]
    let never = float (preTimes.max().ToSingle () |> max (postTimes.max().ToSingle ())) + 1.0
    let padded =
        if padding = 0 then preTimes
        else torch.nn.functional.pad (preTimes, [| int64 padding; int64 padding; int64 padding; int64 padding |], value = never)
    let stabiliser =
        if p.Stabilise then (weight - p.WeightMin) * (p.WeightMax - weight) else torch.ones_like weight
    let delta = torch.zeros_like weight
    for w in winners do
        if w.Sample < 0 || int64 w.Sample >= preTimes.shape.[0] then invalidArg "winners" $"sample {w.Sample} is outside the batch of {preTimes.shape.[0]}"
        if w.Feature < 0 || int64 w.Feature >= weight.shape.[0] then invalidArg "winners" $"feature {w.Feature} is outside the {weight.shape.[0]} features"
        if w.Row < 0 || int64 w.Row >= postTimes.shape.[2] || w.Column < 0 || int64 w.Column >= postTimes.shape.[3] then
            invalidArg "winners" $"position ({w.Row}, {w.Column}) is outside the {postTimes.shape.[2]}x{postTimes.shape.[3]} map"
        let s = scale w.Sample
        if s <> 0.0 then
            let r0, c0 = int64 (w.Row * stride), int64 (w.Column * stride)
            let field = padded.[int64 w.Sample].narrow(1L, r0, kh).narrow (2L, c0, kw)
            let tPost = postTimes.[int64 w.Sample, int64 w.Feature, int64 w.Row, int64 w.Column]
            let rate = torch.where (field.le tPost, torch.zeros_like (field) + ltp, torch.zeros_like (field) + ltd)
            let row = delta.[int64 w.Feature]
            row.add_ (rate * stabiliser.[int64 w.Feature] * s) |> ignore
    delta

/// First-spike STDP of a convolution weight [Cout; Cin; kh; kw] (stride, zero padding) for the given winners, from
/// the input first-spike times [B; Cin; H; W] and output first-spike times [B; Cout; H'; W'] (T = never):
/// ΔW_f = Σ_{winners of f} (t_pre ≤ t_post ? a₊ : -a₋) (W_f - W_min)(W_max - W_f). A dense layer is the case of a
/// kernel as large as the input.
let firstSpikeStdp (p: FirstSpikeStdpParameters) (stride: int) (padding: int) (weight: Tensor)
                   (preTimes: Tensor) (postTimes: Tensor) (winners: Winner[]) : Tensor =
    firstSpikeDelta p p.Potentiation (-p.Depression) stride padding weight preTimes postTimes winners (fun _ -> 1.0)

/// Anti-STDP: the mirror of `firstSpikeStdp`, ΔW_f = Σ (t_pre ≤ t_post ? -a₊ : a₋) S(W_f), i.e. inputs that took part
/// in the winner's spike are depressed and the others potentiated.
let antiFirstSpikeStdp (p: FirstSpikeStdpParameters) (stride: int) (padding: int) (weight: Tensor)
                       (preTimes: Tensor) (postTimes: Tensor) (winners: Winner[]) : Tensor =
    firstSpikeDelta p (-p.Potentiation) p.Depression stride padding weight preTimes postTimes winners (fun _ -> 1.0)

/// Applies a first-spike update and clamps to the bounds: W' = clamp(W + ΔW, W_min, W_max).
let applyFirstSpike (p: FirstSpikeStdpParameters) (weight: Tensor) (delta: Tensor) : Tensor =
    validateFirstSpike p
    notNull "weight" weight
    notNull "delta" delta
    (weight + delta).clamp_min(sc p.WeightMin).clamp_max (sc p.WeightMax)

/// Rates of Mozafari's R-STDP: STDP with `Reward` rates after a reward, anti-STDP with `Punishment` rates after a
/// punishment.
type RStdpParameters =
    { /// Rates applied as STDP when the reward is positive.
      Reward: FirstSpikeStdpParameters
      /// Rates applied as anti-STDP when the reward is negative.
      Punishment: FirstSpikeStdpParameters }

    /// Mozafari et al. 2018's decision layer: reward (a₊, a₋) = (0.004, 0.003), punishment (0.004, 0.0005).
    static member Default =
        { Reward = FirstSpikeStdpParameters.Default
          Punishment = { FirstSpikeStdpParameters.Default with Potentiation = 0.004; Depression = 0.0005 } }

/// Raises ArgumentException naming the first bad field of the R-STDP parameters.
let validateRStdp (p: RStdpParameters) : unit =
    validateFirstSpike p.Reward
    validateFirstSpike p.Punishment
    if p.Reward.WeightMin <> p.Punishment.WeightMin || p.Reward.WeightMax <> p.Punishment.WeightMax then
        invalidArg "Punishment" "must use the same weight bounds as Reward"

/// R-STDP (Mozafari et al. 2018) with one reward per sample (`rewards` [B] as an array): a sample with r > 0
/// contributes r times STDP (Reward rates) for its winners, r < 0 contributes |r| times anti-STDP (Punishment rates),
/// r = 0 nothing: ΔW = Σ_b [r_b > 0] r_b ΔW_STDP,b + [r_b < 0] |r_b| ΔW_anti,b.
let rewardModulatedFirstSpike (p: RStdpParameters) (stride: int) (padding: int) (weight: Tensor)
                              (preTimes: Tensor) (postTimes: Tensor) (winners: Winner[]) (rewards: float[]) : Tensor =
    validateRStdp p
    if isNull rewards then nullArg "rewards"
    checkMaps "preTimes" preTimes
    if int64 rewards.Length <> preTimes.shape.[0] then invalidArg "rewards" $"needs one reward per sample ({preTimes.shape.[0]}), got {rewards.Length}"
    rewards |> Array.iteri (fun i r -> finite $"rewards[{i}]" r)
    // Only the winners of rewarded (punished) samples enter the STDP (anti-STDP) term.
    let rewarded = winners |> Array.filter (fun w -> w.Sample >= 0 && w.Sample < rewards.Length && rewards.[w.Sample] > 0.0)
    let punished = winners |> Array.filter (fun w -> w.Sample >= 0 && w.Sample < rewards.Length && rewards.[w.Sample] < 0.0)
    let invalid = winners |> Array.tryFind (fun w -> w.Sample < 0 || w.Sample >= rewards.Length)
    invalid |> Option.iter (fun w -> invalidArg "winners" $"sample {w.Sample} is outside the batch of {rewards.Length}")
    let positive = firstSpikeDelta p.Reward p.Reward.Potentiation (-p.Reward.Depression) stride padding weight preTimes postTimes rewarded (fun s -> rewards.[s])
    if punished.Length = 0 then positive
    else positive + firstSpikeDelta p.Punishment (-p.Punishment.Potentiation) p.Punishment.Depression stride padding weight preTimes postTimes punished (fun s -> -rewards.[s])
