/// Losses on spiking outputs. Output spikes are time-first, [T; B; C].
[<RequireQualifiedAccess>]
module Snn.Loss

open TorchSharp
open Snn.Tensors

/// Spike counts per sample and output neuron: n_bc = Σ_t z_tbc, from spikes [T; B; C] to counts [B; C].
let spikeCounts (spikes: Tensor) : Tensor =
    if spikes.dim () < 2 then invalidArg "spikes" $"must be time-first [T; B; ...], got shape %A{spikes.shape}"
    spikes.sum (0L)

/// Cross-entropy with the spike counts as logits:
/// L = -(1/B) Σ_b log softmax(n_b)_{y_b}, with n_b = Σ_t z_tb (spikes [T; B; C], labels [B] of class indices).
let crossEntropyOnCounts (spikes: Tensor) (labels: Tensor) : Tensor =
    let counts = spikeCounts spikes
    if labels.dim () <> 1 || labels.shape.[0] <> counts.shape.[0] then
        invalidArg "labels" $"must be a vector of {counts.shape.[0]} class indices, got shape %A{labels.shape}"
    torch.nn.functional.cross_entropy (counts, labels)
