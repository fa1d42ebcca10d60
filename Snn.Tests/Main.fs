module Snn.Tests.Main
open TorchSharp
[<EntryPoint>]
let main args =
    let x = torch.tensor([|1.0f;2.0f|]).requires_grad_(true)
    let y = (x*x*x).sum()
    match args.[0] with
    | "raw" ->
        y.backward()
        try y.backward() with e -> printfn "caught %s" (e.GetType().Name)
    | "guard" ->
        Snn.Diff.backward y
        try Snn.Diff.backward y with e -> printfn "caught %s: %s" (e.GetType().Name) e.Message
    | _ -> 
        try torch.autograd.grad([|x*x|], [|x|]) |> ignore with e -> printfn "caught nonscalar %s" (e.Message.Split('\n').[0])
    printfn "alive"
    0
