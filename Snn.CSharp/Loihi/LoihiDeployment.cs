using System;
using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>The emulated accuracy of a deployed classifier and the profile of the runs.</summary>
/// <param name="Accuracy">Fraction of samples whose most-spiking output neuron on the emulator is the label.</param>
/// <param name="Profile">Activity, energy and time estimates of all runs back to back.</param>
public sealed record LoihiEvaluation(double Accuracy, LoihiProfileReport Profile);

/// <summary>
/// Deployment of trained networks on Loihi (F# <c>Snn.Loihi.Deploy</c>): any feed-forward chain of Linear / Conv2d
/// synapses each followed by IF, LIF or CuLIF neurons (a <see cref="DenseSnn"/>, a <see cref="Layers.Sequential"/>
/// of <see cref="Layers.Linear"/> / <see cref="Layers.Conv2d"/> and <see cref="NeuronLayer"/>s) maps exactly onto
/// Loihi's CUBA neuron and is quantized with lava-dl's rules. What cannot be mapped (PLIF, soft reset, a refractory
/// period, a CuLIF synapse bias, batch normalisation, ...) is refused with an <see cref="ArgumentException"/> naming
/// the layer and the reason.
/// </summary>
/// <example><code>
/// var loihi = model.ToLoihi();                       // DenseSnn: the input size is known
/// var result = loihi.Evaluate(test);                 // accuracy on the bit-accurate emulator
/// loihi.SaveNetx("model.net");
/// </code></example>
public static class LoihiDeployment
{
    /// <summary>Maps a chain of synapses and IF / LIF / CuLIF neurons onto Loihi and quantizes it.</summary>
    /// <param name="model">The trained network.</param>
    /// <param name="inputShape">The shape of one input step: [features], or [channels, height, width] before a
    /// convolution.</param>
    /// <returns>The quantized network, ready for the emulator or NetX / NIR export.</returns>
    /// <exception cref="ArgumentException">A layer cannot be mapped; the message names it and says why.</exception>
    public static LoihiNetwork ToLoihi(this nn.Module<Tensor, Tensor> model, params int[] inputShape)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputShape);
        return LoihiNetwork.FromQuantized(global::Snn.Loihi.Deploy.quantize(inputShape, model));
    }
}
