/// The fused Adam / AdamW step against TorchSharp's own optimizers: the same parameters and moments, bit for bit.
module Snn.Tests.FusedAdamTests

open System
open Expecto
open TorchSharp
open TorchSharp.Modules
open Snn

/// Parameters of these sizes: below one vector, vector plus tail, one block plus tail, and more than one core's range.
let private sizes = [ [| 1L |]; [| 7L |]; [| 31L |]; [| 33L; 3L |]; [| 4099L |]; [| 300L; 257L |] ]

let private parameters seed =
    torch.manual_seed seed |> ignore
    [| for s in sizes -> new Parameter (torch.randn s) |]

let private copies (ps: Parameter[]) = [| for p in ps -> new Parameter (p.detach().clone ()) |]

let private identical (a: torch.Tensor) (b: torch.Tensor) =
    a.shape = b.shape && (a.eq b).all().ToBoolean ()

/// Runs both optimizers `steps` steps on equal copies with equal gradients (every third step tiny, as late in
/// training; the last parameter without a gradient on step 2), changing the learning rate on step 4 as a schedule
/// does, and asserts equal parameters and moments after every step.
let private agree (reference: Parameter[] -> torch.optim.Optimizer) (fused: Parameter[] -> torch.optim.Optimizer)
                  (moments: torch.optim.Optimizer -> Parameter -> torch.Tensor * torch.Tensor) steps =
    let a = parameters 5L
    let b = copies a
    let oa, ob = reference a, fused b
    use generator = new torch.Generator (9UL)
    for step in 1 .. steps do
        for i in 0 .. a.Length - 1 do
            if step = 2 && i = a.Length - 1 then
                a.[i].grad <- null
                b.[i].grad <- null
            else
                let g = torch.randn (a.[i].shape, generator = generator) * (if step % 3 = 0 then 1e-5 else 2.0)
                a.[i].grad <- g.clone ()
                b.[i].grad <- g
        if step = 4 then
            for o in [ oa; ob ] do
                for group in o.ParamGroups do group.LearningRate <- group.LearningRate * 0.3
        oa.step () |> ignore
        ob.step () |> ignore
        for i in 0 .. a.Length - 1 do
            Expect.isTrue (identical a.[i] b.[i]) $"step {step}, parameter {i}: the same bits"
            let ma, va = moments oa a.[i]
            let mb, vb = moments ob b.[i]
            Expect.isTrue (identical ma mb && identical va vb) $"step {step}, parameter {i}: the same moments"

/// Adam's moments through its state dictionary (TorchSharp keeps `_state` protected).
let private adamMoments (o: torch.optim.Optimizer) (p: Parameter) =
    let index = o.parameters () |> Seq.findIndex (fun q -> q.Handle = p.Handle)
    match (o :?> OptimizerHelper).state_dict().State.[index] with
    | :? Adam.State as s -> s.exp_avg, s.exp_avg_sq
    | :? AdamW.State as s -> s.exp_avg, s.exp_avg_sq
    | s -> failwith $"unexpected state {s.GetType().Name}"

let tests =
    testList "FusedAdam" [
        test "Adam: the same bits as TorchSharp's Adam over 8 steps, with a skipped gradient and a schedule" {
            agree (fun ps -> torch.optim.Adam (ps, 1e-3)) (fun ps -> new FusedAdam (ps, 1e-3)) adamMoments 8
        }
        test "Adam with an L2 penalty, other betas and maximize" {
            agree (fun ps -> new Adam (ps, 3e-3, 0.8, 0.99, 1e-6, 0.05, false, true))
                  (fun ps -> (new FusedAdam (ps, 3e-3, 0.8, 0.99, 1e-6, 0.05) :> torch.optim.Optimizer)
                             |> fun o -> (for g in o.ParamGroups do ((g :?> Adam.ParamGroup).Options.maximize <- Nullable true)); o)
                  adamMoments 6
        }
        test "AdamW: the same bits as TorchSharp's AdamW (decoupled decay)" {
            agree (fun ps -> torch.optim.AdamW (ps, 2e-3, weight_decay = 0.1)) (fun ps -> new FusedAdamW (ps, 2e-3, weightDecay = 0.1))
                  adamMoments 6
        }
        test "a float64 parameter takes TorchSharp's step, and agrees" {
            let a = [| new Parameter (torch.randn ([| 40L |], dtype = torch.float64)) |]
            let b = copies a
            let oa, ob = torch.optim.Adam (a, 1e-2), new FusedAdam (b, 1e-2)
            for _ in 1 .. 3 do
                let g = torch.randn ([| 40L |], dtype = torch.float64)
                a.[0].grad <- g.clone ()
                b.[0].grad <- g
                oa.step () |> ignore
                ob.step () |> ignore
            Expect.isTrue (identical a.[0] b.[0]) "the same values"
        }
        test "a step with a closure returns its loss and uses the gradients it computes" {
            let run (make: Parameter[] -> torch.optim.Optimizer) =
                let ps = parameters 8L
                let o = make ps
                let target = torch.ones [| 4099L |]
                let losses =
                    [ for _ in 1 .. 3 ->
                        let loss = o.step (Func<torch.Tensor> (fun () ->
                            o.zero_grad ()
                            let l = (ps.[4] - target).square().sum ()
                            l.backward ()
                            l))
                        loss.ToSingle () ]
                losses, ps.[4].detach().clone ()
            let lossesA, a = run (fun ps -> torch.optim.Adam (ps, 1e-2))
            let lossesB, b = run (fun ps -> new FusedAdam (ps, 1e-2))
            Expect.equal lossesB lossesA "the closure's losses"
            Expect.isTrue (identical a b) "the same parameters"
        }
        test "the library's Adam is the fused one" {
            use model = torch.nn.Linear (3L, 2L)
            Expect.isTrue (Training.createOptimizer Training.Adam 1e-3 model :? FusedAdam) "createOptimizer Adam"
            Expect.isTrue (Training.createOptimizer (Training.AdamW 0.01) 1e-3 model :? FusedAdamW) "createOptimizer AdamW"
        }
    ]
