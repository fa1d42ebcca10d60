/// Auxiliary tasks of auxiliary learning (AL-SNN, thesis ch. 3) as label maps: every class of the main task is
/// mapped to a label of the auxiliary task, so an auxiliary target is computed from the main label alone and no
/// extra annotation is needed. A map is valid when it maps every main class (one entry per class) and its labels
/// are contiguous, 0 .. K-1 with every label used, so that an auxiliary classifier with K outputs fits it.
[<RequireQualifiedAccess>]
module Snn.AuxiliaryTasks

open System
open TorchSharp
open Snn.Tensors

/// A validated map from groups of main classes: group g holds the classes that get auxiliary label g. Every class
/// 0 .. mainClasses-1 must appear in exactly one group.
let ofGroups (name: string) (mainClasses: int) (groups: int[][]) : LabelMap =
    if isNull groups then nullArg "groups"
    if mainClasses < 2 then invalidArg "mainClasses" $"must be >= 2, got {mainClasses}"
    let labels = Array.create mainClasses -1
    groups |> Array.iteri (fun g members ->
        if isNull members || members.Length = 0 then invalidArg "groups" $"auxiliary task '{name}': group {g} is empty"
        for c in members do
            if c < 0 || c >= mainClasses then invalidArg "groups" $"auxiliary task '{name}': group {g} holds class {c}, outside [0, {mainClasses})"
            if labels.[c] >= 0 then invalidArg "groups" $"auxiliary task '{name}': class {c} is in group {labels.[c]} and in group {g}"
            labels.[c] <- g)
    match Array.tryFindIndex (fun l -> l < 0) labels with
    | Some c -> invalidArg "groups" $"auxiliary task '{name}': class {c} is in no group; every main class needs an auxiliary label"
    | None -> LabelMap.ofLabels name labels

/// A map from named groups of class names (e.g. "tops" = ["T-shirt/top"; "Pullover"; ...]), resolved against the
/// main task's class names; every class must be named in exactly one group.
let ofNamedGroups (name: string) (classNames: string[]) (groups: (string * string list) list) : LabelMap =
    if isNull classNames then nullArg "classNames"
    let index (className: string) =
        match Array.tryFindIndex ((=) className) classNames with
        | Some i -> i
        | None ->
            let known = String.Join (", ", classNames)
            invalidArg "groups" $"auxiliary task '{name}': '{className}' is not a class of the main task ({known})"
    ofGroups name classNames.Length (groups |> List.map (fun (_, members) -> members |> List.map index |> Array.ofList) |> Array.ofList)

/// The identity map (thesis A1: a duplicate of the main task).
let duplicate (name: string) (mainClasses: int) : LabelMap = LabelMap.ofLabels name (Array.init mainClasses id)

/// A random grouping of the main classes into `labels` auxiliary labels, reproducible by `seed` (thesis A4, "a
/// randomly generated four-label classification"): class c gets label perm(c) mod `labels` for a seeded permutation
/// of the classes, so every label is used and the groups differ in size by at most one. Note that this is a random
/// *class* grouping (constant per class), not random per-sample noise.
let random (name: string) (mainClasses: int) (labels: int) (seed: int) : LabelMap =
    if labels < 2 || labels > mainClasses then invalidArg "labels" $"must lie in [2, {mainClasses}], got {labels}"
    let order = Snn.Data.Dataset.shuffle seed mainClasses
    LabelMap.ofLabels name (order |> Array.map (fun p -> p % labels))

/// The thesis's auxiliary tasks for CIFAR10-DVS (table 3). Classes: airplane, automobile, bird, cat, deer, dog,
/// frog, horse, ship, truck.
[<RequireQualifiedAccess>]
module Cifar10Dvs =
    /// A1: a duplicate of the main task (10 labels).
    let a1 = duplicate "A1" 10
    /// A2: non-living (0) vs living (1).
    let a2 = LabelMap.ofLabels "A2" [| 0; 0; 1; 1; 1; 1; 1; 1; 0; 0 |]
    /// A3: morphological groups (6 labels), e.g. deer and horse share group 4, cat and dog group 3.
    let a3 = LabelMap.ofLabels "A3" [| 0; 1; 2; 3; 4; 3; 5; 4; 0; 1 |]
    /// A4: a random four-label grouping (seeded).
    let a4 (seed: int) = random "A4" 10 4 seed

/// The thesis's auxiliary tasks for DVS128 Gesture (table 3). Classes: hand clapping, right hand wave, left hand
/// wave, right arm clockwise, right arm counter-clockwise, left arm clockwise, left arm counter-clockwise, arm roll,
/// air drums, air guitar, other gestures.
[<RequireQualifiedAccess>]
module DvsGesture =
    /// A1: a duplicate of the main task (11 labels).
    let a1 = duplicate "A1" 11
    /// A2: a categorisation by motion (6 labels).
    let a2 = LabelMap.ofLabels "A2" [| 1; 3; 2; 3; 3; 2; 2; 0; 0; 4; 5 |]
    /// A3: a categorisation by morphology (5 labels).
    let a3 = LabelMap.ofLabels "A3" [| 0; 1; 2; 1; 1; 2; 2; 0; 0; 3; 4 |]
    /// A4: a random four-label grouping (seeded).
    let a4 (seed: int) = random "A4" 11 4 seed

/// User-defined auxiliary tasks for Fashion-MNIST (classes as in `Data.ImageSets.fashionClassNames`), built the way
/// the thesis built A1-A3: a duplicate, an abstract binary split, and groups of similar-looking classes.
[<RequireQualifiedAccess>]
module FashionMnist =
    let private names =
        [| "T-shirt/top"; "Trouser"; "Pullover"; "Dress"; "Coat"; "Sandal"; "Shirt"; "Sneaker"; "Bag"; "Ankle boot" |]
    /// A1: a duplicate of the main task (10 labels).
    let a1 = duplicate "A1" 10
    /// A2: garments (0) vs accessories (1), an abstract split like the thesis's living / non-living.
    let a2 =
        ofNamedGroups "A2" names
            [ "garments", [ "T-shirt/top"; "Trouser"; "Pullover"; "Dress"; "Coat"; "Shirt" ]
              "accessories", [ "Sandal"; "Sneaker"; "Bag"; "Ankle boot" ] ]
    /// A3: tops (upper-body garments and dresses) / bottoms / footwear / bags, groups of similar shape.
    let a3 =
        ofNamedGroups "A3" names
            [ "tops", [ "T-shirt/top"; "Pullover"; "Dress"; "Coat"; "Shirt" ]
              "bottoms", [ "Trouser" ]
              "footwear", [ "Sandal"; "Sneaker"; "Ankle boot" ]
              "bags", [ "Bag" ] ]
    /// A4: a random four-label grouping (seeded).
    let a4 (seed: int) = random "A4" 10 4 seed

/// Auxiliary tasks for handwritten digits (EventMnist, N-MNIST; classes 0-9), built the way the thesis built A1-A3.
[<RequireQualifiedAccess>]
module Digits =
    /// A1: a duplicate of the main task (10 labels).
    let a1 = duplicate "A1" 10
    /// A2: even (0) vs odd (1), the abstract binary split (also TM-SNN's second task).
    let a2 = LabelMap.ofLabels "A2" [| 0; 1; 0; 1; 0; 1; 0; 1; 0; 1 |]
    /// A3: digits of similar strokes: closed loops (0, 6, 8, 9), straight strokes (1, 4, 7), open curves (2, 3, 5).
    let a3 = LabelMap.ofLabels "A3" [| 0; 1; 2; 2; 1; 2; 0; 1; 0; 0 |]
    /// A4: a random four-label grouping (seeded).
    let a4 (seed: int) = random "A4" 10 4 seed

/// Auxiliary tasks for the synthetic `Data.MovingPatterns` set (classes: eight translation directions right,
/// up-right, up, up-left, left, down-left, down, down-right, then clockwise and counter-clockwise rotation).
[<RequireQualifiedAccess>]
module MovingPatterns =
    /// A1: a duplicate of the main task (10 labels).
    let a1 = duplicate "A1" 10
    /// A2: translation (0) vs rotation (1), the abstract binary split.
    let a2 = LabelMap.ofLabels "A2" [| 0; 0; 0; 0; 0; 0; 0; 0; 1; 1 |]
    /// A3: the axis of motion (5 labels): horizontal (right, left), rising diagonal (up-right, down-left), vertical
    /// (up, down), falling diagonal (up-left, down-right), rotation; opposite directions share a group, as
    /// similar-looking classes do in the thesis's A3.
    let a3 = LabelMap.ofLabels "A3" [| 0; 1; 2; 3; 0; 1; 2; 3; 4; 4 |]
    /// A4: a random four-label grouping (seeded).
    let a4 (seed: int) = random "A4" 10 4 seed
