/// The process's memory-allocator policy for training loops.
///
/// glibc returns freed blocks over 32 MB to the system and maps them again on the next allocation; on the virtual
/// machines this project runs on, touching freshly mapped memory costs about 1.5 ms per MB, so a training step that
/// allocates a few hundred MB of activations pays more for page faults than for arithmetic (docs/performance.md).
/// Keeping freed memory in the process (the effect of MALLOC_MMAP_MAX_=0 and a huge MALLOC_TRIM_THRESHOLD_) removes
/// that cost at the price of a resident set that does not shrink between steps.
[<RequireQualifiedAccess>]
module Snn.Allocator

open System
open System.Runtime.InteropServices

module private Native =
    [<DllImport("libc", EntryPoint = "mallopt")>]
    extern int mallopt(int parameter, int value)

/// glibc's M_TRIM_THRESHOLD and M_MMAP_MAX parameter numbers (malloc.h).
let private trimThreshold, mmapMax = -1, -4

/// Keeps freed heap memory in the process (no mmap for large blocks, no trimming); returns whether the C library
/// accepted it (false on systems without glibc, where nothing changes).
let keepFreedMemory () : bool =
    if not (OperatingSystem.IsLinux ()) then false
    else
        try Native.mallopt (mmapMax, 0) = 1 && Native.mallopt (trimThreshold, Int32.MaxValue) = 1
        with :? DllNotFoundException | :? EntryPointNotFoundException -> false

/// Frees the native memory of TorchSharp objects that became unreachable without being disposed (handles that only
/// their finalizers release). Call it once per training step, outside the step's dispose scope.
///
/// Why: such objects are small, but while they wait for the collector they sit in the native heap between the large
/// activation blocks of the last step; the next step's blocks then cannot reuse the freed space and the heap grows
/// by about one activation per step (bench `memory w3 200`: 17 MB per step, 3.8 GB after 200 steps, with and
/// without `keepFreedMemory`). A generation-0 collection and the finalizers it queues take them out every step.
let releaseUnreachable () : unit =
    GC.Collect 0
    GC.WaitForPendingFinalizers ()

/// Whether `Trainer` and `Inference.spikeCounts` (evaluation) call `releaseUnreachable` before every step. Off by default in the
/// library: a collection finalizes what is unreachable at that moment, and a TorchSharp scalar that another thread
/// is still passing to libtorch can be among it (seen in the parallel test run: "Unknown scalar type"). Turn it on
/// where one thread drives TorchSharp, as the `snn` process's entry point and the benchmarks do.
let mutable releaseBeforeSteps = false

/// `releaseUnreachable` when `releaseBeforeSteps` is on: the call training and evaluation loops make before a step.
let beforeStep () : unit =
    if releaseBeforeSteps then releaseUnreachable ()
