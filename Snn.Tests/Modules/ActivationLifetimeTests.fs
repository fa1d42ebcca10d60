/// Intermediate activations and gradients go back to the allocator when the step no longer needs them, not when the
/// step's dispose scope ends (what the scope still holds is counted), and gradients do not change.
module Snn.Tests.ActivationLifetimeTests

open Expecto
open TorchSharp
open Snn
open Snn.Modules
open Snn.Neurons
open Snn.Tests.Assertions

type private Tensor = torch.Tensor

/// Live tensors a dispose scope holds and their bytes.
let private held (scope: DisposeScope) =
    let live = scope.DisposablesView |> Seq.choose (function :? Tensor as t when not t.IsInvalid -> Some t | _ -> None) |> Array.ofSeq
    live.Length, live |> Array.sumBy (fun t -> t.numel () * t.ElementSize)

let private network () =
    torch.manual_seed 3L |> ignore
    new SpikingSequential("net", [|
        torch.nn.Conv2d (2L, 4L, 3L, padding = 1L) :> torch.nn.Module<Tensor, Tensor>
        torch.nn.BatchNorm2d 4L
        new LifLayer("lif", { LifParameters.Default with TauMem = 2.0 }, Fused)
        new MaxPool2x2Layer("pool")
        torch.nn.Flatten ()
        new TimeDistributed("fc", torch.nn.Linear (4L * 4L * 4L, 3L))
        new LifLayer("out", { LifParameters.Default with TauMem = 2.0 }, Fused) |])

let tests =
    testList "Activation lifetime" [
        test "after a forward pass the step's scope holds the output, not every layer's activations" {
            use net = network ()
            use x = torch.rand ([| 5L; 2L; 2L; 8L; 8L |]) * 3.0
            use scope = torch.NewDisposeScope ()
            let y = net.forward x
            let count, bytes = held scope
            // Left: the output [5; 2; 3] and the potentials both LIF layers keep for the backward pass, [5; 2; 4; 8; 8]
            // and [5; 2; 3] (120 + 10240 + 120 bytes). Each further activation of the first block would add 10240.
            Expect.equal (count, bytes) (3, 10480L) "output and kept potentials only"
            Expect.isFalse y.IsInvalid "the output is alive"
        }
        test "after a graph-freeing backward pass nothing of the step is left but loss, output and gradients" {
            use net = network ()
            use x = torch.rand ([| 5L; 2L; 2L; 8L; 8L |]) * 3.0
            use scope = torch.NewDisposeScope ()
            let loss = (net.forward x).sum ()
            Diff.backward loss
            let count, bytes = held scope
            Expect.isLessThan bytes 4000L $"{count} live tensors of {bytes} bytes after the backward pass"
        }
        test "a retained graph still differentiates twice through the fused LIF and pooling, with equal gradients" {
            use net = network ()
            use x = torch.rand ([| 5L; 2L; 2L; 8L; 8L |]) * 3.0
            use scope = torch.NewDisposeScope ()
            let loss = (net.forward x).pow(2.0.ToScalar ()).sum ()
            let weight = net.parameters () |> Seq.head
            let first = Diff.gradients [| loss |] None [| weight |] true false
            let second = Diff.gradients [| loss |] None [| weight |] false false
            allClose 0.0 (values first.[0]) (values second.[0]) "same gradient from the retained graph"
        }
        test "the fused LIF's forward pass leaves its output and kept potentials, without TorchSharp's output-sized cache" {
            Expect.isTrue Tensors.FunctionHandles.canShrinkOutputCache "TorchSharp has the output cache that Snn shrinks"
            use x = (torch.rand ([| 6L; 3L; 50L |]) * 3.0).requires_grad_ true
            use scope = torch.NewDisposeScope ()
            let spikes = Dynamics.lif Fused { LifParameters.Default with TauMem = 2.0 } x
            let _, bytes = held scope
            // spikes and h are 3600 bytes each; the cache would add another 3600.
            Expect.equal bytes (2L * 3600L) "spikes and potentials only"
            Diff.backward (spikes.sum ())
            Expect.isNotNull (box x.grad) "the gradient arrived"
        }
    ]
