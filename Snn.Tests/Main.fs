module Snn.Tests.Main

open Expecto

let private all =
    testList "Snn" [
        TorchSharpTests.tests
        AllocatorTests.tests
        ActivationLifetimeTests.tests
        DeviceTests.tests
        DiffTests.tests
        SurrogateTests.tests
        LifTests.tests
        NeuronTests.tests
        DynamicsTests.tests
        MaxPool2x2Tests.tests
        BatchNorm2dTests.tests
        BatchNormLifPoolTests.tests
        ConvBatchNormLifPoolTests.tests
        DirectConv2dTests.tests
        WorkersTests.tests
        SpikeLinearTests.tests
        SpikeConv2dTests.tests
        LossMetricTests.tests
        DataTests.tests
        DataReaderTests.tests
        EventMnistTests.tests
        DataFuzzTests.tests
        DataFrameTests.tests
        DataCliTests.tests
        NpyTests.tests
        TrainingTests.tests
        FusedAdamTests.tests
        LossTests.tests
        EncodingTests.tests
        MetricTests.tests
        LayerTests.tests
        MonitorTests.tests
        TrainerTests.tests
        LoihiTests.tests
        CliTests.tests
        LoihiNetxTests.tests
        LoihiNirTests.tests
        LoihiCliTests.tests
        LoihiQuantizationTests.tests
        LoihiNirMappingTests.tests
        LoihiNetxExportTests.tests
        LoihiDeployTests.tests
        HypergradientTests.tests
        BilevelTests.tests
        MethodHistoryTests.tests
        AuxiLearnTests.tests
        ThresholdLearningTests.tests
        TmSnnTests.tests
        RepositoryTests.tests
        InferenceTests.tests
        CalibrationTests.tests
        PyTorchStateDictTests.tests
        ReadmeTests.tests
        ReportTests.tests
        AsglModelTests.tests
        MembraneMonitorTests.tests
        ConfigTests.tests
        DatasetTrainingTests.tests
        AlSnnTests.tests
        PlasticityTests.tests
        HostileInputTests.tests
        VocabularyTests.tests
    ]

[<EntryPoint>]
let main argv = Snn.Testing.Runner.run argv all
