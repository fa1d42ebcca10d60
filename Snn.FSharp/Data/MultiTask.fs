/// Tasks of a threshold-modulated multi-task SNN (TM-SNN, thesis ch. 4) as pure functions: each task is a label
/// map from the dataset's class index to the task's own labels, and the label classifier's output is the
/// concatenation of every task's labels. Thesis task set on digits: the digit (10 labels), odd/even (2), greater
/// than 5 (2), the value mod 3 (3); equivalent groupings are given for the moving-patterns set and Fashion-MNIST.
///
/// Label tensors are [B] vectors of int64 class indices; output spikes are time-first [T; B; C].
[<RequireQualifiedAccess>]
module Snn.MultiTask

open System
open TorchSharp
open Snn.Tensors

/// Digit tasks (MNIST, N-MNIST), thesis table 13: the digit, odd/even, greater than 5 (d > 5), value mod 3.
let digitTasks : LabelMap[] =
    [| LabelMap.identity "digit" (Array.init 10 string)
       LabelMap.ofFunction "odd/even" [| "even"; "odd" |] 10 (fun d -> d % 2)
       LabelMap.ofFunction "greater than 5" [| "<= 5"; "> 5" |] 10 (fun d -> if d > 5 then 1 else 0)
       LabelMap.ofFunction "mod 3" [| "0"; "1"; "2" |] 10 (fun d -> d % 3) |]

/// Moving-patterns tasks (classes: 8 translation directions right, up-right, ..., down-right, then clockwise and
/// counter-clockwise rotation), grouped like the digit tasks: the pattern (10); axis-aligned (right, up, left, down,
/// clockwise = the even labels) against diagonal (and counter-clockwise = the odd labels) (2, the odd/even analogue);
/// vertical motion or not (2: up-*/down-* directions against right, left and the rotations); horizontal direction
/// (3: rightward, leftward, none).
let movingPatternTasks : LabelMap[] =
    [| LabelMap.identity "pattern" (Array.copy Snn.Data.MovingPatterns.classNames)
       LabelMap.ofFunction "axis-aligned" [| "axis-aligned or clockwise"; "diagonal or counter-clockwise" |] 10 (fun c -> c % 2)
       LabelMap.ofFunction "vertical" [| "no vertical motion"; "vertical motion" |] 10 (fun c -> if c = 1 || c = 2 || c = 3 || c = 5 || c = 6 || c = 7 then 1 else 0)
       LabelMap.ofFunction "horizontal" [| "rightward"; "leftward"; "none" |] 10 (fun c ->
           match c with
           | 0 | 1 | 7 -> 0
           | 3 | 4 | 5 -> 1
           | _ -> 2) |]

/// Fashion-MNIST tasks (classes T-shirt/top, trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle
/// boot): the item (10), upper-body garment or dress vs the rest (2), footwear vs the rest (2), tops / bottoms and
/// dresses / footwear and bags (3).
let fashionTasks : LabelMap[] =
    [| LabelMap.identity "item" (Array.copy Snn.Data.ImageSets.fashionClassNames)
       LabelMap.ofFunction "upper body" [| "other"; "upper body or dress" |] 10 (fun c -> if c = 0 || c = 2 || c = 3 || c = 4 || c = 6 then 1 else 0)
       LabelMap.ofFunction "footwear" [| "other"; "footwear" |] 10 (fun c -> if c = 5 || c = 7 || c = 9 then 1 else 0)
       LabelMap.ofFunction "garment group" [| "top"; "bottom or dress"; "footwear or bag" |] 10 (fun c ->
           match c with
           | 0 | 2 | 4 | 6 -> 0
           | 1 | 3 -> 1
           | _ -> 2) |]

/// The thesis thresholds φ_k for up to four tasks (table 13): 1.25, 5, 10, 15.
let thesisThresholds : float[] = [| 1.25; 5.0; 10.0; 15.0 |]

/// Where each task's labels start in the concatenated output: offset_k = Σ_{j<k} labels_j.
let offsets (tasks: LabelMap[]) : int[] =
    if isNull tasks || tasks.Length = 0 then invalidArg "tasks" "needs at least one task"
    Array.scan (fun acc (t: LabelMap) -> acc + t.LabelCount) 0 tasks |> Array.take tasks.Length

/// Outputs of the label classifier: Σ_k labels_k.
let totalLabels (tasks: LabelMap[]) : int =
    if isNull tasks || tasks.Length = 0 then invalidArg "tasks" "needs at least one task"
    tasks |> Array.sumBy (fun t -> t.LabelCount)

let private checkTask (tasks: LabelMap[]) (task: int) =
    if isNull tasks || tasks.Length = 0 then invalidArg "tasks" "needs at least one task"
    if task < 0 || task >= tasks.Length then invalidArg "task" $"must lie in [0, {tasks.Length}), got {task}"

/// Task labels [B] of task k for dataset classes [B] (int64): y_b = map_k(c_b).
let taskLabels (tasks: LabelMap[]) (task: int) (classes: Tensor) : Tensor =
    checkTask tasks task
    LabelMap.apply tasks.[task] classes

/// The index into the concatenated output of every sample's target, offset_k + map_k(c_b) ([B], int64): the
/// one-hot of this index is the thesis's concatenated target (the selected task's labels, zeros for the others).
let concatenatedLabels (tasks: LabelMap[]) (task: int) (classes: Tensor) : Tensor =
    use labels = taskLabels tasks task classes
    labels + int64 (offsets tasks).[task]

/// Task k's slice of the concatenated output [T; B; Σ labels] → [T; B; labels_k]; evaluation reads only this slice.
let slice (tasks: LabelMap[]) (task: int) (outputs: Tensor) : Tensor =
    checkTask tasks task
    if isNull (box outputs) || outputs.dim () <> 3 then invalidArg "outputs" "must be time-first [T; B; C]"
    let total = totalLabels tasks
    if outputs.shape.[2] <> int64 total then invalidArg "outputs" $"has {outputs.shape.[2]} outputs for {total} concatenated labels"
    outputs.narrow (2L, int64 (offsets tasks).[task], int64 tasks.[task].LabelCount)

/// The task of every batch of an epoch: `batches` draws, uniform over `tasks` tasks, from a seeded generator
/// (thesis 4.2.3: "before each batch ... a task is selected randomly").
let drawTasks (seed: int) (tasks: int) (batches: int) : int[] =
    if tasks <= 0 then invalidArg "tasks" $"must be > 0, got {tasks}"
    if batches < 0 then invalidArg "batches" $"must be >= 0, got {batches}"
    let rng = Random seed
    Array.init batches (fun _ -> rng.Next tasks)
