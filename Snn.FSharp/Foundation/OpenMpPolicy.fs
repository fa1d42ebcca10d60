/// How libtorch's OpenMP threads wait between parallel regions.
///
/// libtorch runs its CPU operators on a GNU OpenMP team. Unless told otherwise, every team thread keeps spinning
/// for a while after a parallel region ends, waiting for the next one. Snn's fused kernels run between libtorch's
/// operators on the .NET thread pool; on a machine with few cores the spinning threads hold the cores those
/// kernels need, and the scheduler hands them over only at the end of a time slice. Telling OpenMP to sleep at
/// once (OMP_WAIT_POLICY=PASSIVE) removes that wait: on the 2-core machine of docs/performance.md, median training
/// step W1 33.3 → 29.4 ms, W3 52.2 → 45.6 ms, W2 292.9 → 277.9 ms (bench/RESULTS.md, "OpenMP wait policy").
///
/// libgomp reads the variable once, when libtorch is loaded, so the policy must be set before the first TorchSharp
/// call; a value the user exported is kept.
[<RequireQualifiedAccess>]
module Snn.OpenMpPolicy

open System
open System.IO
open System.Runtime.InteropServices

module private Native =
    [<DllImport("libc", EntryPoint = "setenv")>]
    extern int setenv(string name, string value, int overwrite)

    [<DllImport("libc", EntryPoint = "getenv")>]
    extern nativeint getenv(string name)

/// The environment variable libgomp reads.
[<Literal>]
let Variable = "OMP_WAIT_POLICY"

/// Whether libgomp is already mapped into this process (then its policy is fixed).
let private openMpLoaded () =
    try File.ReadAllText "/proc/self/maps" |> fun maps -> maps.Contains "libgomp"
    with :? IOException | :? UnauthorizedAccessException -> true

/// Sets OMP_WAIT_POLICY=PASSIVE in the process's native environment when it is unset and libtorch's OpenMP is not
/// loaded yet (Linux only). Returns the policy that will be in effect: "PASSIVE", the user's own value, or None
/// when it cannot be set (another platform, or OpenMP already loaded).
let sleepBetweenRegions () : string option =
    if not (OperatingSystem.IsLinux ()) then None
    else
        try
            let existing = Native.getenv Variable
            if existing <> 0n then Some (Marshal.PtrToStringAnsi existing)
            elif openMpLoaded () then None
            elif Native.setenv (Variable, "PASSIVE", 0) = 0 then Some "PASSIVE"
            else None
        with :? DllNotFoundException | :? EntryPointNotFoundException -> None
