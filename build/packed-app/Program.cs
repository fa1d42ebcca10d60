// The application of build.fsx's packed-package test: build.fsx creates it with `dotnet new console` outside the
// repository, references only the packed Snn.CSharp and the CPU libtorch package, and copies this file in. It trains
// for one epoch through TorchSharp's native backend and prints one line that build.fsx checks.
using System.Globalization;
using Snn.CSharp;

var (train, test) = MovingPatterns.Load(frames: 20, seed: 1, trainCount: 256, testCount: 128);
using var model = new DenseSnn(512, 128, MovingPatterns.ClassNames.Count, new LifParameters(TauMem: 20, Dt: 10), weightGain: 4);
var history = new SnnTrainer(model, new TrainerSettings { Epochs = 1, BatchSize = 32, LearningRate = 5e-3, Seed = 1 })
    .Train(train, test);
var epoch = history.Epochs[^1];
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"packed app trained: epochs {history.Epochs.Count} loss {epoch.TrainLoss:R} accuracy {epoch.TestAccuracy:R} gradient-norm {epoch.GradientNorm:R}"));
