/// Losses on spiking outputs and pure combinators of losses.
///
/// Output tensors are time-first: spikes or membrane potentials [T; B; C] (T steps, B samples, C output neurons);
/// labels are [B] vectors of class indices in [0, C). Every loss is a mean over the batch, returns a fresh scalar
/// tensor with a graph (when its input has one) and never disposes its inputs.
[<RequireQualifiedAccess>]
module Snn.Loss

open System
open TorchSharp
open Snn.Tensors

let private checkOutputs (name: string) (outputs: Tensor) =
    if isNull (box outputs) then nullArg name
    if outputs.dim () <> 3 then invalidArg name $"must be time-first [T; B; C], got shape %A{outputs.shape}"
    if outputs.shape.[0] = 0L || outputs.shape.[1] = 0L || outputs.shape.[2] = 0L then
        invalidArg name $"must not be empty, got shape %A{outputs.shape}"

/// Checked before libtorch sees the labels: an index out of range aborts the native cross-entropy.
let private checkLabels (labels: Tensor) (batch: int64) (classes: int64) =
    if isNull (box labels) then nullArg "labels"
    if labels.dim () <> 1 || labels.shape.[0] <> batch then
        invalidArg "labels" $"must be a vector of {batch} class indices, got shape %A{labels.shape}"
    if labels.dtype <> torch.int64 then invalidArg "labels" $"must hold int64 class indices, got {labels.dtype}"
    if holdsValues labels then
        match toInt64Array labels |> Array.tryFind (fun v -> v < 0L || v >= classes) with
        | Some bad -> invalidArg "labels" $"holds class {bad}, outside [0, {classes})"
        | None -> ()

let private checkFraction (name: string) (value: float) =
    if not (value >= 0.0 && value <= 1.0) then invalidArg name $"must lie in [0, 1], got {value}"

/// Spike counts per sample and output neuron: n_bc = Σ_t z_tbc, from spikes [T; B; C] to counts [B; C].
let spikeCounts (spikes: Tensor) : Tensor =
    if spikes.dim () < 2 then invalidArg "spikes" $"must be time-first [T; B; ...], got shape %A{spikes.shape}"
    spikes.sum (0L)

/// Firing rates per sample and output neuron: r_bc = (1/T) Σ_t z_tbc, from spikes [T; B; ...] to rates [B; ...].
let firingRates (spikes: Tensor) : Tensor =
    if spikes.dim () < 2 then invalidArg "spikes" $"must be time-first [T; B; ...], got shape %A{spikes.shape}"
    spikes.mean ([| 0L |])

/// Cross-entropy with the spike counts as logits:
/// L = -(1/B) Σ_b log softmax(n_b)_{y_b}, with n_b = Σ_t z_tb (spikes [T; B; C], labels [B] of class indices).
let crossEntropyOnCounts (spikes: Tensor) (labels: Tensor) : Tensor =
    let counts = spikeCounts spikes
    if labels.dim () <> 1 || labels.shape.[0] <> counts.shape.[0] then
        invalidArg "labels" $"must be a vector of {counts.shape.[0]} class indices, got shape %A{labels.shape}"
    if counts.dim () = 2 then checkLabels labels counts.shape.[0] counts.shape.[1]
    torch.nn.functional.cross_entropy (counts, labels)

/// Cross-entropy with the time-averaged membrane potential as logits (snnTorch's `ce_mem_loss` on the mean, the
/// usual read-out of a non-spiking output layer): L = -(1/B) Σ_b log softmax(v̄_b)_{y_b}, v̄_bc = (1/T) Σ_t v_tbc.
/// Potentials [T; B; C], labels [B].
let crossEntropyOnMembrane (potentials: Tensor) (labels: Tensor) : Tensor =
    checkOutputs "potentials" potentials
    checkLabels labels potentials.shape.[1] potentials.shape.[2]
    torch.nn.functional.cross_entropy (potentials.mean ([| 0L |]), labels)

/// Mean squared error between firing rates and target rates [B; C]:
/// L = (1/(B C)) Σ_bc (r_bc - r*_bc)², r_bc = (1/T) Σ_t z_tbc. Spikes [T; B; C].
let mseToRates (spikes: Tensor) (targetRates: Tensor) : Tensor =
    checkOutputs "spikes" spikes
    if isNull (box targetRates) then nullArg "targetRates"
    if targetRates.shape <> spikes.shape.[1..] then
        invalidArg "targetRates" $"must have shape %A{spikes.shape.[1..]} ([B; C]), got %A{targetRates.shape}"
    torch.nn.functional.mse_loss (firingRates spikes, targetRates.``to`` spikes.dtype)

/// MSE to target firing rates built from the labels (snnTorch's `mse_count_loss`): the target rate is
/// `correctRate` for the labelled neuron and `incorrectRate` for the others,
/// L = (1/(B C)) Σ_bc (r_bc - r*_bc)², r*_bc = correctRate if c = y_b else incorrectRate. Spikes [T; B; C].
let mseFiringRate (correctRate: float) (incorrectRate: float) (spikes: Tensor) (labels: Tensor) : Tensor =
    checkFraction "correctRate" correctRate
    checkFraction "incorrectRate" incorrectRate
    checkOutputs "spikes" spikes
    checkLabels labels spikes.shape.[1] spikes.shape.[2]
    let oneHot = torch.nn.functional.one_hot(labels, spikes.shape.[2]).``to`` spikes.dtype
    let target = oneHot * (correctRate - incorrectRate) + incorrectRate
    torch.nn.functional.mse_loss (firingRates spikes, target)

/// lava-dl's `SpikeRate` loss (slayer/loss.py, no moving window): the summed squared error of the firing rates to
/// `trueRate` for the labelled neuron and `falseRate` for the others,
/// L = Σ_bc (r_bc - r*_bc)², r_bc = (1/T) Σ_t z_tbc, r*_bc = trueRate if c = y_b else falseRate
/// (mean-squared-error with reduction 'sum', lava-dl's default: it grows with the batch and the outputs, unlike
/// `mseFiringRate`'s mean). Spikes [T; B; C], labels [B].
let spikeRate (trueRate: float) (falseRate: float) (spikes: Tensor) (labels: Tensor) : Tensor =
    checkFraction "trueRate" trueRate
    checkFraction "falseRate" falseRate
    checkOutputs "spikes" spikes
    checkLabels labels spikes.shape.[1] spikes.shape.[2]
    let oneHot = torch.nn.functional.one_hot(labels, spikes.shape.[2]).``to`` spikes.dtype
    let target = oneHot * (trueRate - falseRate) + falseRate
    torch.nn.functional.mse_loss (firingRates spikes, target, reduction = torch.nn.Reduction.Sum)

/// The first-spike indicator f_tbc = z_tbc Π_{s<t} (1 - z_sbc): 1 at the first spike of each neuron, 0 elsewhere.
/// Built from products of the spikes, so the surrogate gradient of every z flows through it. Spikes [T; B; ...].
let firstSpikeIndicator (spikes: Tensor) : Tensor =
    if spikes.dim () < 2 then invalidArg "spikes" $"must be time-first [T; B; ...], got shape %A{spikes.shape}"
    let silentSoFar = (1.0 - spikes).cumprod (0L)
    // Π_{s<t}: shift the inclusive product one step later, with an empty product (1) at t = 0.
    let before = torch.cat ([| torch.ones_like (spikes.narrow (0L, 0L, 1L)); silentSoFar.narrow (0L, 0L, spikes.shape.[0] - 1L) |], 0L)
    spikes * before

/// How the first-spike read-outs time a neuron that never fires in the window of T steps.
type SilentTiming =
    /// At T, one step past the window (the default): the time depends on the spikes only and lies in [0, T], so
    /// all silent neurons of a sample tie.
    | AtWindowEnd
    /// Seed 003's repository (Liu et al. 2023): at T + r, where r is the 0-based rank of the neuron's peak membrane
    /// potential max_t v_tb among the sample's neurons (largest first, ties to the lower index; every neuron is
    /// ranked, firing ones included). The repository counts steps from 1 and ranks from 1, so its times are these
    /// plus 1 throughout (the same softmax). Potentials [T; B; ...] shaped like the spikes; the rank is constant
    /// (no gradient flows through it).
    | RankByPeakPotential of potentials: Tensor

/// The silent-neuron times of a timing rule as [B; ...] (T, or T + rank): detached, same dtype as the spikes.
let private silentTimes (silent: SilentTiming) (spikes: Tensor) : Tensor =
    let steps = float spikes.shape.[0]
    match silent with
    | AtWindowEnd -> torch.full_like (spikes.[0], steps)
    | RankByPeakPotential potentials ->
        if isNull (box potentials) then nullArg "potentials"
        if potentials.shape <> spikes.shape then
            invalidArg "potentials" $"must have the spikes' shape %A{spikes.shape} ([T; B; ...]), got %A{potentials.shape}"
        use _ = torch.no_grad ()
        let peak = potentials.detach().amax([| 0L |]).reshape (spikes.shape.[1], -1L)
        let struct (_, order) = peak.sort (1L, descending = true, stable = true)
        let rank = order.argsort(1L).reshape(spikes.shape.[1..]).``to`` spikes.dtype
        rank + steps

/// Differentiable first-spike times in steps (0-based), from spikes [T; B; ...] to times [B; ...]:
/// t̂_b = Σ_t t f_tb + s_b (1 - Σ_t f_tb), i.e. the index of the first spike, or the silent time s_b of the rule
/// (`AtWindowEnd`: T; `RankByPeakPotential`: T + rank) for a neuron that never fires.
let firstSpikeTimesWith (silent: SilentTiming) (spikes: Tensor) : Tensor =
    if spikes.dim () < 2 then invalidArg "spikes" $"must be time-first [T; B; ...], got shape %A{spikes.shape}"
    let f = firstSpikeIndicator spikes
    let steps = spikes.shape.[0]
    let shape = Array.append [| steps |] (Array.create (int (spikes.dim ()) - 1) 1L)
    let t = torch.arange(steps, dtype = spikes.dtype, device = spikes.device).reshape shape
    let fired = f.sum (0L)
    (f * t).sum (0L) + (1.0 - fired) * silentTimes silent spikes

/// Differentiable first-spike times with silent neurons at T (`AtWindowEnd`, the default); see `firstSpikeTimesWith`.
let firstSpikeTimes (spikes: Tensor) : Tensor = firstSpikeTimesWith AtWindowEnd spikes

/// First-spike (time-to-first-spike) cross-entropy (Liu et al. 2023, 003 seed) with the given silent-neuron rule:
/// the earliest neuron wins, so the logits are the negative first-spike times scaled by a temperature τ (in steps):
/// L = -(1/B) Σ_b log softmax(-t̂_b / τ)_{y_b}. Spikes [T; B; C], labels [B].
let firstSpikeLossWith (silent: SilentTiming) (tau: float) (spikes: Tensor) (labels: Tensor) : Tensor =
    if not (tau > 0.0) || Double.IsInfinity tau then invalidArg "tau" $"must be a finite number > 0, got {tau}"
    checkOutputs "spikes" spikes
    checkLabels labels spikes.shape.[1] spikes.shape.[2]
    torch.nn.functional.cross_entropy (firstSpikeTimesWith silent spikes / -tau, labels)

/// The first-spike cross-entropy with silent neurons at T (the default `AtWindowEnd`; see `firstSpikeLossWith`).
let firstSpikeLoss (tau: float) (spikes: Tensor) (labels: Tensor) : Tensor = firstSpikeLossWith AtWindowEnd tau spikes labels

/// The time regulariser of first-spike training: the labelled neuron's first-spike time as a fraction of the
/// window, L = (1/B) Σ_b t̂_{b,y_b} / T; it pushes the correct neuron to fire early (and to fire at all).
/// Spikes [T; B; C], labels [B].
let firstSpikeTimeRegulariser (spikes: Tensor) (labels: Tensor) : Tensor =
    checkOutputs "spikes" spikes
    checkLabels labels spikes.shape.[1] spikes.shape.[2]
    let times = firstSpikeTimes spikes
    times.gather(1L, labels.unsqueeze 1L).mean () / float spikes.shape.[0]

/// SLAYER's spike-count loss (Shrestha & Orchard 2018, `numSpikes`): the labelled neuron should fire `trueCount`
/// spikes in the window and the others `falseCount`: L = (1/(2B)) Σ_bc (n_bc - n*_bc)², n_bc = Σ_t z_tbc.
/// Spikes [T; B; C], labels [B].
let slayerSpikeCount (trueCount: float) (falseCount: float) (spikes: Tensor) (labels: Tensor) : Tensor =
    if not (trueCount >= 0.0) || Double.IsInfinity trueCount then invalidArg "trueCount" $"must be a finite number >= 0, got {trueCount}"
    if not (falseCount >= 0.0) || Double.IsInfinity falseCount then invalidArg "falseCount" $"must be a finite number >= 0, got {falseCount}"
    checkOutputs "spikes" spikes
    checkLabels labels spikes.shape.[1] spikes.shape.[2]
    let oneHot = torch.nn.functional.one_hot(labels, spikes.shape.[2]).``to`` spikes.dtype
    let target = oneHot * (trueCount - falseCount) + falseCount
    let error = spikeCounts spikes - target
    (error * error).sum () / (2.0 * float spikes.shape.[1])

/// Temporal efficient training loss (TET, Deng et al. 2022): the cross-entropy of every step's output, averaged
/// over time, blended with an MSE that pulls every output towards a constant φ:
/// L = (1 - λ) (1/T) Σ_t CE(O_t, y) + λ (1/T) Σ_t (1/(B C)) Σ_bc (O_tbc - φ)². Outputs [T; B; C], labels [B].
let tet (lambda: float) (phi: float) (outputs: Tensor) (labels: Tensor) : Tensor =
    checkFraction "lambda" lambda
    if Double.IsNaN phi || Double.IsInfinity phi then invalidArg "phi" $"must be a finite number, got {phi}"
    checkOutputs "outputs" outputs
    checkLabels labels outputs.shape.[1] outputs.shape.[2]
    let steps = outputs.shape.[0]
    // CE over the merged [T·B] batch with the labels repeated per step equals the mean over t of CE(O_t, y).
    let ce = torch.nn.functional.cross_entropy (outputs.flatten (0L, 1L), labels.repeat ([| steps |]))
    let deviation = outputs - phi
    ce * (1.0 - lambda) + (deviation * deviation).mean () * lambda

/// L1 activity penalty: the mean spike count per neuron and step, L = (1/(T N)) Σ z over spikes [T; B; ...]
/// (N = every non-time element); favours sparse firing.
let spikeActivity (spikes: Tensor) : Tensor =
    if spikes.dim () < 2 then invalidArg "spikes" $"must be time-first [T; B; ...], got shape %A{spikes.shape}"
    spikes.mean ()

/// Firing-rate bounds regulariser (Zenke & Vogels 2021 style): with r_bn the rate of neuron n for sample b,
/// L = (1/(B N)) Σ_bn [max(0, lower - r_bn)² + max(0, r_bn - upper)²]; zero while every rate lies in
/// [lower, upper]. Spikes [T; B; ...], rates in spikes per step.
let firingRateBounds (lower: float) (upper: float) (spikes: Tensor) : Tensor =
    checkFraction "lower" lower
    checkFraction "upper" upper
    if lower > upper then invalidArg "upper" $"must be >= lower = {lower}, got {upper}"
    let r = firingRates spikes
    let below = (lower - r).clamp_min 0.0
    let above = (r - upper).clamp_min 0.0
    (below * below + above * above).mean ()

/// Scales a loss: k L.
let scale (k: float) (loss: Tensor) : Tensor =
    if Double.IsNaN k || Double.IsInfinity k then invalidArg "k" $"must be a finite number, got {k}"
    loss * k

/// The weighted sum Σ_i w_i L_i of scalar losses (one weight per loss).
let weightedSum (weights: float[]) (losses: Tensor[]) : Tensor =
    if isNull weights then nullArg "weights"
    if isNull losses then nullArg "losses"
    if losses.Length = 0 then invalidArg "losses" "needs at least one loss"
    if weights.Length <> losses.Length then invalidArg "weights" $"has {weights.Length} weights for {losses.Length} losses"
    losses |> Array.iteri (fun i l ->
        if isNull (box l) then nullArg $"losses[{i}]"
        if l.numel () <> 1L then invalidArg $"losses[{i}]" $"must be a scalar, got shape %A{l.shape}")
    weights |> Array.iteri (fun i w -> if Double.IsNaN w || Double.IsInfinity w then invalidArg $"weights[{i}]" $"must be finite, got {w}")
    Array.map2 (fun (w: float) (l: Tensor) -> l * w) weights losses |> Array.reduce (fun a b -> a + b)

/// Auxiliary learning (thesis eq. 3.3): L = (1 - α) L_M + α Σ_i γ_i L_A^(i), with α ∈ [0, 1] trading the main
/// loss L_M against the auxiliary losses L_A^(i) weighted by γ_i (one per auxiliary loss).
let auxiliary (alpha: float) (gammas: float[]) (main: Tensor) (auxiliaries: Tensor[]) : Tensor =
    checkFraction "alpha" alpha
    if isNull (box main) then nullArg "main"
    if isNull gammas then nullArg "gammas"
    if isNull auxiliaries then nullArg "auxiliaries"
    if gammas.Length <> auxiliaries.Length then
        invalidArg "gammas" $"has {gammas.Length} weights for {auxiliaries.Length} auxiliary losses"
    if auxiliaries.Length = 0 then main * (1.0 - alpha)
    else weightedSum (Array.append [| 1.0 - alpha |] (gammas |> Array.map (fun g -> alpha * g))) (Array.append [| main |] auxiliaries)

/// Multi-task learning (thesis eq. 4.1): L = (1 - γ) L_y + γ L_t, with the label-classifier loss L_y and the
/// task-classifier loss L_t, γ ∈ [0, 1].
let multiTask (gamma: float) (labelLoss: Tensor) (taskLoss: Tensor) : Tensor =
    checkFraction "gamma" gamma
    weightedSum [| 1.0 - gamma; gamma |] [| labelLoss; taskLoss |]
