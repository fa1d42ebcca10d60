/// Limits checked before anything large is allocated or handed to libtorch: a stated memory budget, thread counts
/// and sizes that must fit in int32. libtorch aborts the whole process on some bad values (a thread count of 0), and an
/// allocation of hundreds of gigabytes either fails deep inside a library or drives the machine into swapping; both
/// are refused here with one line naming the parameter.
[<RequireQualifiedAccess>]
module Snn.Limits

open System

/// One gibibyte, 2^30 bytes.
[<Literal>]
let GiB = 1073741824.0

/// The default memory budget: 8 GiB, a third of the 24 GiB machines the project runs on.
[<Literal>]
let DefaultMaxMemoryBytes = 8589934592.0

/// The memory budget in bytes that one request (a data set, a recording, a model) may take; 8 GiB unless changed
/// (`snn --max-memory GIB`).
let mutable MaxMemoryBytes = DefaultMaxMemoryBytes

/// Raises an ArgumentException naming `parameter` when `bytes` (an estimate, computed in floating point so that it
/// cannot overflow) exceed the memory budget; `what` says what would be allocated.
let checkBytes (parameter: string) (what: string) (bytes: float) : unit =
    if Double.IsNaN bytes || bytes > MaxMemoryBytes then
        invalidArg parameter $"{what} would take {bytes / GiB:F1} GiB, more than the memory budget of {MaxMemoryBytes / GiB:G3} GiB (--max-memory)"

/// `checkBytes` for `elements` elements of `bytesPerElement` bytes each.
let checkElements (parameter: string) (what: string) (elements: float) (bytesPerElement: float) : unit =
    checkBytes parameter what (elements * bytesPerElement)

/// A count converted to int32, or an ArgumentException naming `parameter` when it does not fit (libtorch and .NET
/// arrays index with int32 in many places, and a silent wrap-around would allocate a wrong, possibly huge, size).
let toInt32 (parameter: string) (value: int64) : int =
    if value < 0L || value > int64 Int32.MaxValue then invalidArg parameter $"{value} does not fit in a 32-bit count (0 to {Int32.MaxValue})"
    int value

/// Sets libtorch's intra-op thread count after checking it lies in [1, 4096]: libtorch aborts the process (it does
/// not throw) on 0 or a negative count.
let setThreads (parameter: string) (threads: int) : unit =
    if threads < 1 || threads > 4096 then invalidArg parameter $"must lie in [1, 4096], got {threads}"
    TorchSharp.torch.set_num_threads threads
