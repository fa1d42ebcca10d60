/// Where the fused kernels run their work items: libtorch's OpenMP team (or .NET's thread pool), every item once,
/// exceptions back on the caller, and the same bits either way.
module Snn.Tests.WorkersTests

open System
open System.IO
open System.Threading
open Expecto
open TorchSharp
open Snn
open Snn.Modules
open Snn.Neurons
open Snn.Tests.Assertions

/// Runs `body` with the kernels on libtorch's OpenMP team or on .NET's thread pool, restoring the switch.
let private withTeam (team: bool) (body: unit -> 'a) : 'a =
    let before = FusedKernelSettings.OpenMpTeam
    FusedKernelSettings.OpenMpTeam <- team
    try body () finally FusedKernelSettings.OpenMpTeam <- before

/// Spikes and input gradient of a LIF layer over 5003 neurons (two work items), and the weight gradient of a
/// sparse SpikeLinear over 301 → 300 (several items, transposed output).
let private kernelResults () =
    torch.manual_seed 21L |> ignore
    let x = (torch.rand ([| 12L; 5003L |]) * 2.5f - 0.3f).requires_grad_ true
    let p = { LifParameters.Default with TauMem = 2.0; Surrogate = ATan 2.0; Scheme = ForwardEuler }
    let z = Dynamics.lif Fused p x
    Diff.backward ((z * torch.linspace (-1.0, 1.0, 5003L)).sum ())
    let linear = new SpikeLinear("fc", 301, 300, { SpikeLinearOptions.Dense with Sparse = true; SparseActivityThreshold = 1.0 })
    let spikes = torch.bernoulli (torch.zeros ([| 240L; 301L |]) + 0.1)
    Diff.backward ((linear.forward spikes * torch.linspace (-1.0, 1.0, 300L)).sum ())
    Expect.isTrue linear.LastCallSparse "the sparse path ran"
    values z, values x.grad, values linear.Weight.grad

let tests =
    testSequenced <| testList "Workers" [
        test "every item runs once, in parallel over the intra-op threads" {
            for items in [ 0; 1; 2; 7; 1000 ] do
                let counts = Array.zeroCreate<int> items
                Workers.forEach items (fun i -> Interlocked.Increment &counts.[i] |> ignore)
                Expect.isTrue (counts |> Array.forall ((=) 1)) $"{items} items: each ran exactly once"
        }
        test "an item's exception reaches the caller after the other items ran" {
            let ran = ref 0
            let run () =
                Workers.forEach 64 (fun i ->
                    Interlocked.Increment ran |> ignore
                    if i = 5 then invalidOp "item 5 failed")
            let e = Expect.throwsC run id
            Expect.equal e.Message "item 5 failed" "the item's own exception"
            Expect.equal ran.Value 64 "the other items still ran"
        }
        test "the items run on libtorch's OpenMP team wherever libtorch brought libgomp" {
            torch.get_num_threads () |> ignore
            let libgomp =
                File.Exists "/proc/self/maps"
                && File.ReadLines "/proc/self/maps" |> Seq.exists (fun line -> line.Contains "/libgomp")
            Expect.equal (withTeam true Workers.onOpenMpTeam) libgomp "on the team exactly when libgomp is loaded"
            Expect.isFalse (withTeam false Workers.onOpenMpTeam) "the switch turns it off"
        }
        test "the OpenMP team and .NET's thread pool give the same bits" {
            // Each output is computed by one work item in a fixed order, whichever thread runs it.
            let zTeam, gTeam, wTeam = withTeam true kernelResults
            let zPool, gPool, wPool = withTeam false kernelResults
            Expect.equal zTeam zPool "spikes"
            Expect.isGreaterThan (Array.sum zTeam) 0.0 "the input makes neurons fire"
            Expect.equal gTeam gPool "LIF input gradient"
            Expect.equal wTeam wPool "sparse weight gradient"
        }
    ]
