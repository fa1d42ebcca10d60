using System;
using System.Linq;
using TorchSharp.Modules;
using static TorchSharp.torch;
using FSharpInverse = Snn.Hypergradient.InverseHessian;

namespace Snn.CSharp;

/// <summary>How the inverse-Hessian-vector product of an implicit hypergradient is approximated.</summary>
public sealed class InverseHessian
{
    internal FSharpInverse Value { get; }

    private InverseHessian(FSharpInverse value)
    {
        value.Validate();
        Value = value;
    }

    /// <summary>Truncated Neumann series α Σ_{j=0}^{J} v (I − αH)ʲ (needs α λ_max(H) &lt; 2).</summary>
    /// <param name="terms">Number of terms J (≥ 0).</param>
    /// <param name="scale">The step α (&gt; 0).</param>
    /// <returns>The approximation.</returns>
    public static InverseHessian Neumann(int terms = 3, double scale = 0.1) => new(FSharpInverse.NewNeumann(terms, scale));

    /// <summary>Conjugate gradient on (H + λI) p = v.</summary>
    /// <param name="iterations">Maximum iterations (≥ 1).</param>
    /// <param name="tolerance">Stop when ‖residual‖ ≤ tolerance·‖v‖.</param>
    /// <param name="damping">λ ≥ 0, keeps a non-convex inner loss solvable.</param>
    /// <returns>The approximation.</returns>
    public static InverseHessian ConjugateGradient(int iterations = 50, double tolerance = 1e-6, double damping = 0.0) =>
        new(FSharpInverse.NewConjugateGradient(iterations, tolerance, damping));
}

/// <summary>
/// Implicit-differentiation hypergradients (thesis § 3.4.3):
/// dL_V/dφ = ∂L_V/∂φ − (∂L_V/∂W) H⁻¹ ∂²L_T/∂W∂φ with H = ∂²L_T/∂W∂W, from Hessian-vector products.
/// </summary>
public static class Hypergradients
{
    /// <summary>The hypergradient of <paramref name="outerLoss"/> with respect to <paramref name="hyperparameters"/>.</summary>
    /// <param name="inverse">The inverse-Hessian approximation.</param>
    /// <param name="trainLoss">The inner loss L_T, evaluated with a graph through the weights and hyperparameters.</param>
    /// <param name="outerLoss">The outer loss L_V on held-out data, evaluated with a graph through the weights.</param>
    /// <param name="weights">The weights W (tensors that require grad).</param>
    /// <param name="hyperparameters">The hyperparameters φ (tensors that require grad).</param>
    /// <returns>One detached tensor per hyperparameter.</returns>
    public static Tensor[] Compute(InverseHessian inverse, Tensor trainLoss, Tensor outerLoss, Tensor[] weights, Tensor[] hyperparameters)
    {
        ArgumentNullException.ThrowIfNull(inverse);
        return Snn.Hypergradient.ofLosses(inverse.Value, trainLoss, outerLoss, weights, hyperparameters);
    }
}

/// <summary>What one bilevel step did.</summary>
/// <param name="TrainLoss">Training loss before the weight step.</param>
/// <param name="OuterLoss">Outer loss when a hyper step was taken, else null.</param>
/// <param name="HypergradientNorm">Norm of the hypergradient when a hyper step was taken, else null.</param>
public sealed record BilevelStep(double TrainLoss, double? OuterLoss, double? HypergradientNorm);

/// <summary>
/// AuxiLearn-style bilevel training: the weights take optimiser steps on the training loss; every
/// <c>interval</c> steps the hyperparameters (e.g. a <see cref="LinearLossCombiner"/>'s parameters) take an Adam step
/// along the implicit hypergradient of an outer loss on an auxiliary split.
/// </summary>
public sealed class BilevelTrainer
{
    private readonly Snn.Bilevel.Trainer trainer;

    /// <summary>Creates the trainer.</summary>
    /// <param name="weights">The weights W, updated by <paramref name="weightOptimizer"/>.</param>
    /// <param name="hyperparameters">The hyperparameters φ (disjoint from the weights).</param>
    /// <param name="weightOptimizer">The optimiser of the weights.</param>
    /// <param name="inverse">Inverse-Hessian approximation (default: 3-term Neumann, α = 0.1).</param>
    /// <param name="interval">A hyper step after every this many weight steps.</param>
    /// <param name="hyperLearningRate">Adam learning rate of the hyperparameters.</param>
    /// <param name="maxGradNorm">Clip of the hypergradient's norm (AuxiLearn's max_grad_norm, on Snn's scale: α times
    /// AuxiLearn's); <c>null</c> means no clipping.</param>
    public BilevelTrainer(Tensor[] weights, Parameter[] hyperparameters, optim.Optimizer weightOptimizer,
                          InverseHessian? inverse = null, int interval = 20, double hyperLearningRate = 1e-3,
                          double? maxGradNorm = null)
    {
        var clip = maxGradNorm is double c ? Microsoft.FSharp.Core.FSharpOption<double>.Some(c) : Microsoft.FSharp.Core.FSharpOption<double>.None;
        var settings = new Snn.Bilevel.Settings(
            inverse: (inverse ?? InverseHessian.Neumann()).Value, interval: interval, hyperLearningRate: hyperLearningRate, maxGradNorm: clip);
        trainer = new Snn.Bilevel.Trainer(weights, hyperparameters, weightOptimizer, settings);
    }

    /// <summary>Weight steps taken so far.</summary>
    public int Steps => trainer.Steps;

    /// <summary>One weight step and, when due, one hyper step.</summary>
    /// <param name="trainLoss">Computes the training loss L_T on a training batch.</param>
    /// <param name="outerLoss">Computes the outer loss L_V on an auxiliary-split batch.</param>
    /// <returns>What the step did.</returns>
    public BilevelStep Step(Func<Tensor> trainLoss, Func<Tensor> outerLoss)
    {
        ArgumentNullException.ThrowIfNull(trainLoss);
        ArgumentNullException.ThrowIfNull(outerLoss);
        var report = trainer.Step(Lift(trainLoss), Lift(outerLoss));
        return new BilevelStep(report.TrainLoss,
            Microsoft.FSharp.Core.OptionModule.IsSome(report.OuterLoss) ? report.OuterLoss.Value : null,
            Microsoft.FSharp.Core.OptionModule.IsSome(report.HypergradientNorm) ? report.HypergradientNorm.Value : null);
    }

    private static Microsoft.FSharp.Core.FSharpFunc<Microsoft.FSharp.Core.Unit, Tensor> Lift(Func<Tensor> f) =>
        Microsoft.FSharp.Core.FuncConvert.FromFunc(f);
}

/// <summary>A learned linear loss combiner h_φ(ℓ) = Σ softplus(ρ_k) ℓ_k over per-sample auxiliary losses [B; K].</summary>
public sealed class LinearLossCombiner : IDisposable
{
    /// <summary>The underlying module (its parameters are the hyperparameters to pass to a <see cref="BilevelTrainer"/>).</summary>
    public Snn.Modules.LinearLossCombiner Module { get; }

    /// <summary>Creates the combiner.</summary>
    /// <param name="tasks">Number of auxiliary losses K.</param>
    /// <param name="initialWeight">Initial weight of every auxiliary loss (&gt; 0).</param>
    public LinearLossCombiner(int tasks, double initialWeight = 1.0) => Module = new Snn.Modules.LinearLossCombiner(tasks, initialWeight);

    /// <summary>The current weights γ_k (all positive).</summary>
    public double[] Weights => Module.Weights.data<float>().ToArray().Select(w => (double)w).ToArray();

    /// <summary>The hyperparameters ρ.</summary>
    public Parameter[] Parameters => Module.parameters().ToArray();

    /// <summary>The batch mean of the combined auxiliary losses.</summary>
    /// <param name="losses">Per-sample auxiliary losses [B; K].</param>
    /// <returns>A scalar tensor.</returns>
    public Tensor Combine(Tensor losses) => Module.forward(losses);

    /// <inheritdoc/>
    public void Dispose() => Module.Dispose();
}

/// <summary>A learned non-linear loss combiner: softplus of an MLP with three ReLU hidden layers.</summary>
public sealed class NonlinearLossCombiner : IDisposable
{
    /// <summary>The underlying module.</summary>
    public Snn.Modules.NonlinearLossCombiner Module { get; }

    /// <summary>Creates the combiner.</summary>
    /// <param name="tasks">Number of auxiliary losses K.</param>
    /// <param name="hidden">Units per hidden layer.</param>
    public NonlinearLossCombiner(int tasks, int hidden = 16) => Module = new Snn.Modules.NonlinearLossCombiner(tasks, hidden);

    /// <summary>The hyperparameters (the MLP's weights and biases).</summary>
    public Parameter[] Parameters => Module.parameters().ToArray();

    /// <summary>The batch mean of the combined auxiliary losses.</summary>
    /// <param name="losses">Per-sample auxiliary losses [B; K].</param>
    /// <returns>A scalar tensor.</returns>
    public Tensor Combine(Tensor losses) => Module.forward(losses);

    /// <inheritdoc/>
    public void Dispose() => Module.Dispose();
}
