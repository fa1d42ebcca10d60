module Snn.PropertyTests.Main

open Expecto

[<EntryPoint>]
let main argv =
    printfn "property seed: %d (set SNN_PROPERTY_SEED=%d to replay this run)" Generators.seed Generators.seed
    testList "Snn properties" [
        MembraneProperties.tests
        SurrogateProperties.tests
        NeuronProperties.tests
        NeuronProperties.fusedTests
        DiffProperties.tests
        LoihiProperties.tests
        DataProperties.tests
        LossProperties.tests
        HypergradientProperties.tests
        PlasticityProperties.tests
        KernelProperties.tests
    ]
    |> Snn.Testing.Runner.run argv
