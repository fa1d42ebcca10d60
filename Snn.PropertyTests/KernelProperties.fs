/// Laws of the fused kernels that replace libtorch operators: the 2 × 2 max pooling and the sparse Linear.
module Snn.PropertyTests.KernelProperties

open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Snn
open Snn.Modules
open Snn.PropertyTests.Generators

/// A shape [N; C; H; W] with H, W in [2, 40] (odd ones included), a seed and an input activity (1 = real values).
let private poolCases =
    gen {
        let! n = Gen.choose (1, 3)
        let! c = Gen.choose (1, 4)
        let! h = Gen.choose (2, 40)
        let! w = Gen.choose (2, 40)
        let! seed = Gen.choose (0, 1_000_000)
        let! activity = Gen.elements [ 0.05; 0.3; 0.7; 1.0 ]
        return [| int64 n; int64 c; int64 h; int64 w |], seed, activity
    } |> Arb.fromGen

/// Binary spikes at `activity`, or normal real values when it is 1.
let private input (shape: int64[]) (seed: int) (activity: float) =
    use g = new torch.Generator (uint64 seed)
    if activity >= 1.0 then torch.randn (shape, generator = g)
    else torch.bernoulli (torch.zeros shape + activity, generator = g)

/// Output and ∂/∂x of Σ r·pool(x) for a seeded random r.
let private run (pool: torch.Tensor -> torch.Tensor) (x: torch.Tensor) (seed: int) =
    let leaf = x.detach().requires_grad_ true
    let y = pool leaf
    use generator = new torch.Generator (uint64 seed + 1UL)
    let r = torch.randn (y.shape, generator = generator)
    Diff.backward ((y * r).sum ())
    y.detach (), leaf.grad.detach (), r

let tests =
    testList "fused kernels" [
        testPropertyWithConfig config "2x2 max pooling = libtorch's max_pool2d, outputs and gradients, on spikes and reals" <|
            Prop.forAll poolCases (fun (shape, seed, activity) ->
                let x = input shape seed activity
                let y, g, _ = run MaxPool2x2.apply x seed
                let y', g', _ = run (fun t -> torch.nn.functional.max_pool2d (t, [| 2L; 2L |])) x seed
                (y.eq y').all().ToBoolean () && (g.eq g').all().ToBoolean ())

        testPropertyWithConfig config "2x2 max pooling routes each output's gradient to exactly one input of its window" <|
            Prop.forAll poolCases (fun (shape, seed, activity) ->
                let x = input shape seed activity
                let _, g, r = run MaxPool2x2.apply x seed
                let h, w = shape.[2] / 2L * 2L, shape.[3] / 2L * 2L
                // The covered part of the gradient, one window per row of the last dimension.
                let windows = g.narrow(2L, 0L, h).narrow(3L, 0L, w).reshape(shape.[0], shape.[1], h / 2L, 2L, w / 2L, 2L).permute(0L, 1L, 2L, 4L, 3L, 5L).reshape(-1L, 4L)
                let nonzero = windows.ne(torch.tensor 0.0f).sum([| 1L |])
                let total = (g.sum () - r.sum ()).abs().ToDouble ()
                (nonzero.le(torch.tensor 1L)).all().ToBoolean () && total <= 1e-3 * (1.0 + r.abs().sum().ToDouble ()))

        testPropertyWithConfig config "the sparse Linear equals the dense one on spikes, forward and weight gradient" <|
            Prop.forAll (Gen.zip3 (Gen.choose (1, 300)) (Gen.choose (1, 300)) (Gen.choose (0, 1_000_000)) |> Arb.fromGen) (fun (inputs, outputs, seed) ->
                torch.manual_seed (int64 seed) |> ignore
                let sparse = new SpikeLinear("fc", inputs, outputs, { SpikeLinearOptions.Dense with Sparse = true; SparseActivityThreshold = 1.0 })
                use generator = new torch.Generator (uint64 seed)
                let x = torch.bernoulli (torch.zeros ([| 24L; int64 inputs |]) + 0.1, generator = generator)
                let y = sparse.forward x
                Diff.backward (y.sum ())
                let ySparse, gSparse = y.detach (), sparse.Weight.grad.detach().clone ()
                sparse.Weight.grad <- null
                let yDense = torch.nn.functional.linear (x, sparse.Weight, sparse.Bias)
                Diff.backward (yDense.sum ())
                sparse.LastCallSparse
                && (ySparse - yDense).abs().max().ToDouble () <= 1e-4
                && (gSparse - sparse.Weight.grad).abs().max().ToDouble () <= 1e-4)
    ]
