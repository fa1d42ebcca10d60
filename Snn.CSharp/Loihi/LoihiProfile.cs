using System.Collections.Generic;

namespace Snn.CSharp;

/// <summary>Which chip's constants a profile uses.</summary>
public enum LoihiChip
{
    /// <summary>Loihi 1, Davies et al., IEEE Micro 38(1), 2018, Table 2 (published figures).</summary>
    Loihi1,
    /// <summary>Loihi 2, EXTRAPOLATED from Loihi 1 (same energies, times divided by 10, 8192 neurons per core).</summary>
    Loihi2,
}

/// <summary>Activity and estimates of one layer of a profiled run.</summary>
/// <param name="Name">Layer name.</param>
/// <param name="Neurons">Neurons in the layer.</param>
/// <param name="Synapses">Stored (non-zero) synapses into the layer.</param>
/// <param name="Spikes">Spikes the layer emitted over the run.</param>
/// <param name="SynOps">Synaptic operations caused by the layer's spikes (spikes × fan-out).</param>
/// <param name="ActiveNeuronUpdates">Neuron updates with non-zero state or input, summed over steps.</param>
/// <param name="Cores">Neuro-cores the layer needs.</param>
/// <param name="Energy">Dynamic energy over the run, joules.</param>
public sealed record LoihiLayerProfile(string Name, int Neurons, int Synapses, long Spikes, long SynOps, long ActiveNeuronUpdates, int Cores, double Energy);

/// <summary>The profile of an emulator run: activity, energy and time estimates, and the core mapping.</summary>
/// <param name="Chip">The constants used, with "(extrapolated)" when they are not published.</param>
/// <param name="Layers">Per-layer figures.</param>
/// <param name="Steps">Steps run.</param>
/// <param name="Cores">Neuro-cores used.</param>
/// <param name="Refusals">Reasons the network does not fit the chip (empty when it fits).</param>
/// <param name="TimePerStep">Estimated time per step, seconds.</param>
/// <param name="EnergyPerStep">Dynamic energy per step, joules (static power is unpublished and left out).</param>
/// <param name="EnergyPerSample">Dynamic energy per reset interval, joules; <c>null</c> without a reset interval.</param>
/// <param name="Text">The plain-text report.</param>
public sealed record LoihiProfileReport(
    string Chip,
    IReadOnlyList<LoihiLayerProfile> Layers,
    int Steps,
    int Cores,
    IReadOnlyList<string> Refusals,
    double TimePerStep,
    double EnergyPerStep,
    double? EnergyPerSample,
    string Text)
{
    /// <summary>Whether the network fits the chip.</summary>
    public bool Fits => Refusals.Count == 0;
}

/// <summary>A value quantization had to clip.</summary>
/// <param name="Key">Where it was, e.g. <c>"lif1/weight[12]"</c>.</param>
/// <param name="Original">The float value (after the layer scale).</param>
/// <param name="Mantissa">The mantissa it became.</param>
public sealed record LoihiClip(string Key, double Original, int Mantissa);

/// <summary>Summary of one layer of a <see cref="LoihiNetwork"/>, in Lava's hardware units.</summary>
/// <param name="Name">Layer name.</param>
/// <param name="Kind"><c>"input"</c>, <c>"dense"</c> or <c>"conv"</c>.</param>
/// <param name="Shape">Neuron grid: (C, H, W) or (N).</param>
/// <param name="Du">Current decay du (the decay applied is du + 1 out of 4096; NetX iDecay = du + 1).</param>
/// <param name="Dv">Voltage decay dv out of 4096 (NetX vDecay).</param>
/// <param name="Vth">Threshold mantissa; a neuron spikes when v &gt; Vth &lt;&lt; 6.</param>
/// <param name="BiasExp">Bias exponent (per-step bias = mantissa &lt;&lt; BiasExp).</param>
/// <param name="Synapses">Stored (non-zero) synapses into the layer.</param>
public sealed record LoihiLayerInfo(string Name, string Kind, IReadOnlyList<int> Shape, int Du, int Dv, int Vth, int BiasExp, int Synapses);
