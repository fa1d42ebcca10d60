/// `snn train`: trains the fully connected LIF network on the built-in moving-patterns event dataset.
module Snn.Cli.TrainCommand

open System
open Argu
open TorchSharp
open Snn
open Snn.Data
open Snn.Modules
open Snn.Neurons

/// Options of `snn train`.
type TrainArgs =
    | Epochs of int
    | Batch_Size of int
    | Learning_Rate of float
    | Seed of int
    | Train_Samples of int
    | Test_Samples of int
    | Frames of int
    | Hidden of int
    | Tau_Mem of float
    | Threads of int
    | Weight_Gain of float
    | Kernel of name: string
    | Simd of on_off: string
    | Sparse of on_off: string
    | Bf16 of on_off: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Epochs _ -> "passes over the training set (default 12)"
            | Batch_Size _ -> "samples per step (default 32)"
            | Learning_Rate _ -> "Adam learning rate (default 0.005)"
            | Seed _ -> "seed of data, weights and shuffling (default 0)"
            | Train_Samples _ -> "training samples (default 3000)"
            | Test_Samples _ -> "test samples (default 1000)"
            | Frames _ -> "time steps T per sample (default 20)"
            | Hidden _ -> "hidden LIF neurons (default 128)"
            | Tau_Mem _ -> "membrane time constant in ms (default 20)"
            | Threads _ -> "intra-op threads (default: all cores)"
            | Weight_Gain _ -> "scale of the default weight initialisation (default 4)"
            | Kernel _ -> "fused (default) or reference: how the LIF recurrence runs"
            | Simd _ -> "on (default) or off: SIMD loops in the fused kernels"
            | Sparse _ -> "on or off (default): accumulate only the weights of active inputs (same accuracy)"
            | Bf16 _ -> "on or off (default): bfloat16 GEMMs with float32 master weights"

/// Redraws a progress bar in place on a terminal; silent when the output is redirected (logs stay readable).
let private progressBar (epoch: int, done': int, total: int, loss: float) =
    let width = 30
    let filled = done' * width / total
    if not Console.IsOutputRedirected then
        Console.Write ($"\repoch {epoch,3} [{String('#', filled)}{String('.', width - filled)}] {done'}/{total} loss {loss:F4}")

/// Runs the command; returns the process exit code.
let run (args: ParseResults<TrainArgs>) : int =
    args.TryGetResult Threads |> Option.iter torch.set_num_threads
    // Training allocates the same large activations every step: keep freed memory instead of re-mapping it.
    Allocator.keepFreedMemory () |> ignore
    let seed = args.GetResult (Seed, 0)
    let frames = args.GetResult (Frames, 20)
    let settings = MovingPatterns.Settings.Default
    let clock = Diagnostics.Stopwatch.StartNew ()
    let train, test =
        MovingPatterns.trainTest settings frames seed (args.GetResult (Train_Samples, 3000)) (args.GetResult (Test_Samples, 1000))
    printfn $"moving-patterns: {train.Frames.shape.[0]} train / {test.Frames.shape.[0]} test samples, {MovingPatterns.classNames.Length} classes, T = {frames}, {settings.Size}x{settings.Size} pixels (generated in {clock.Elapsed.TotalSeconds:F1} s)"
    torch.manual_seed (int64 seed) |> ignore
    let binDt = float settings.DurationUs / 1000.0 / float frames
    let neuron = { LifParameters.Default with TauMem = args.GetResult (Tau_Mem, 20.0); Dt = binDt }
    let inputs = int train.Frames.shape.[2]
    let kernel =
        match (args.GetResult (Kernel, "fused")).ToLowerInvariant () with
        | "fused" -> Fused
        | "reference" -> Reference
        | other -> invalidArg "kernel" $"'{other}' is neither fused nor reference"
    let lever (flag: TrainArgs) (fallback: bool) (value: string option) =
        match value |> Option.map (fun v -> v.ToLowerInvariant ()) with
        | None -> fallback
        | Some "on" -> true
        | Some "off" -> false
        | Some other -> invalidArg "on_off" $"{flag}: '{other}' is neither on nor off"
    FusedKernelSettings.Vectorised <- lever (Simd "") true (args.TryGetResult Simd)
    let linear =
        { SpikeLinearOptions.Dense with Sparse = lever (Sparse "") false (args.TryGetResult Sparse); Bf16 = lever (Bf16 "") false (args.TryGetResult Bf16) }
    use model = new DenseSnn(inputs, args.GetResult (Hidden, 128), MovingPatterns.classNames.Length, neuron, args.GetResult (Weight_Gain, 4.0), kernel,
                             (if linear.Sparse || linear.Bf16 then Some linear else None))
    let training =
        { Training.Settings.Default with
            Epochs = args.GetResult (Epochs, 12)
            BatchSize = args.GetResult (Batch_Size, 32)
            LearningRate = args.GetResult (Learning_Rate, 5e-3)
            Seed = seed }
    let reports =
        Training.fit model training (train.Frames, train.Labels) (test.Frames, test.Labels) progressBar (fun r ->
            if not Console.IsOutputRedirected then Console.WriteLine ()
            printfn $"epoch {r.Epoch,3}: loss {r.TrainLoss:F4}, train accuracy {100.0 * r.TrainAccuracy:F1}%%, test accuracy {100.0 * r.TestAccuracy:F1}%%, {r.ElapsedSeconds:F1} s")
    let last = List.last reports
    printfn $"test accuracy: {100.0 * last.TestAccuracy:F2}%% after {last.Epoch} epochs; wall time {clock.Elapsed.TotalSeconds:F1} s"
    0
