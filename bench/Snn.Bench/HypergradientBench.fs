/// Benchmark of one implicit-hypergradient step (thesis ch. 3, AuxiLearn with a 3-term Neumann series) against a
/// plain training step of the same network: W1's shapes (2312 → 512 → 512 → 128, batch 32, T = 25, LIF τ = 2 Euler,
/// sigmoid(4) surrogate, weights × 8, Bernoulli(0.1) input) with two readouts on the 128 hidden spikes: the main
/// head (12 classes) and one auxiliary head (4 classes), combined by a learned linear combiner.
///
/// - plain: zero grad + forward + L_T = CE_main + h_φ(per-sample CE_aux) + backward + Adam step.
/// - hyper: one `Bilevel.Trainer.HyperStep`: the outer loss on an auxiliary batch, ∂L_T/∂W with create_graph,
///   3 Hessian-vector products (Neumann), and the mixed product with φ. It needs double backward, so the LIF runs
///   on the reference (per-step) kernel; the plain step is timed on both kernels.
/// The hyper step is timed over all weights and over the readout block only (the implicit step restricted to the
/// last layers, the others held fixed: a common AuxiLearn-style economy). The ratio is reported per hyper step and amortised over AuxiLearn's schedule of one hyper step per 20 steps.
module Snn.Bench.HypergradientBench

open TorchSharp
open Snn
open Snn.Modules
open Snn.Neurons
open Snn.Bench.Measure

type private Tensor = torch.Tensor

type private TwoHeadSnn(kernel: Kernel) as this =
    inherit torch.nn.Module<Tensor, Tensor>("TwoHeadSnn")
    let neuron = { LifParameters.Default with TauMem = 2.0; Dt = 1.0; Scheme = ForwardEuler; Surrogate = Sigmoid 4.0 }
    let trunk =
        [ 2312; 512; 512; 128 ] |> List.pairwise |> List.mapi (fun i (a, b) ->
            let fc = new TimeDistributed ($"fc{i}", Init.scaledLinear a b 8.0)
            let lif = new LifLayer ($"lif{i}", neuron, kernel)
            this.register_module ($"fc{i}", fc)
            this.register_module ($"lif{i}", lif)
            fc, lif)
    let main = new TimeDistributed ("main", Init.scaledLinear 128 12 8.0)
    let aux = new TimeDistributed ("aux", Init.scaledLinear 128 4 8.0)
    do
        this.register_module ("main", main)
        this.register_module ("aux", aux)
    /// The readout weights (both heads), the block AuxiLearn-style implementations often restrict the implicit
    /// step to.
    member _.ReadoutParameters () = Array.append (Array.ofSeq (main.parameters ())) (Array.ofSeq (aux.parameters ()))
    member _.Heads (x: Tensor) =
        let h = trunk |> List.fold (fun h (fc, lif) -> lif.forward (fc.forward h)) x
        main.forward(h).mean ([| 0L |]), aux.forward(h).mean ([| 0L |])
    override m.forward (x: Tensor) = fst (m.Heads x)

let private perSample (logits: Tensor) (labels: Tensor) =
    torch.nn.functional.cross_entropy (logits, labels, reduction = torch.nn.Reduction.None)

/// Runs the benchmark and prints median ms per step and the ratios.
let run () =
    torch.manual_seed 0L |> ignore
    let input () = torch.rand(25L, 32L, 2312L).lt(torch.tensor 0.1f).``to`` (torch.float32)
    let batch = input (), torch.randint (12L, [| 32L |]), torch.randint (4L, [| 32L |])
    let auxBatch = input (), torch.randint (12L, [| 32L |])
    let timeKernel (kernel: Kernel) =
        use model = new TwoHeadSnn (kernel)
        use combiner = new LinearLossCombiner (1, 1.0)
        let weights = Array.ofSeq (model.parameters ())
        let optimizer = torch.optim.Adam (weights, 1e-3)
        let trainLoss () =
            let x, y, yAux = batch
            let mainOut, auxOut = model.Heads x
            (perSample mainOut y).mean () + combiner.forward ((perSample auxOut yAux).unsqueeze 1L)
        let outerLoss () =
            let x, y = auxBatch
            torch.nn.functional.cross_entropy (model.forward x, y)
        let plain =
            time 3 20 (fun () ->
                use _ = torch.NewDisposeScope ()
                optimizer.zero_grad ()
                Diff.backward (trainLoss ())
                optimizer.step () |> ignore)
        let hyperOver (implicitWeights: TorchSharp.Modules.Parameter[]) =
            let trainer = Bilevel.Trainer (implicitWeights |> Array.map (fun p -> p :> Tensor), Array.ofSeq (combiner.parameters ()), optimizer,
                                           { Bilevel.Settings.Default with Inverse = Hypergradient.Neumann (3, 0.1) })
            time 2 10 (fun () -> trainer.HyperStep (trainLoss, outerLoss) |> ignore)
        // Over all weights the Hessian-vector products differentiate twice through the LIF layers (reference kernel);
        // over the readout block they stop at the readouts, so the fused kernel serves.
        let hyper = if kernel = Reference then hyperOver weights else hyperOver (model.ReadoutParameters ())
        plain, hyper
    let plainReference, hyperAll = timeKernel Reference
    let plainFused, hyperReadout = timeKernel Fused
    let line (name: string) (t: Timing) = printfn $"{name,-44} median {t.Median,8:F1} ms  min {t.Min,8:F1}  max {t.Max,8:F1}"
    line "plain step (reference kernel)" plainReference
    line "plain step (fused kernel)" plainFused
    line "hyper step, all weights (reference kernel)" hyperAll
    line "hyper step, readout block (fused kernel)" hyperReadout
    printfn $"hyper / plain: all weights {hyperAll.Median / plainReference.Median:F2}x, readout block {hyperReadout.Median / plainFused.Median:F2}x; target <= 3x"
    let amortised (hyper: Timing) = (20.0 * plainFused.Median + hyper.Median) / (20.0 * plainFused.Median)
    printfn $"AuxiLearn schedule (one hyper step per 20 fused steps): {amortised hyperAll:F2}x (all weights), {amortised hyperReadout:F2}x (readout block) a plain run"
