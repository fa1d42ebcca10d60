using System;
using System.Linq;

namespace Snn.CSharp;

/// <summary>
/// What drives the input layer (layer 0) of a <see cref="LoihiNetwork"/> run. Create instances with the static
/// factories <see cref="Spikes"/>, <see cref="Bias"/> and <see cref="NetworkBias"/>.
/// </summary>
public abstract class LoihiInput
{
    private protected LoihiInput()
    {
    }

    /// <summary>The F# core's representation.</summary>
    internal abstract global::Snn.Loihi.InputDrive Core { get; }

    /// <summary>Given input spikes: <c>spikes[t][i]</c> says whether input neuron i spikes at step t + 1.</summary>
    /// <param name="spikes">One row per step (at least as many as the run's steps), one entry per input neuron.</param>
    /// <returns>The input.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="spikes"/> or one of its rows is null.</exception>
    public static LoihiSpikeInput Spikes(bool[][] spikes) => new(spikes);

    /// <summary>The input neurons run with these bias mantissas (13-bit signed, -4096..4095, one per neuron in
    /// (C, H, W) order) instead of their own; the per-step bias is <c>mantissa &lt;&lt; bias_exp</c>.</summary>
    /// <param name="biasMantissas">One mantissa per input neuron.</param>
    /// <returns>The input.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="biasMantissas"/> is null.</exception>
    public static LoihiBiasInput Bias(int[] biasMantissas) => new(biasMantissas);

    /// <summary>The input neurons run with the biases the network carries.</summary>
    public static LoihiNetworkBiasInput NetworkBias { get; } = new();
}

/// <summary>Given input spikes (see <see cref="LoihiInput.Spikes"/>).</summary>
public sealed class LoihiSpikeInput : LoihiInput
{
    internal LoihiSpikeInput(bool[][] spikes)
    {
        ArgumentNullException.ThrowIfNull(spikes);
        if (spikes.Any(row => row is null)) throw new ArgumentNullException(nameof(spikes), "a row of spikes is null");
        Values = spikes.Select(row => (bool[])row.Clone()).ToArray();
    }

    /// <summary>A copy of the spikes, <c>Values[t][i]</c>.</summary>
    public bool[][] Values { get; }

    internal override global::Snn.Loihi.InputDrive Core => global::Snn.Loihi.InputDrive.NewInputSpikes(Values);
}

/// <summary>Input-neuron bias mantissas (see <see cref="LoihiInput.Bias"/>).</summary>
public sealed class LoihiBiasInput : LoihiInput
{
    internal LoihiBiasInput(int[] biasMantissas)
    {
        ArgumentNullException.ThrowIfNull(biasMantissas);
        Mantissas = (int[])biasMantissas.Clone();
    }

    /// <summary>A copy of the bias mantissas, one per input neuron.</summary>
    public int[] Mantissas { get; }

    internal override global::Snn.Loihi.InputDrive Core => global::Snn.Loihi.InputDrive.NewInputBias(Mantissas);
}

/// <summary>The network's own input-neuron biases (see <see cref="LoihiInput.NetworkBias"/>).</summary>
public sealed class LoihiNetworkBiasInput : LoihiInput
{
    internal LoihiNetworkBiasInput()
    {
    }

    internal override global::Snn.Loihi.InputDrive Core => global::Snn.Loihi.InputDrive.NetworkBias;
}
