/// The one class → label map of Snn: a classification task over a dataset's classes, given by the label of every
/// class. AL-SNN's auxiliary tasks (thesis ch. 3, `AuxiliaryTasks`) and TM-SNN's tasks (ch. 4, `MultiTask`) are both
/// such maps, so a target of any task is computed from the dataset's class alone and needs no extra annotation.
/// Label tensors are [B] vectors of int64 class indices.
namespace Snn

open System
open TorchSharp
open Snn.Tensors

/// A task over a dataset's classes: `ClassToLabel.[c]` is the label of class c.
type LabelMap =
    { /// Short name for tables and reports (e.g. "odd/even", "A2").
      Name: string
      /// Names of the task's labels, indexed by label.
      LabelNames: string[]
      /// The label of every dataset class, in [0, LabelNames.Length).
      ClassToLabel: int[] }

    /// K, the number of the task's labels (the outputs of its classifier).
    member m.LabelCount = m.LabelNames.Length

    /// The number of dataset classes the map covers.
    member m.ClassCount = m.ClassToLabel.Length

/// Construction, checks and application of label maps.
[<RequireQualifiedAccess>]
module LabelMap =
    /// Checks the map against a dataset of `classes` classes: one label per class, at least two labels, every label
    /// in [0, K) and used by some class (a classifier with K outputs fits it, and no output is dead). Raises
    /// ArgumentException naming the map and the offending class or label; returns the map.
    let validate (classes: int) (map: LabelMap) : LabelMap =
        if isNull (box map) then nullArg "map"
        if classes < 2 then invalidArg "classes" $"must be >= 2, got {classes}"
        if String.IsNullOrWhiteSpace map.Name then invalidArg "map" "has no name"
        if isNull map.ClassToLabel || map.ClassToLabel.Length <> classes then
            invalidArg "map" $"task '{map.Name}' maps {(if isNull map.ClassToLabel then 0 else map.ClassToLabel.Length)} classes, the dataset has {classes}: every class needs exactly one label"
        if isNull map.LabelNames || map.LabelNames.Length < 2 then
            invalidArg "map" $"task '{map.Name}' has a single label; a task needs at least two"
        map.ClassToLabel |> Array.iteri (fun c l ->
            if l < 0 || l >= map.LabelCount then invalidArg "map" $"task '{map.Name}' maps class {c} to label {l}, outside [0, {map.LabelCount})")
        let used = Array.zeroCreate<bool> map.LabelCount
        for l in map.ClassToLabel do used.[l] <- true
        match Array.tryFindIndex not used with
        | Some missing -> invalidArg "map" $"task '{map.Name}' has {map.LabelCount} labels but no class maps to {missing}; labels must be contiguous 0..K-1"
        | None -> map

    /// A validated map from `classToLabel.[c]` with labels named "0" .. "K-1".
    let ofLabels (name: string) (classToLabel: int[]) : LabelMap =
        if isNull classToLabel then nullArg "classToLabel"
        let k = if classToLabel.Length = 0 then 0 else Array.max classToLabel + 1
        validate classToLabel.Length { Name = name; LabelNames = Array.init (max 0 k) string; ClassToLabel = Array.copy classToLabel }

    /// A validated map from a function of the class index, with the given label names.
    let ofFunction (name: string) (labelNames: string[]) (classes: int) (f: int -> int) : LabelMap =
        validate classes { Name = name; LabelNames = labelNames; ClassToLabel = Array.init classes f }

    /// The identity map: the dataset's own classes, with their names.
    let identity (name: string) (classNames: string[]) : LabelMap =
        if isNull classNames then nullArg "classNames"
        validate classNames.Length { Name = name; LabelNames = Array.copy classNames; ClassToLabel = Array.init classNames.Length id }

    /// Task labels [B] (int64) of dataset classes [B] (int64 class indices in [0, ClassCount)): y_b = map(c_b).
    let apply (map: LabelMap) (classes: Tensor) : Tensor =
        if isNull (box classes) then nullArg "classes"
        if classes.dim () <> 1L || classes.dtype <> torch.int64 then
            invalidArg "classes" $"must be an int64 vector of class indices, got {classes.dtype} of shape %A{classes.shape}"
        if holdsValues classes then
            match toInt64Array classes |> Array.tryFindIndex (fun v -> v < 0L || v >= int64 map.ClassCount) with
            | Some i -> invalidArg "classes" $"entry {i} is class {(toInt64Array classes).[i]}, outside the {map.ClassCount} classes of task '{map.Name}'"
            | None -> ()
        use table = torch.tensor (map.ClassToLabel |> Array.map int64, device = classes.device)
        // gather of a vector is index_select; unlike index_select it also runs on the meta device (shapes only).
        table.gather (0L, classes)
