/// Timing and memory measurement for the benchmarks: median / min / max of per-step wall time after warm-up,
/// and the process's peak resident memory.
module Snn.Bench.Measure

open System
open System.Diagnostics
open System.IO

/// Per-step timings in milliseconds.
type Timing = { Median: float; Min: float; Max: float; Steps: int }

/// Runs `step` `warmup` times untimed, then `steps` times timed.
let time (warmup: int) (steps: int) (step: unit -> unit) : Timing =
    for _ in 1 .. warmup do step ()
    let samples =
        Array.init steps (fun _ ->
            let clock = Stopwatch.StartNew ()
            step ()
            clock.Elapsed.TotalMilliseconds)
    let sorted = Array.sort samples
    { Median = sorted.[steps / 2]; Min = sorted.[0]; Max = sorted.[steps - 1]; Steps = steps }

/// Peak resident set size of this process in MB (VmHWM of /proc/self/status), when the system reports it.
let peakResidentMb () : float option =
    let status = "/proc/self/status"
    if File.Exists status then
        File.ReadLines status
        |> Seq.tryFind (fun line -> line.StartsWith "VmHWM:")
        // "VmHWM:\t  417000 kB": split on tabs and spaces (large values leave no space after the tab).
        |> Option.map (fun line -> float (line.Split ([| ' '; '\t' |], StringSplitOptions.RemoveEmptyEntries)).[1] / 1024.0)
    else None
