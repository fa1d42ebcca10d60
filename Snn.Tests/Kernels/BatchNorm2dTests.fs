/// The fused training-mode batch normalisation against libtorch's BatchNorm2d, bit for bit: outputs, gradients of
/// x, weight and bias, and the running estimates over several steps.
module Snn.Tests.BatchNorm2dTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Modules

/// The bit patterns of a float32 tensor's values.
let private bits (t: torch.Tensor) = Tensors.toArray t |> Array.map BitConverter.SingleToInt32Bits

/// Asserts the same bits in two float32 tensors, naming the quantity and the first difference.
let private same (what: string) (a: torch.Tensor) (b: torch.Tensor) =
    Expect.equal a.shape b.shape $"{what}: shape"
    let x, y = bits a, bits b
    match Array.zip x y |> Array.tryFindIndex (fun (p, q) -> p <> q) with
    | None -> ()
    | Some i -> failtest $"{what}: value {i} differs ({BitConverter.Int32BitsToSingle x.[i]} vs {BitConverter.Int32BitsToSingle y.[i]})"

/// One training step of both layers on the same x and output gradient; compares every result.
let private step (fused: BatchNorm2dLayer) (reference: torch.nn.Module<torch.Tensor, torch.Tensor>) (affine: bool) (x: torch.Tensor) (dy: torch.Tensor) (where: string) =
    let run (layer: torch.nn.Module<torch.Tensor, torch.Tensor>) =
        layer.zero_grad ()
        let leaf = x.detach().requires_grad_ true
        let y = layer.call leaf
        Diff.backward ((y * dy).sum ())
        y.detach().clone (), leaf.grad.clone ()
    let y, gx = run fused
    let yRef, gxRef = run reference
    same $"{where}: output" y yRef
    same $"{where}: grad_input" gx gxRef
    let buffers (m: torch.nn.Module) = m.named_buffers () |> Seq.map (fun struct (n, t) -> n, t) |> Map.ofSeq
    let bf, br = buffers fused, buffers reference
    same $"{where}: running_mean" bf.["running_mean"] br.["running_mean"]
    same $"{where}: running_var" bf.["running_var"] br.["running_var"]
    Expect.equal (bf.["num_batches_tracked"].item<int64> ()) (br.["num_batches_tracked"].item<int64> ()) $"{where}: num_batches_tracked"
    if affine then
        let grads (m: torch.nn.Module) = m.named_parameters () |> Seq.map (fun struct (n, t) -> n, t.grad) |> Map.ofSeq
        let pf, pr = grads fused, grads reference
        same $"{where}: grad_weight" pf.["weight"] pr.["weight"]
        same $"{where}: grad_bias" pf.["bias"] pr.["bias"]

/// A fused layer and torch's BatchNorm2d with the same random affine parameters, compared over `steps` steps.
let private agreeOver (shape: int64[]) (affine: bool) (steps: int) =
    torch.manual_seed 21L |> ignore
    let channels = shape.[1]
    use fused = new BatchNorm2dLayer("bn", int channels, 1e-5, 0.1, affine)
    use reference = torch.nn.BatchNorm2d (channels, affine = affine)
    if affine then
        use _ = torch.no_grad ()
        let w, b = torch.rand channels + 0.5, torch.randn channels
        fused.Weight.copy_ w |> ignore
        fused.Bias.copy_ b |> ignore
        reference.weight.copy_ w |> ignore
        reference.bias.copy_ b |> ignore
    for s in 1 .. steps do
        let x = torch.randn shape * 1.7 + 0.3 * float s
        let dy = torch.randn shape
        step fused reference affine x dy $"%A{shape} affine {affine} step {s}"

let tests =
    testList "BatchNorm2d" [
        // W2's three shapes (planes of 2304, 576 and 144 values); odd planes with 8-lane tails (63, 65), planes
        // under 8 values (6, 5), odd channel counts (fewer than a group of 8 left over).
        for shape, affine, steps in [ [| 128L; 64L; 48L; 48L |], true, 2
                                      [| 128L; 64L; 24L; 24L |], false, 2
                                      [| 128L; 64L; 12L; 12L |], true, 3
                                      [| 4L; 5L; 7L; 9L |], true, 3
                                      [| 5L; 13L; 5L; 13L |], true, 3
                                      [| 3L; 17L; 3L; 3L |], false, 3
                                      [| 4L; 9L; 2L; 3L |], true, 3
                                      [| 6L; 3L; 1L; 5L |], true, 2 ] do
            test $"training steps = torch's BatchNorm2d bit for bit, shape %A{shape}, affine {affine}" {
                agreeOver shape affine steps
            }
        test "H·W = 1 (libtorch's channels-last kernel) and evaluation mode give torch's results" {
            agreeOver [| 6L; 10L; 1L; 1L |] true 2
            torch.manual_seed 22L |> ignore
            use fused = new BatchNorm2dLayer("bn", 4)
            use reference = torch.nn.BatchNorm2d 4L
            step fused reference true (torch.randn (8L, 4L, 5L, 5L)) (torch.randn (8L, 4L, 5L, 5L)) "training"
            fused.eval ()
            reference.eval ()
            step fused reference true (torch.randn (8L, 4L, 5L, 5L)) (torch.randn (8L, 4L, 5L, 5L)) "evaluation"
        }
        test "state dict names are torch's BatchNorm2d's" {
            use fused = new BatchNorm2dLayer("bn", 3)
            use reference = torch.nn.BatchNorm2d 3L
            let keys (m: torch.nn.Module) = m.state_dict().Keys |> Seq.sort |> List.ofSeq
            Expect.equal (keys fused) (keys reference) "same keys"
        }
        test "a wrong channel count is refused with the parameter's name" {
            use fused = new BatchNorm2dLayer("bn", 3)
            let e = Expect.throwsC (fun () -> fused.forward (torch.zeros (2L, 4L, 3L, 3L)) |> ignore) id
            match e with
            | :? ArgumentException as a -> Expect.equal a.ParamName "x" "names the parameter"
            | other -> failtest $"expected an ArgumentException, got {other.GetType().Name}: {other.Message}"
            Expect.stringContains e.Message "[N; 3; H; W]" "says what shape it takes"
        }
    ]
