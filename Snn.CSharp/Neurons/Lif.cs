using System;
using TorchSharp;
using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>The leaky integrate-and-fire neuron as pure functions on time-first tensors.</summary>
/// <remarks>
/// Tensor ownership: every method returns fresh tensors and never disposes its arguments; dispose results or use
/// <c>torch.NewDisposeScope()</c>.
/// </remarks>
public static class Lif
{
    /// <summary>One time step from membrane potential <paramref name="v"/> ([B, ...]) and input current.</summary>
    /// <param name="parameters">Neuron parameters.</param>
    /// <param name="v">Membrane potential before the step, shape [B, ...].</param>
    /// <param name="input">Input current of this step, the shape of <paramref name="v"/>.</param>
    /// <returns>The membrane potential after the step and the spikes (0 or 1) of the step.</returns>
    public static (Tensor V, Tensor Spikes) Step(LifParameters parameters, Tensor v, Tensor input)
    {
        var (state, spikes) = global::Snn.Neurons.Lif.step(parameters.ToCore(), new Snn.Neurons.LifState(v: v, refractory: zeros_like(v)), input);
        return (state.V, spikes);
    }

    /// <summary>Runs the neurons from rest over time dimension 0 of <paramref name="inputs"/> ([T, B, ...]).</summary>
    /// <param name="parameters">Neuron parameters.</param>
    /// <param name="inputs">Input currents, time-first [T, B, ...].</param>
    /// <returns>Spikes [T, B, ...].</returns>
    public static Tensor Unroll(LifParameters parameters, Tensor inputs) =>
        global::Snn.Neurons.Lif.unroll(parameters.ToCore(), inputs);
}
