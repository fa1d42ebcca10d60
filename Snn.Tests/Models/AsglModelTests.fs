/// The ASGL seed's spiking ResNet-18 and VGGSNN: output shapes, parameter counts against the architecture counted
/// by hand, and one backward pass reaching every parameter with finite gradients.
module Snn.Tests.AsglModelTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Modules
open Snn.Neurons
open Snn.Tensors
open Snn.Tests.Assertions

/// Weights of a k×k convolution from i to o channels, with or without bias.
let private conv k i o bias = int64 (k * k * i * o + (if bias then o else 0))
/// Learnable scale and shift of a normalisation over c channels (BN: weight, bias; tdBN: λ, β).
let private norm c = int64 (2 * c)

let private trainable (m: torch.nn.Module) =
    m.parameters () |> Seq.filter (fun p -> p.requires_grad) |> Seq.sumBy (fun p -> p.numel ())

/// Runs one forward and backward pass and checks that every trainable parameter got a finite gradient.
let private backwardReachesEverything (model: torch.nn.Module<Tensor, Tensor>) (x: Tensor) (classes: int) =
    model.train ()
    let logits = model.forward x
    Expect.equal logits.shape [| x.shape.[0]; x.shape.[1]; int64 classes |] "logits [T; B; classes]"
    let loss = Loss.tet 0.0 0.0 logits (torch.zeros ([| x.shape.[1] |], dtype = torch.int64))
    Diff.backward loss
    let mutable total = 0.0
    for struct (name, p) in model.named_parameters () do
        if p.requires_grad then
            let g = p.grad
            Expect.isFalse (isNull (box g) || g.Handle = IntPtr.Zero) $"{name} has a gradient"
            let finite = (use f = torch.isfinite(g).all () in f.ToBoolean ())
            Expect.isTrue finite $"{name}: gradient is finite"
            total <- total + (use s = g.abs().sum () in s.ToDouble ())
    Expect.isGreaterThan total 0.0 "the gradients are not all zero"

let tests =
    testList "AsglModels" [
        test "ResNet-18: [T; B; 3; 16; 16] → [T; B; 10], 11,173,962 parameters, gradients reach every parameter" {
            // Stem, then per stage (in, out, stride): two basic blocks, the first with a 1×1 projection when the
            // shape changes, then the 512 → classes read-out.
            let block i o stride =
                conv 3 i o false + norm o + conv 3 o o false + norm o
                + (if stride <> 1 || i <> o then conv 1 i o false + norm o else 0L)
            let stages = [ 64, 64, 1; 64, 128, 2; 128, 256, 2; 256, 512, 2 ]
            let expected classes inputs =
                conv 3 inputs 64 false + norm 64
                + (stages |> List.sumBy (fun (i, o, s) -> block i o s + block o o 1))
                + int64 (512 * classes + classes)
            Expect.equal (expected 10 3) 11173962L "the published CIFAR-10 ResNet-18 count"
            torch.manual_seed 11L |> ignore
            use bn = new SpikingResNet18(3, 10)
            Expect.equal (trainable bn) (expected 10 3) "BN variant"
            Expect.equal (bn.Stages |> Array.map (fun s -> (s.Layers.[0] :?> SpikingBasicBlock).HasProjection)) [| false; true; true; true |] "projections where the shape changes"
            // 16 × 16 keeps the test fast; the global average pooling makes the network size-independent.
            backwardReachesEverything bn (torch.rand ([| 2L; 1L; 3L; 16L; 16L |])) 10
        }
        test "VGGSNN: [T; B; 2; 48; 48] → [T; B; 10], 9,271,498 parameters; tdBN gradients reach every parameter" {
            let plan = [ 2, 64; 64, 128; 128, 256; 256, 256; 256, 512; 512, 512; 512, 512; 512, 512 ]
            let expected bias side classes =
                (plan |> List.sumBy (fun (i, o) -> conv 3 i o bias + norm o))
                + int64 (512 * (side / 16) * (side / 16) * classes + classes)
            Expect.equal (expected true 48 10) 9271498L "the published CIFAR10-DVS VGGSNN count (4608 read-out inputs)"
            torch.manual_seed 12L |> ignore
            use vgg = new AsglVggSnn()
            Expect.equal vgg.FeatureCount 4608 "512 · 3 · 3 features"
            Expect.equal (trainable vgg) (expected true 48 10) "parameters"
            vgg.eval ()
            let out = (use _ = torch.no_grad () in vgg.forward (torch.rand ([| 2L; 1L; 2L; 48L; 48L |])))
            Expect.equal out.shape [| 2L; 1L; 10L |] "logits"
            use small = new AsglVggSnn(2, 16, 16, 4, false, ThresholdDependent, AsglBlocks.defaultNeuron, Reference)
            Expect.equal (trainable small) (expected false 16 4) "tdBN, no convolution bias, 16 × 16"
            backwardReachesEverything small (torch.rand ([| 2L; 1L; 2L; 16L; 16L |])) 4
        }
        test "the fused LIF kernel gives the reference outputs; bad shapes name the input" {
            let build kernel =
                torch.manual_seed 13L |> ignore
                new AsglVggSnn(2, 16, 16, 3, true, BatchNorm, AsglBlocks.defaultNeuron, kernel)
            use reference = build Reference
            use fused = build Fused
            let x = torch.rand ([| 3L; 2L; 2L; 16L; 16L |]) * 4.0
            allClose 1e-4 (values (reference.forward x)) (values (fused.forward x)) "fused = reference"
            let e = Expect.throwsC (fun () -> reference.forward (torch.rand ([| 3L; 2L; 2L; 8L; 16L |])) |> ignore) id
            Expect.equal (e :?> ArgumentException).ParamName "x" "names the input"
            Expect.throwsT<ArgumentException> (fun () -> new AsglVggSnn(2, 8, 16, 3, true, BatchNorm, AsglBlocks.defaultNeuron, Reference) |> ignore) "height < 16"
        }
    ]
