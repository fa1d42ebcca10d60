/// Membrane recording for every neuron layer: attaching a recording monitor leaves outputs and gradients unchanged,
/// and the recorded membrane is [T; B; N] and follows the model's equations.
module Snn.Tests.MembraneMonitorTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Modules
open Snn.Neurons
open Snn.Tensors
open Snn.Tests.Assertions

/// Every neuron layer type with an input scale and a number of steps that make it fire.
let private layers () : (string * NeuronLayer * float * int64) list =
    [ "if", new IfLayer("if", IfParameters.Default), 0.4, 40L
      "lif", new ModulatedLifLayer("lif", LifParameters.Default), 3.0, 40L
      "plif", new PlifLayer("plif", PlifParameters.Default, [| 3L |]), 3.0, 40L
      "culif", new CuLifLayer("culif", CuLifParameters.Default), 1.0, 40L
      "pculif", new CuLifLayer("pculif", CuLifParameters.Default, true, [| 3L |]), 1.0, 40L
      "alif", new AdaptiveThresholdLayer("alif", AdaptiveThresholdParameters.Default), 3.0, 40L
      "adlif", new AdLifLayer("adlif", AdLifParameters.Default), 3.0, 40L
      "qif", new NonlinearIfLayer("qif", { NonlinearIfParameters.DefaultQuadratic with Dt = 1.0 }), 60.0, 60L
      "eif", new NonlinearIfLayer("eif", { NonlinearIfParameters.DefaultExponential with Dt = 1.0 }), 60.0, 60L
      "izhikevich", new IzhikevichLayer("izhikevich", Izhikevich.preset "RS"), 20.0, 40L
      "hh", new HodgkinHuxleyLayer("hh", { HodgkinHuxleyParameters.Default with Dt = 0.25 }), 15.0, 30L ]

let tests =
    testList "MembraneMonitor" [
        test "every neuron layer: identical outputs and gradients with a recording monitor, membranes [T; B; N]" {
            for name, layer, scale, steps in layers () do
                torch.manual_seed 21L |> ignore
                let x = torch.rand ([| steps; 2L; 3L |], dtype = torch.float32) * scale
                let weights = torch.linspace(1.0, 2.0, steps).reshape ([| steps; 1L; 1L |])
                let run () =
                    let y = layer.call x
                    let g = Diff.grad (fun (input: Tensor) -> (layer.call input * weights).sum ()) x
                    values y, values g
                let plainOut, plainGrad = run ()
                use monitor = new SpikeMonitor([| name, layer :> torch.nn.Module<Tensor, Tensor> |], true)
                let out, grad = run ()
                Expect.equal out plainOut $"{name}: outputs unchanged"
                Expect.equal grad plainGrad $"{name}: input gradients unchanged"
                let recorded = monitor.Membranes name
                Expect.isGreaterThanOrEqual recorded.Length 1 $"{name}: recorded"
                Expect.equal recorded.[0].shape [| steps; 2L; 3L |] $"{name}: membrane [T; B; N]"
                Expect.isTrue (values recorded.[0] |> Array.forall Double.IsFinite) $"{name}: finite"
                Expect.isFalse recorded.[0].requires_grad $"{name}: detached"
                Expect.isGreaterThan (Array.sum out) 0.0 $"{name}: the layer fired, so resets are part of the trace"
        }
        test "the CuLIF membrane follows i_t = α i_(t-1) + x_t, v_t = β v_(t-1) + (1 - β) i_t below threshold" {
            let p = CuLifParameters.Default
            let layer = new CuLifLayer("culif", p)
            use monitor = new SpikeMonitor([| "culif", layer :> torch.nn.Module<Tensor, Tensor> |], true)
            let x = torch.ones ([| 10L; 1L; 1L |], dtype = torch.float64) * 0.05
            layer.call x |> ignore
            let alpha, beta = Math.Exp (-1.0 / 5.0), Math.Exp (-1.0 / 10.0)
            let expected =
                Array.scan (fun (i, v) _ -> let i' = alpha * i + 0.05 in i', beta * v + (1.0 - beta) * i') (0.0, 0.0) [| 1 .. 10 |]
                |> Array.tail |> Array.map snd
            allClose 1e-12 expected (values (monitor.Membranes "culif").[0]) "membrane"
        }
        test "a modulated threshold is honoured by the recorded membrane (the neuron resets where it fired)" {
            let layer = new ModulatedLifLayer("lif", LifParameters.Default)
            layer.SetThreshold (torch.tensor 0.5)
            use monitor = new SpikeMonitor([| "lif", layer :> torch.nn.Module<Tensor, Tensor> |], true)
            let x = torch.ones ([| 30L; 1L; 1L |], dtype = torch.float64) * 1.5
            let spikes = values (layer.call x)
            let v = values (monitor.Membranes "lif").[0]
            Expect.isGreaterThan (Array.sum spikes) 1.0 "fires at the lowered threshold"
            for t in 0 .. 29 do
                if spikes.[t] = 1.0 then Expect.equal v.[t] 0.0 $"reset to 0 at step {t}"
                else Expect.isLessThan v.[t] 0.5 $"below the modulated threshold at step {t}"
        }
    ]
