/// Metrics for judging spiking classifiers.
[<RequireQualifiedAccess>]
module Snn.Metrics

open TorchSharp
open Snn.Tensors

/// The predicted class of each sample: argmax over classes of scores [B; C] (ties go to the lowest index).
let predictions (scores: Tensor) : Tensor = scores.argmax (1L)

/// The number of samples whose predicted class (argmax of scores [B; C]) equals the label [B].
let correct (scores: Tensor) (labels: Tensor) : int =
    use hits = (predictions scores).eq(labels).sum ()
    int (hits.ToInt64 ())

/// Accuracy in [0, 1]: the fraction of samples whose argmax of scores [B; C] equals the label [B].
let accuracy (scores: Tensor) (labels: Tensor) : float =
    if scores.shape.[0] = 0L then invalidArg "scores" "is empty"
    float (correct scores labels) / float scores.shape.[0]
