using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;
using static TorchSharp.torch;
using CoreTraining = global::Snn.Training;

namespace Snn.CSharp;

/// <summary>The optimiser of a <see cref="SnnTrainer"/> run. Create one with the static factories.</summary>
public abstract class OptimizerKind
{
    private protected OptimizerKind() { }

    internal abstract CoreTraining.OptimizerKind ToCore();

    /// <summary>Adam (Kingma and Ba 2015) with β = (0.9, 0.999).</summary>
    /// <returns>The optimiser choice.</returns>
    public static OptimizerKind Adam() => new AdamKind();

    /// <summary>AdamW: Adam with decoupled weight decay λ, θ ← θ − η λ θ every step.</summary>
    /// <param name="weightDecay">λ ≥ 0.</param>
    /// <returns>The optimiser choice.</returns>
    public static OptimizerKind AdamW(double weightDecay = 0.01) => new AdamWKind(weightDecay);

    /// <summary>SGD with momentum μ: v ← μ v + g, θ ← θ − η v (Nesterov when asked).</summary>
    /// <param name="momentum">μ in [0, 1).</param>
    /// <param name="nesterov">Use Nesterov momentum.</param>
    /// <returns>The optimiser choice.</returns>
    public static OptimizerKind Sgd(double momentum = 0.9, bool nesterov = false) => new SgdKind(momentum, nesterov);

    internal static OptimizerKind FromCore(CoreTraining.OptimizerKind core) => core switch
    {
        CoreTraining.OptimizerKind.AdamW a => AdamW(a.weightDecay),
        CoreTraining.OptimizerKind.Sgd s => Sgd(s.momentum, s.nesterov),
        _ => Adam(),
    };

    private sealed class AdamKind : OptimizerKind
    {
        internal override CoreTraining.OptimizerKind ToCore() => CoreTraining.OptimizerKind.Adam;
        public override string ToString() => "Adam";
    }

    private sealed class AdamWKind(double weightDecay) : OptimizerKind
    {
        internal override CoreTraining.OptimizerKind ToCore() => CoreTraining.OptimizerKind.NewAdamW(weightDecay);
        public override string ToString() => $"AdamW(weight decay {weightDecay})";
    }

    private sealed class SgdKind(double momentum, bool nesterov) : OptimizerKind
    {
        internal override CoreTraining.OptimizerKind ToCore() => CoreTraining.OptimizerKind.NewSgd(momentum, nesterov);
        public override string ToString() => $"SGD(momentum {momentum}{(nesterov ? ", Nesterov" : "")})";
    }
}

/// <summary>The learning rate η_e of epoch e (from 1) out of E given the base rate η₀. Create one with the static factories.</summary>
public abstract class LearningRateSchedule
{
    private protected LearningRateSchedule() { }

    internal abstract CoreTraining.LearningRateSchedule ToCore();

    /// <summary>η_e = η₀.</summary>
    /// <returns>The schedule.</returns>
    public static LearningRateSchedule Constant() => new Fixed(CoreTraining.LearningRateSchedule.Constant);

    /// <summary>Cosine annealing: η_e = η_min + (η₀ − η_min)(1 + cos(π (e − 1)/E))/2.</summary>
    /// <param name="minimum">η_min in [0, η₀].</param>
    /// <returns>The schedule.</returns>
    public static LearningRateSchedule Cosine(double minimum = 0.0) => new Fixed(CoreTraining.LearningRateSchedule.NewCosine(minimum));

    /// <summary>Step decay: η_e = η₀ γ^⌊(e − 1)/k⌋.</summary>
    /// <param name="every">k &gt; 0 epochs between decays.</param>
    /// <param name="factor">γ in (0, 1].</param>
    /// <returns>The schedule.</returns>
    public static LearningRateSchedule Step(int every, double factor) => new Fixed(CoreTraining.LearningRateSchedule.NewStepDecay(every, factor));

    /// <summary>The learning rate of an epoch under this schedule.</summary>
    /// <param name="baseRate">η₀.</param>
    /// <param name="epochs">E, the epochs of the run.</param>
    /// <param name="epoch">e in [1, E].</param>
    /// <returns>η_e.</returns>
    public double LearningRate(double baseRate, int epochs, int epoch) =>
        CoreTraining.Schedule.learningRate(ToCore(), baseRate, epochs, epoch);

    internal static LearningRateSchedule FromCore(CoreTraining.LearningRateSchedule core) => new Fixed(core);

    private sealed class Fixed(CoreTraining.LearningRateSchedule core) : LearningRateSchedule
    {
        internal override CoreTraining.LearningRateSchedule ToCore() => core;
        public override string ToString() => core.ToString();
    }
}

/// <summary>Settings of a <see cref="SnnTrainer"/> run.</summary>
public sealed record TrainerSettings
{
    /// <summary>Passes over the training set (the last epoch when resuming), &gt; 0.</summary>
    public int Epochs { get; init; } = CoreTraining.TrainerSettings.Default.Epochs;

    /// <summary>Samples per optimisation step, &gt; 0.</summary>
    public int BatchSize { get; init; } = CoreTraining.TrainerSettings.Default.BatchSize;

    /// <summary>Base learning rate η₀ &gt; 0.</summary>
    public double LearningRate { get; init; } = CoreTraining.TrainerSettings.Default.LearningRate;

    /// <summary>Seed of shuffling: epoch e shuffles with seed + e, so a resumed run sees the same order.</summary>
    public int Seed { get; init; } = CoreTraining.TrainerSettings.Default.Seed;

    /// <summary>The optimiser (default Adam).</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adam();

    /// <summary>The learning-rate schedule, applied at the start of every epoch (default constant).</summary>
    public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.Constant();

    /// <summary>
    /// The loss of the network output [T, B, C] and labels [B] as a scalar tensor; <c>null</c> means cross-entropy on
    /// the output spike counts.
    /// </summary>
    public Func<Tensor, Tensor, Tensor>? Loss { get; init; }

    /// <summary>Rescale gradients so that their global L2 norm is at most this value; <c>null</c> for no clipping.</summary>
    public double? ClipGradientNorm { get; init; }

    /// <summary>Stop when the test accuracy has not improved for this many epochs; <c>null</c> to never stop early.</summary>
    public int? EarlyStoppingPatience { get; init; }

    /// <summary>Directory of the checkpoint (model, optimiser state, history) written atomically after every epoch; <c>null</c> for none.</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>Continue after the last epoch saved in <see cref="CheckpointDirectory"/> when there is one.</summary>
    public bool Resume { get; init; }

    /// <summary>How a fresh network's weights are prepared before the first epoch (never when resuming): by default
    /// the synapse layers whose neurons are silent on the first 256 training samples are scaled so that they fire at
    /// 0.02 spikes per neuron and step (networks built as a chain: <see cref="DenseSnn"/>,
    /// <see cref="Layers.Sequential"/>).</summary>
    public WeightCalibration Calibration { get; init; } = WeightCalibration.FromCore(CoreTraining.TrainerSettings.Default.Calibration);

    /// <summary>Receives the run's one-line notes: what the calibration scaled, and warnings (a layer that fired no
    /// spike in an epoch, a training loss stuck at ln C); <c>null</c> writes them to standard error.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>
    /// Settings from an experiment configuration file (.json, or .yaml/.yml in the nested key: value subset) and
    /// <c>key=value</c> overrides applied after it, with the keys of <c>snn train</c> (epochs, batch_size, seed,
    /// optimizer.name/lr/weight_decay/momentum/nesterov, schedule.name/min_lr/every/factor, clip_grad_norm,
    /// early_stopping.patience, checkpoint.dir/resume); unset keys take their defaults.
    /// </summary>
    /// <param name="path">The configuration file, or <c>null</c> for the defaults and overrides only.</param>
    /// <param name="overrides">Assignments such as <c>"optimizer.lr=1e-3"</c>, applied in order after the file.</param>
    /// <returns>The settings (loss: cross-entropy on spike counts).</returns>
    /// <exception cref="System.IO.InvalidDataException">The file is malformed, or a key is unknown or of the wrong type (the message names key, file and line).</exception>
    /// <exception cref="ArgumentException">An override is malformed or a value is out of range (the message names the key).</exception>
    public static TrainerSettings FromConfig(string? path, params string[] overrides)
    {
        ArgumentNullException.ThrowIfNull(overrides);
        var config = global::Snn.TrainConfig.resolve(
            path is null ? FSharpOption<string>.None : FSharpOption<string>.Some(path),
            MapModule.Empty<string, global::Snn.ConfigEntry>(), overrides);
        return FromCore(global::Snn.TrainConfig.trainerSettings(config));
    }

    /// <summary>The settings a TM-SNN run uses unless told otherwise (batches of 32, Adam at 2e-3; F# <c>TmSnnTraining.trainerDefaults</c>).</summary>
    public static TrainerSettings TmSnnDefaults => FromCore(global::Snn.TmSnnTraining.trainerDefaults);

    /// <summary>The settings an auxiliary-learning run uses unless told otherwise (batches of 32, Adam at 1e-3).</summary>
    public static TrainerSettings AuxiliaryLearningDefaults => FromCore(global::Snn.AuxiliaryLearning.trainerDefaults);

    internal static TrainerSettings FromCore(CoreTraining.TrainerSettings core) => new()
    {
        Epochs = core.Epochs,
        BatchSize = core.BatchSize,
        LearningRate = core.LearningRate,
        Seed = core.Seed,
        Optimizer = OptimizerKind.FromCore(core.Optimizer),
        Schedule = LearningRateSchedule.FromCore(core.Schedule),
        ClipGradientNorm = FSharpOption<double>.get_IsSome(core.ClipGradientNorm) ? core.ClipGradientNorm.Value : null,
        EarlyStoppingPatience = FSharpOption<int>.get_IsSome(core.EarlyStoppingPatience) ? core.EarlyStoppingPatience.Value : null,
        CheckpointDirectory = FSharpOption<string>.get_IsSome(core.CheckpointDirectory) ? core.CheckpointDirectory.Value : null,
        Resume = core.Resume,
        Calibration = WeightCalibration.FromCore(core.Calibration),
    };

    internal CoreTraining.TrainerSettings ToCore()
    {
        var loss = Loss is null
            ? CoreTraining.TrainerSettings.Default.Loss
            : FuncConvert.FromFunc<Tensor, Tensor, Tensor>((output, labels) => Loss(output, labels));
        return new CoreTraining.TrainerSettings(
            epochs: Epochs, batchSize: BatchSize, learningRate: LearningRate, seed: Seed,
            optimizer: (Optimizer ?? throw new ArgumentNullException(nameof(Optimizer))).ToCore(),
            schedule: (Schedule ?? throw new ArgumentNullException(nameof(Schedule))).ToCore(),
            loss: loss,
            clipGradientNorm: ClipGradientNorm is { } c ? FSharpOption<double>.Some(c) : FSharpOption<double>.None,
            earlyStoppingPatience: EarlyStoppingPatience is { } p ? FSharpOption<int>.Some(p) : FSharpOption<int>.None,
            checkpointDirectory: CheckpointDirectory is { } d ? FSharpOption<string>.Some(d) : FSharpOption<string>.None,
            resume: Resume,
            calibration: (Calibration ?? throw new ArgumentNullException(nameof(Calibration))).ToCore(),
            log: Log is null ? CoreTraining.TrainerSettings.Default.Log : FuncConvert.FromAction(Log));
    }
}

/// <summary>How a trainer prepares a fresh network's weights (F# <c>Snn.Modules.Calibration</c>): the weights of a
/// synapse layer followed by neurons are scaled so that the neurons fire at a target rate on training samples
/// (LSUV-style). Create one with the static factories.</summary>
public sealed class WeightCalibration
{
    private readonly global::Snn.Modules.Calibration _core;

    private WeightCalibration(global::Snn.Modules.Calibration core) => _core = core;

    /// <summary>Leave the initialisation as it is.</summary>
    public static WeightCalibration None { get; } = new(global::Snn.Modules.Calibration.NoCalibration);

    /// <summary>Scale only the layers whose neurons fire below a tenth of <paramref name="rate"/> (the default, at 0.02).</summary>
    /// <param name="rate">Target spikes per neuron and step, in (0, 1).</param>
    /// <returns>The choice.</returns>
    public static WeightCalibration SilentLayers(double rate = 0.02) => new(global::Snn.Modules.Calibration.NewSilentLayers(rate));

    /// <summary>Scale every synapse layer followed by neurons to <paramref name="rate"/> (LSUV).</summary>
    /// <param name="rate">Target spikes per neuron and step, in (0, 1).</param>
    /// <returns>The choice.</returns>
    public static WeightCalibration EveryLayer(double rate = 0.02) => new(global::Snn.Modules.Calibration.NewEveryLayer(rate));

    internal static WeightCalibration FromCore(global::Snn.Modules.Calibration core) => new(core);

    internal global::Snn.Modules.Calibration ToCore() => _core;

    /// <summary>The choice, e.g. "SilentLayers 0.02".</summary>
    /// <returns>The text.</returns>
    public override string ToString() => _core.ToString();
}
