// Quickstart: a C# application trains a two-layer LIF network on Snn's built-in event dataset.
using System;
using Snn.CSharp;
using static TorchSharp.torch;

manual_seed(1);
var (train, test) = MovingPatterns.Load(frames: 20, seed: 1, trainCount: 1000, testCount: 500);
Console.WriteLine($"{train.Frames.shape[0]} training samples of shape [T, features] = [{train.Frames.shape[1]}, {train.Frames.shape[2]}]");

// 200 ms per sample in 20 frames: each time step is 10 ms.
var neuron = new LifParameters(TauMem: 20.0, Dt: 10.0, Surrogate: Surrogate.ATan(alpha: 2.0));
using var model = new DenseSnn(inputs: 512, hidden: 128, outputs: MovingPatterns.ClassNames.Count, neuron, weightGain: 4.0);

var progress = new Progress<TrainingEpoch>(r =>
    Console.WriteLine($"epoch {r.Epoch}: loss {r.TrainLoss:F4}, test accuracy {100 * r.TestAccuracy:F1}%"));
var trainer = new SnnTrainer(model, new TrainerSettings { Epochs = 4, BatchSize = 32, LearningRate = 5e-3, Seed = 1 });
var history = await trainer.TrainAsync(train, test, progress);

var accuracy = SnnTrainer.Evaluate(model, test);
Console.WriteLine($"test accuracy: {100 * accuracy:F1}%");
return accuracy >= 0.8 ? 0 : 1;
