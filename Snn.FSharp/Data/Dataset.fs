/// A small dataset API over samples that integrate to frame stacks: seeded shuffling, a random train/validation
/// split, batching into time-first tensors with padding and masks for samples of different length, and
/// background prefetching.
namespace Snn.Data

open System
open System.Collections.Concurrent
open System.Threading
open System.Threading.Tasks
open TorchSharp
open Snn.Tensors

/// One batch, time first.
type Batch =
    { /// Inputs [T; B; ...]: sample b's frames in [0, T_b), zeros after (T = the longest sample of the batch).
      Inputs: Tensor
      /// Class labels [B] (int64).
      Labels: Tensor
      /// [T; B] booleans: true where the step is real data, false where it is padding.
      Mask: Tensor
      /// The dataset index of each sample of the batch.
      Indices: int[] }

/// A labelled split: the number of samples and a loader from index to (frames [T_i; ...], class label).
[<NoEquality; NoComparison>]
type LabelledSplit =
    { /// Samples in the split.
      Count: int
      /// Loads sample i (0 ≤ i < Count): its frames, time first, and its class.
      Load: int -> FrameStack * int }

/// Shuffling, splitting, batching and prefetching.
[<RequireQualifiedAccess>]
module Dataset =

    /// Time-first batch of samples held in one tensor: samples [N; T; ...] at `indices` → [T; B; ...].
    let batchOf (samples: Tensor) (indices: int64[]) : Tensor =
        use index = torch.tensor indices
        samples.index_select(0L, index).transpose (0L, 1L)

    /// The indices 0..count−1 in a random order determined by `seed`: `Random(seed).Shuffle` (Fisher–Yates). The
    /// one seeded shuffle of Snn: training epochs (`Trainer.epochOrder`, seed + epoch), held-out splits and dataset
    /// splits all draw their orders from it, so a resumed run reproduces them.
    let shuffle (seed: int) (count: int) : int[] =
        if count < 0 then invalidArg "count" $"must be >= 0, got {count}"
        let order = Array.init count id
        Random(seed).Shuffle order
        order

    /// Splits the indices 0..count−1 of a training set into (train, validation), the validation part being a
    /// random `fraction` of them (rounded, at least one when fraction > 0 and count > 1) chosen by `seed`; both parts
    /// are returned in ascending order. The usual choice is 0.1.
    let trainValidationSplit (seed: int) (fraction: float) (count: int) : int[] * int[] =
        if not (fraction >= 0.0 && fraction < 1.0) then invalidArg "fraction" $"must be in [0, 1), got {fraction}"
        let order = shuffle seed count
        let held = if fraction = 0.0 || count < 2 then 0 else max 1 (int (Math.Round (fraction * float count)))
        Array.sort order.[held ..], Array.sort order.[.. held - 1]

    /// Stacks samples of shape [T_b; ...] (equal trailing dimensions) into a time-first batch: inputs
    /// [max T_b; B; ...] zero-padded at the end of time, and the [max T_b; B] mask of real steps.
    let pad (stacks: FrameStack[]) : Tensor * Tensor =
        if stacks.Length = 0 then invalidArg "stacks" "needs at least one sample"
        let tail = stacks.[0].Shape.[1 ..]
        for s in stacks do
            if s.Shape.[1 ..] <> tail then invalidArg "stacks" $"trailing shapes differ: %A{tail} and %A{s.Shape.[1 ..]}"
        let step = tail |> Array.fold (fun acc d -> acc * int d) 1
        let b = stacks.Length
        let longest = stacks |> Array.map (fun s -> s.Frames) |> Array.max
        let data = Array.zeroCreate<float32> (longest * b * step)
        let mask = Array.zeroCreate<bool> (longest * b)
        stacks |> Array.iteri (fun j s ->
            for t in 0 .. s.Frames - 1 do
                Array.blit s.Data (t * step) data ((t * b + j) * step) step
                mask.[t * b + j] <- true)
        let inputs = torch.tensor(data).reshape (Array.append [| int64 longest; int64 b |] tail)
        let maskTensor = torch.tensor(mask).reshape ([| int64 longest; int64 b |])
        inputs, maskTensor

    /// Batches of `batchSize` samples (the last may be smaller) in the order of `indices`; `load i` gives the frames
    /// and label of sample i. Lazy: a batch is loaded when it is enumerated.
    let batches (batchSize: int) (load: int -> FrameStack * int) (indices: int[]) : seq<Batch> =
        if batchSize <= 0 then invalidArg "batchSize" $"must be > 0, got {batchSize}"
        indices
        |> Seq.chunkBySize batchSize
        |> Seq.map (fun chunk ->
            let loaded = chunk |> Array.map load
            let inputs, mask = pad (loaded |> Array.map fst)
            { Inputs = inputs; Labels = torch.tensor (loaded |> Array.map (snd >> int64)); Mask = mask; Indices = chunk })

    /// The generic prefetcher behind `prefetch`.
    let internal prefetchAny (depth: int) (source: seq<'T>) : seq<'T> =
        if depth <= 0 then invalidArg "depth" $"must be > 0, got {depth}"
        seq {
            use queue = new BlockingCollection<Choice<'T, exn>> (depth)
            use cancel = new CancellationTokenSource ()
            let producer =
                Task.Run (fun () ->
                    try
                        try
                            for item in source do
                                queue.Add (Choice1Of2 item, cancel.Token)
                        with
                        | :? OperationCanceledException -> ()
                        | e -> (try queue.Add (Choice2Of2 e, cancel.Token) with _ -> ())
                    finally
                        queue.CompleteAdding ())
            try
                for item in queue.GetConsumingEnumerable () do
                    match item with
                    | Choice1Of2 value -> yield value
                    | Choice2Of2 e -> raise (AggregateException ("the prefetched source failed", e))
            finally
                cancel.Cancel ()
                try producer.Wait () with _ -> ()
        }

    /// Enumerates `batches` on a background task, keeping up to `depth` batches ready, so that loading the next batch
    /// overlaps with training on the current one. Exceptions of the source are rethrown to the consumer (wrapped in
    /// an AggregateException); leaving the enumeration early stops the background task.
    let prefetch (depth: int) (batches: seq<Batch>) : seq<Batch> = prefetchAny depth batches

    /// A split of samples [N; T; ...] and labels [N] held in tensors, as a loader (for sets already in memory).
    let ofTensors (samples: Tensor) (labels: Tensor) : LabelledSplit =
        if isNull (box samples) then nullArg "samples"
        if isNull (box labels) then nullArg "labels"
        if samples.shape.[0] <> labels.shape.[0] then invalidArg "labels" $"has {labels.shape.[0]} entries for {samples.shape.[0]} samples"
        let classes = toInt64Array labels
        { Count = int samples.shape.[0]
          Load = fun i ->
            use sample = samples.[int64 i].``to``(torch.float32).contiguous ()
            { Shape = sample.shape; Data = sample.data<float32>().ToArray () }, int classes.[i] }

    /// Samples [N; T; ...] (float32) and labels [N] (int64) from row-major values and the shape [N; T; ...]. Raises
    /// ArgumentException naming `shape`, `values` or `labels` when they disagree (too few dimensions, a size below 1,
    /// a value count other than the shape's product, a label count other than N, a negative label).
    let ofArrays (values: float32[]) (shape: int[]) (labels: int64[]) : Tensor * Tensor =
        if isNull values then nullArg "values"
        if isNull shape then nullArg "shape"
        if isNull labels then nullArg "labels"
        let described = shape |> Array.map string |> String.concat ", "
        if shape.Length < 3 then invalidArg "shape" $"must be [N, T, features...] (at least 3 sizes), got [{described}]"
        shape |> Array.iteri (fun i d -> if d <= 0 then invalidArg "shape" $"size {i} of [{described}] is {d}; every size must be > 0")
        let count = shape |> Array.fold (fun acc d -> acc * int64 d) 1L
        if int64 values.Length <> count then
            invalidArg "values" $"holds {values.Length} values, but shape [{described}] needs {count}"
        if labels.Length <> shape.[0] then invalidArg "labels" $"holds {labels.Length} labels for {shape.[0]} samples"
        labels |> Array.iteri (fun i l -> if l < 0L then invalidArg "labels" $"labels[{i}] is {l}; class indices must be >= 0")
        (torch.tensor values).reshape (shape |> Array.map int64), torch.tensor labels
