/// Layers over time-first tensors and the ch. 3 models: shapes, the shared dropout mask, voting, tdBN statistics.
module Snn.Tests.LayerTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Modules
open Snn.Neurons
open Snn.Tensors
open Snn.Tests.Assertions

let tests =
    testList "Layers" [
        test "conv, pooling, batch norm and flatten keep the time-first layout" {
            torch.manual_seed 1L |> ignore
            let x = torch.rand ([| 3L; 2L; 2L; 8L; 8L |])
            let conv = TimeLayers.conv2d "conv" 2 4 3 1 1
            let y = conv.forward x
            Expect.equal y.shape [| 3L; 2L; 4L; 8L; 8L |] "conv 3×3 pad 1"
            Expect.equal ((TimeLayers.maxPool2d "pool" 2).forward y).shape [| 3L; 2L; 4L; 4L; 4L |] "max pool"
            Expect.equal ((TimeLayers.avgPool2d "pool" 2).forward y).shape [| 3L; 2L; 4L; 4L; 4L |] "avg pool"
            Expect.equal ((TimeLayers.batchNorm2d "bn" 4).forward y).shape y.shape "batch norm"
            Expect.equal ((new TimeFlatten("flat")).forward y).shape [| 3L; 2L; 256L |] "flatten"
            // The merged pass equals the per-step pass.
            let perStep = torch.stack ([| for t in 0L .. 2L -> conv.Inner.forward x.[t] |], 0L)
            allClose 1e-6 (values perStep) (values y) "one merged pass = T passes"
        }
        test "dropout draws one mask per sequence, shared by every step; identity in evaluation" {
            torch.manual_seed 3L |> ignore
            let drop = new SharedDropout("drop", 0.5)
            drop.train ()
            let y = drop.forward (torch.ones ([| 6L; 4L; 50L |]))
            for t in 1L .. 5L do allClose 0.0 (values y.[0L]) (values y.[t]) $"step {t} reuses the mask of step 0"
            let kept = values y.[0L] |> Array.filter (fun v -> v <> 0.0)
            Expect.isTrue (kept |> Array.forall (fun v -> v = 2.0)) "kept elements are scaled by 1/(1-p)"
            Expect.isGreaterThan kept.Length 60 "about half of 200 kept"
            Expect.isLessThan kept.Length 140 "about half of 200 kept"
            drop.eval ()
            let x = torch.rand ([| 2L; 3L; 4L |])
            allClose 0.0 (values x) (values (drop.forward x)) "evaluation is the identity"
            Expect.throwsT<ArgumentException> (fun () -> new SharedDropout("bad", 1.0) |> ignore) "p = 1"
        }
        test "voting averages groups of consecutive neurons" {
            let x = shaped32 [| 1L; 1L; 6L |] [| 1.f; 0.f; 1.f;  0.f; 0.f; 1.f |]
            allClose 1e-7 [| 2.0 / 3.0; 1.0 / 3.0 |] (values ((new Voting("vote", 3)).forward x)) "two classes of 3"
            Expect.throwsT<ArgumentException> (fun () -> (new Voting("vote", 4)).forward x |> ignore) "6 is not a multiple of 4"
        }
        test "tdBN normalises each channel over (T, B, H, W) to α·V_th" {
            torch.manual_seed 4L |> ignore
            let bn = new ThresholdDependentBatchNorm("tdbn", 3, 0.5, 2.0)
            bn.train ()
            let x = torch.randn ([| 4L; 5L; 3L; 6L; 6L |]) * 3.0 + 7.0
            let y = bn.forward x
            let perChannel = y.transpose(0L, 2L).reshape (3L, -1L)
            allClose 1e-4 [| 0.; 0.; 0. |] (values (perChannel.mean ([| 1L |]))) "mean β = 0"
            allClose 1e-3 [| 1.; 1.; 1. |] (values (perChannel.std (1L, false))) "standard deviation α·V_th = 1"
            let y1 = (new ThresholdDependentBatchNorm("flat", 3)).forward (torch.randn ([| 4L; 5L; 3L |]) + 1.0)
            allClose 1e-4 [| 0.; 0.; 0. |] (values (y1.reshape(-1L, 3L).mean ([| 0L |]))) "[T; B; C] input"
        }
        test "sequential container merges stateless runs and equals the manual composition" {
            torch.manual_seed 5L |> ignore
            let fc1 = torch.nn.Linear (6L, 5L)
            let relu = torch.nn.ReLU ()
            let lif = new LifLayer("lif", LifParameters.Default)
            let fc2 = torch.nn.Linear (5L, 2L)
            let seq = new SpikingSequential("seq", [| fc1; relu; lif; fc2 |])
            let x = torch.rand ([| 4L; 3L; 6L |]) * 4.0
            let manual = (new TimeDistributed("b", fc2)).forward (lif.forward ((new TimeDistributed("a", torch.nn.Sequential ([| fc1 :> torch.nn.Module<Tensor, Tensor>; relu |]))).forward x))
            allClose 1e-6 (values manual) (values (seq.forward x)) "same output"
            Expect.equal (seq.parameters () |> Seq.length) 4 "parameters of both Linear layers are registered"
        }
        test "ch. 3 models: VGG feature block, MLP block and voting classifier shapes" {
            torch.manual_seed 6L |> ignore
            let features = new VggFeatureBlock(2, 2)
            let x = torch.rand ([| 2L; 1L; 2L; 8L; 8L |])
            Expect.equal (features.forward x).shape [| 2L; 1L; 128L; 2L; 2L |] "128 channels, two 2×2 poolings"
            let mlp = new MlpBlock([| 12; 6; 4 |], PlifParameters.Default, 0.5)
            Expect.equal (mlp.forward (torch.rand ([| 3L; 2L; 12L |]))).shape [| 3L; 2L; 4L |] "MLP"
            let model = new VggSnn(2, 8, 8, 2, 8, 3, 10, PlifParameters.Default)
            let votes = model.forward x
            Expect.equal votes.shape [| 2L; 1L; 3L |] "votes per class"
            Expect.isTrue (values votes |> Array.forall (fun v -> v >= 0.0 && v <= 1.0)) "votes are fractions of a group"
            Expect.throwsT<ArgumentException> (fun () -> features.forward (torch.rand ([| 2L; 1L; 3L; 8L; 8L |])) |> ignore) "wrong channels"
        }
    ]
