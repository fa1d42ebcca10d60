/// PyTorch state_dict files (torch.save's zip format, written here by TorchSharp.PyBridge) loaded into Snn networks
/// under the peers' key names.
module Snn.Tests.PyTorchStateDictTests

open System
open System.IO
open Expecto
open TorchSharp
open Snn
open Snn.Modules
open Snn.Neurons
open Snn.Tensors
open Snn.Tests.Assertions

let private network () = new DenseSnn(6, 4, 3, LifParameters.Default, 1.0, Fused)

/// What snnTorch's `state_dict()` holds for fc1 = Linear(6, 4), lif1 = Leaky, fc2 = Linear(4, 3), lif2 = Leaky:
/// the Linear tensors and each Leaky's beta and threshold buffers, in registration order.
let private snnTorchEntries () =
    [| "fc1.weight", torch.arange(24.0f).reshape (4L, 6L); "fc1.bias", torch.tensor [| 1.0f; 2.0f; 3.0f; 4.0f |]
       "lif1.beta", torch.tensor 0.9f; "lif1.threshold", torch.tensor 1.0f
       "fc2.weight", -torch.arange(12.0f).reshape (3L, 4L); "fc2.bias", torch.tensor [| 5.0f; 6.0f; 7.0f |]
       "lif2.beta", torch.tensor 0.9f; "lif2.threshold", torch.tensor 1.0f |]

let private parameter (m: torch.nn.Module) (key: string) = values (m.state_dict().[key])

let tests =
    testList "PyTorchStateDict" [
        test "a snnTorch state dict loads into DenseSnn layer by layer, its neuron constants set aside" {
            inTemporaryFolder (fun dir ->
                let path = Path.Combine (dir, "snntorch.pt")
                PyTorchStateDict.write path (snnTorchEntries ())
                use net = network ()
                let report = PyTorchStateDict.load net path Map.empty
                Expect.equal (parameter net "fc1.inner.weight") [| for i in 0 .. 23 -> float i |] "fc1.weight"
                Expect.equal (parameter net "fc2.inner.bias") [| 5.0; 6.0; 7.0 |] "fc2.bias"
                Expect.equal report.Loaded.[0] ("fc1.weight", "fc1.inner.weight") "pairs named"
                Expect.equal (Set.ofArray report.Ignored) (set [ "lif1.beta"; "lif1.threshold"; "lif2.beta"; "lif2.threshold" ]) "neuron constants ignored")
        }
        test "a SpikingJelly nn.Sequential state dict (0.weight, 2.weight) loads into a SpikingSequential" {
            inTemporaryFolder (fun dir ->
                let path = Path.Combine (dir, "spikingjelly.pt")
                PyTorchStateDict.write path [| "0.weight", torch.ones (4L, 6L); "0.bias", torch.zeros 4L; "2.weight", torch.ones (3L, 4L) * 2.0f; "2.bias", torch.ones 3L |]
                use net = new SpikingSequential("s", [| TimeLayers.linear "fc1" 6 4; new IfLayer("if1", IfParameters.Default); TimeLayers.linear "fc2" 4 3; new IfLayer("if2", IfParameters.Default) |])
                PyTorchStateDict.load net path Map.empty |> ignore
                Expect.equal (parameter net "2.inner.weight") (Array.create 12 2.0) "the second Linear")
        }
        test "Snn's own names load by name, and SavePyTorch's file round-trips" {
            inTemporaryFolder (fun dir ->
                let path = Path.Combine (dir, "snn.pt")
                torch.manual_seed 2L |> ignore
                use a = network ()
                PyTorchStateDict.write path [| for KeyValue (k, t) in a.state_dict () -> k, t |]
                use b = network ()
                let report = PyTorchStateDict.load b path Map.empty
                Expect.equal (report.Loaded |> Array.map fst) (report.Loaded |> Array.map snd) "by name"
                Expect.equal (b.parameters () |> Seq.map values |> Array.concat) (a.parameters () |> Seq.map values |> Array.concat) "same weights")
        }
        test "a shape mismatch or a missing layer is refused in one line naming keys and shapes, and nothing is written" {
            inTemporaryFolder (fun dir ->
                let path = Path.Combine (dir, "wrong.pt")
                let entries = snnTorchEntries () |> Array.map (fun (k, t) -> if k = "fc2.weight" then k, torch.zeros (3L, 5L) else k, t)
                PyTorchStateDict.write path entries
                use net = network ()
                let before = parameter net "fc1.inner.weight"
                let e = thrown<ArgumentException> (fun () -> PyTorchStateDict.load net path Map.empty |> ignore) "shape"
                Expect.stringContains e.Message "'fc2.weight' has shape [3, 5] but the network's 'fc2.inner.weight' has shape [3, 4]" "keys and shapes"
                Expect.isFalse (e.Message.Contains "\n") "one line"
                Expect.equal (parameter net "fc1.inner.weight") before "fc1 untouched"
                let short = Path.Combine (dir, "short.pt")
                PyTorchStateDict.write short (snnTorchEntries () |> Array.filter (fun (k, _) -> not (k.StartsWith "fc2")))
                let m = thrown<ArgumentException> (fun () -> PyTorchStateDict.load net short Map.empty |> ignore) "one layer"
                Expect.stringContains m.Message "1 layers with weights (fc1) but the network has 2 (fc1.inner, fc2.inner)" "layers named")
        }
        test "an explicit key map overrides the matching; a key it names must exist" {
            inTemporaryFolder (fun dir ->
                let path = Path.Combine (dir, "mapped.pt")
                PyTorchStateDict.write path [| "w_out", torch.ones (3L, 4L); "w_in", torch.ones (4L, 6L) |]
                use net = network ()
                let map = Map.ofList [ "w_in", "fc1.inner.weight"; "w_out", "fc2.inner.weight" ]
                PyTorchStateDict.load net path map |> ignore
                Expect.equal (parameter net "fc2.inner.weight") (Array.create 12 1.0) "w_out"
                let e = thrown<ArgumentException> (fun () -> PyTorchStateDict.load net path (Map.ofList [ "nope", "fc1.inner.weight" ]) |> ignore) "unknown key"
                Expect.stringContains e.Message "'nope'" "names it")
        }
        test "a file that is not a state dict archive is refused naming the file" {
            inTemporaryFolder (fun dir ->
                let path = Path.Combine (dir, "text.pt")
                File.WriteAllText (path, "not a zip")
                use net = network ()
                let e = thrown<InvalidDataException> (fun () -> PyTorchStateDict.load net path Map.empty |> ignore) "not a zip"
                Expect.stringContains e.Message path "names the file")
        }
    ]
