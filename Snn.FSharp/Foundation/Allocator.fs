/// The process's memory-allocator policy for training loops.
///
/// glibc returns freed blocks over 32 MB to the system and maps them again on the next allocation; on the virtual
/// machines this project runs on, touching freshly mapped memory costs about 1.5 ms per MB, so a training step that
/// allocates a few hundred MB of activations pays more for page faults than for arithmetic (docs/performance.md).
/// Keeping freed memory in the process (the effect of MALLOC_MMAP_MAX_=0 and a huge MALLOC_TRIM_THRESHOLD_) removes
/// that cost at the price of a resident set that does not shrink between steps; turning glibc's small-block caches
/// off (`smallBlockTunables`) keeps that resident set close to what a step needs.
[<RequireQualifiedAccess>]
module Snn.Allocator

open System
open System.Runtime.InteropServices

module private Native =
    [<DllImport("libc", EntryPoint = "mallopt")>]
    extern int mallopt(int parameter, int value)

    [<DllImport("libc", EntryPoint = "gnu_get_libc_version")>]
    extern nativeint gnu_get_libc_version()

    /// Replaces the process image; returns only on failure. `argv` and `envp` end with a null element.
    [<DllImport("libc", EntryPoint = "execve", SetLastError = true)>]
    extern int execve(string path, string[] argv, string[] envp)

/// glibc's M_TRIM_THRESHOLD and M_MMAP_MAX parameter numbers (malloc.h).
let private trimThreshold, mmapMax = -1, -4

/// Keeps freed heap memory in the process (no mmap for large blocks, no trimming); returns whether the C library
/// accepted it (false on systems without glibc, where nothing changes).
let keepFreedMemory () : bool =
    if not (OperatingSystem.IsLinux ()) then false
    else
        try Native.mallopt (mmapMax, 0) = 1 && Native.mallopt (trimThreshold, Int32.MaxValue) = 1
        with :? DllNotFoundException | :? EntryPointNotFoundException -> false

/// The glibc tunables that keep small freed blocks from pinning the large ones apart: no per-thread cache of
/// freed small blocks (tcache) and no fast bins, so a freed small block merges with its free neighbours at once.
///
/// Why: a training step allocates a few large activations among thousands of small blocks (tensor headers, autograd
/// nodes). Cached small blocks count as in use, so each one left between two freed activations splits their space,
/// the next step's activations no longer fit and the heap grows at the top. W2's step needs about 300 MB of heap at
/// its peak, yet its heap grew to 1.1-1.4 GB with the caches and to 0.7-0.8 GB without them (bench `memory w2 12`;
/// peak resident memory of the timed benchmark 1253-1441 MB against 753-1095 MB; bench/RESULTS.md, round 8). glibc
/// reads tunables only when a process starts, so `restartTuned` re-executes the process with them.
let smallBlockTunables : (string * string) list = [ "glibc.malloc.tcache_count", "0"; "glibc.malloc.mxfast", "0" ]

/// The GLIBC_TUNABLES value that adds `smallBlockTunables` to `existing` (null or empty when unset), keeping every
/// setting already there (also the user's own value of one of ours); None when nothing needs adding.
let withSmallBlockTunables (existing: string) : string option =
    let settings = if String.IsNullOrWhiteSpace existing then [||] else existing.Split (':', StringSplitOptions.RemoveEmptyEntries)
    let present = settings |> Array.map (fun s -> s.Split('=').[0].Trim ()) |> Set.ofArray
    match smallBlockTunables |> List.filter (fun (name, _) -> not (present.Contains name)) with
    | [] -> None
    | missing -> Some (String.Join (":", Array.append settings [| for name, value in missing -> $"{name}={value}" |]))

/// Whether this process started with every one of `smallBlockTunables` set (to our values or the user's own).
let smallBlockTunablesSet () : bool =
    (withSmallBlockTunables (Environment.GetEnvironmentVariable "GLIBC_TUNABLES")).IsNone

/// Whether the C library is glibc (which reads GLIBC_TUNABLES).
let private isGlibc () : bool =
    OperatingSystem.IsLinux ()
    && (try Native.gnu_get_libc_version () <> 0n with :? DllNotFoundException | :? EntryPointNotFoundException -> false)

/// The environment variable that sets the width of `System.Numerics.Vector<T>`, which the runtime reads only at start.
let vectorWidthVariable = "DOTNET_MaxVectorTBitWidth"

/// The Vector<T> width setting to add for 512-bit vectors where the CPU runs them (AVX-512) and the runtime gives
/// Vector<T> fewer bits (256 unless told otherwise); None when nothing needs adding or the variable is already set
/// (the user's own choice wins).
///
/// Why: the neuron kernels loop over `Vector<float32>`, 8 lanes by default even on AVX-512 CPUs; with 16 lanes the
/// W2 training step took 142.8 / 147.9 ms against 148.9 / 152.2 ms (bench/RESULTS.md, round 10). The results are the
/// same: the kernels' arithmetic is per lane (a 2-epoch `snn train` wrote the same weights bit for bit), and the test
/// suite passes at either width.
let wideVectorSetting () : (string * string) option =
    if Runtime.Intrinsics.Vector512.IsHardwareAccelerated && Numerics.Vector<float32>.Count < 16
       && String.IsNullOrEmpty (Environment.GetEnvironmentVariable vectorWidthVariable) then
        Some (vectorWidthVariable, "512")
    else None

/// Re-executes this process (same executable, arguments and process id) with the settings a process reads only
/// when it starts: `smallBlockTunables` added to GLIBC_TUNABLES (when `smallBlocks` and the C library is glibc) and
/// 512-bit Vector<T> (`wideVectorSetting`, when `wideVectors`). Returns false when nothing needs adding, and also
/// when the re-execution fails (the process goes on as it is). Call it first thing in an entry point, before any
/// work that must not happen twice: the arguments are read back from /proc/self/cmdline.
let restartTuned (smallBlocks: bool) (wideVectors: bool) : bool =
    let changes =
        [ if smallBlocks && isGlibc () then
            match withSmallBlockTunables (Environment.GetEnvironmentVariable "GLIBC_TUNABLES") with
            | Some tunables -> yield "GLIBC_TUNABLES", tunables
            | None -> ()
          if wideVectors && OperatingSystem.IsLinux () then
            match wideVectorSetting () with
            | Some setting -> yield setting
            | None -> () ]
    if changes.IsEmpty then false
    else
        let cmdline = "/proc/self/cmdline"
        let arguments =
            try
                if IO.File.Exists cmdline then (Text.Encoding.UTF8.GetString (IO.File.ReadAllBytes cmdline)).Split ('\000') else [||]
            with :? IO.IOException | :? UnauthorizedAccessException -> [||]
        // The file ends with a NUL, so the split leaves one empty string at the end.
        let arguments = if arguments.Length > 0 && arguments.[arguments.Length - 1] = "" then arguments.[.. arguments.Length - 2] else arguments
        let path = Environment.ProcessPath
        if arguments.Length = 0 || String.IsNullOrEmpty path then false
        else
            let changed = changes |> List.map fst |> Set.ofList
            let environment =
                [| for entry in Environment.GetEnvironmentVariables () |> Seq.cast<Collections.DictionaryEntry> do
                     if not (changed.Contains (string entry.Key)) then yield $"{entry.Key}={entry.Value}"
                   for name, value in changes do yield $"{name}={value}"
                   yield null |]
            Console.Out.Flush ()
            Console.Error.Flush ()
            Native.execve (path, Array.append arguments [| null |], environment) |> ignore
            false

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
