/// Where a workload's resident memory goes (`memory w1|w2|w3`): the process's resident and peak resident set at
/// each stage (runtime and libtorch loaded, model and batches built, after the first and after the last training
/// step), glibc's own account of the native heap (bytes in use and bytes freed but kept in the process), and the
/// tensors that the step's dispose scope holds after the forward pass and after the backward pass. Tensors held
/// there stay alive until the step ends, whether or not the backward pass needs them.
module Snn.Bench.MemoryProbe

open System
open System.IO
open System.Runtime.InteropServices
open TorchSharp
open Snn
open Snn.Bench.Workloads

type private Tensor = torch.Tensor

/// glibc's `struct mallinfo2` (malloc.h): sizes in bytes, summed over every arena.
[<Struct; StructLayout(LayoutKind.Sequential)>]
type private MallocInfo =
    val Arena: unativeint
    val OrdinaryBlocks: unativeint
    val FastBlocks: unativeint
    val MappedBlocks: unativeint
    val MappedBytes: unativeint
    val Unused: unativeint
    val FastFreeBytes: unativeint
    val InUseBytes: unativeint
    val FreeBytes: unativeint
    val TopReleasable: unativeint

module private Native =
    [<DllImport("libc", EntryPoint = "mallinfo2")>]
    extern MallocInfo mallinfo2()

/// "in use / kept free / mapped" of glibc's heap in MB, or a note when the C library has no mallinfo2.
let private heap () : string =
    try
        let m = Native.mallinfo2 ()
        let mb (v: unativeint) = float v / 1048576.0
        $"heap in use {mb m.InUseBytes:F0} MB, freed but kept {mb m.FreeBytes:F0} MB, mapped blocks {mb m.MappedBytes:F0} MB"
    with :? DllNotFoundException | :? EntryPointNotFoundException -> "heap: mallinfo2 unavailable"

/// A line of /proc/self/status in MB (VmRSS: resident now, VmHWM: peak resident).
let private status (key: string) : float =
    let path = "/proc/self/status"
    if not (File.Exists path) then nan
    else
        File.ReadLines path
        |> Seq.tryFind (fun line -> line.StartsWith (key + ":"))
        |> Option.map (fun line -> float (line.Split ([| ' '; '\t' |], StringSplitOptions.RemoveEmptyEntries)).[1] / 1024.0)
        |> Option.defaultValue nan

/// Minor page faults of this process so far (field 10 of /proc/self/stat): each is a fresh page touched.
let private minorFaults () : int64 =
    let path = "/proc/self/stat"
    if not (File.Exists path) then 0L
    else
        let text = File.ReadAllText path
        // The command name (field 2) may hold spaces; the fields after its closing parenthesis start at field 3.
        let fields = text.Substring(text.LastIndexOf ')' + 2).Split ' '
        int64 fields.[7]

let private stage (name: string) =
    let resident, peak = status "VmRSS", status "VmHWM"
    printfn $"{name,-34} resident {resident,6:F0} MB, peak {peak,6:F0} MB; {heap ()}"

/// Count and MB of the live tensors a dispose scope holds (views counted with their own size: an upper bound).
let private held (scope: DisposeScope) : string =
    let tensors =
        scope.DisposablesView
        |> Seq.choose (function :? Tensor as t when not t.IsInvalid -> Some t | _ -> None)
        |> Array.ofSeq
    let bytes = tensors |> Array.sumBy (fun t -> float (t.numel ()) * float t.ElementSize)
    $"{tensors.Length} tensors, {bytes / 1048576.0:F1} MB"

/// Runs the training step of `w` `steps` times (the benchmark runs 23: 3 warm-up and 20 timed) and reports the
/// stages of the first step, the resident set every `steps / 8` steps and the stages of the last step.
let private probe (w: Workload) (levers: Levers) (steps: int) =
    stage "runtime and libtorch loaded"
    torch.manual_seed 0L |> ignore
    use model = w.Build levers
    model.``to`` levers.Device |> ignore
    let batches = batchesOf w levers.Device
    let inputMb = batches |> Array.sumBy (fun (x, _) -> float (x.numel ()) * 4.0 / 1048576.0)
    stage $"model and 4 batches ({inputMb:F0} MB)"
    let optimizer = Training.createOptimizer Training.Adam 1e-3 model
    let step (k: int) (report: bool) =
        if levers.ReleaseUnreachable then Allocator.releaseUnreachable ()
        use scope = torch.NewDisposeScope ()
        let input, labels = batches.[k % 4]
        optimizer.zero_grad ()
        let loss = w.Loss (model.forward input) labels
        if report then stage $"step {k + 1} after forward ({held scope})"
        Diff.backward loss
        if report then stage $"step {k + 1} after backward ({held scope})"
        optimizer.step () |> ignore
        loss.ToDouble ()
    let first = step 0 true
    stage "after step 1"
    let every = max 1 (steps / 8)
    let faults = minorFaults ()
    for k in 1 .. steps - 2 do
        step k false |> ignore
        if (k + 1) % every = 0 then stage $"after step {k + 1}"
    step (steps - 1) true |> ignore
    stage $"after step {steps}"
    printfn $"minor page faults per step after the first: {float (minorFaults () - faults) / float (steps - 1):F0} ({4.0 * float (minorFaults () - faults) / 1024.0 / float (steps - 1):F1} MB of fresh pages)"
    printfn $"first loss {first:F4}"

/// Runs the probe of a named workload (w1, w2, w3) over `steps` training steps (at least 2).
let run (name: string) (levers: Levers) (steps: int) =
    match name with
    | "w1" -> probe w1 levers (max 2 steps)
    | "w2" -> probe w2 levers (max 2 steps)
    | "w3" -> probe w3 levers (max 2 steps)
    | other -> failwithf "memory: unknown workload '%s' (w1, w2, w3)" other
