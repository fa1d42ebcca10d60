using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.FSharp.Core;

namespace Snn.CSharp;

/// <summary>
/// A network of Loihi CUBA-LIF layers in hardware units (8-bit weight mantissas, 12-bit decays, 17-bit threshold
/// mantissas, 13-bit biases), run step for step as Lava's bit-accurate model computes it. Load one from a lava-dl
/// NetX file or map a NIR graph onto it through lava-dl's quantization; save it in either format.
/// </summary>
/// <remarks>Instances are immutable; every run starts from rest.</remarks>
public sealed class LoihiNetwork
{
    private readonly global::Snn.Loihi.Network _core;
    private readonly global::Snn.Loihi.QuantizedNetwork? _quantized;
    private readonly global::Snn.Loihi.Netx.Extras _extras;
    private IReadOnlyList<LoihiLayerInfo>? _layers;

    private LoihiNetwork(global::Snn.Loihi.Network core, global::Snn.Loihi.QuantizedNetwork? quantized, global::Snn.Loihi.Netx.Extras? extras = null)
    {
        _core = core;
        _quantized = quantized;
        // What a NetX source held beyond the network (legacy neuron fields, the input transform) is written back.
        _extras = extras ?? global::Snn.Loihi.Netx.Extras.None;
    }

    /// <summary>A network quantized from floats (see <see cref="LoihiDeployment.ToLoihi"/>).</summary>
    internal static LoihiNetwork FromQuantized(global::Snn.Loihi.QuantizedNetwork quantized) => new(quantized.Network, quantized);

    /// <summary>Reads a lava-dl NetX (HDF5) file as Lava's loader maps it (du = iDecay - 1, dv = vDecay,
    /// vth = vThMant, bias exponent 6).</summary>
    /// <param name="path">The file.</param>
    /// <returns>The network.</returns>
    /// <exception cref="System.IO.InvalidDataException">The file breaks the format; the message names the file and key.</exception>
    /// <exception cref="System.IO.FileNotFoundException">The file does not exist.</exception>
    public static LoihiNetwork LoadNetx(string path)
    {
        var document = global::Snn.Loihi.Netx.readDocument(path ?? throw new ArgumentNullException(nameof(path)));
        return new(document.Network, null, document.Extras);
    }

    /// <summary>
    /// Reads a NIR file whose graph is a chain Input → (Affine | Linear | Conv2d) → (CubaLIF | LIF | IF) → … → Output
    /// and quantizes it with lava-dl's mapping for a step of <paramref name="dt"/> seconds: decays dt/τ in 1/4096,
    /// weights to even 8-bit mantissas, vThMant = threshold × scale × 64, the per-layer scale folded into the
    /// threshold. Clipped values are listed in <see cref="Clips"/>.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="dt">Step in seconds (&gt; 0 and no longer than any time constant).</param>
    /// <param name="scales">One scale per layer (the input layer's is ignored); <c>null</c> chooses for each layer
    /// the scale that maps its largest weight to mantissa 254.</param>
    /// <returns>The quantized network.</returns>
    /// <exception cref="System.IO.InvalidDataException">The file is not a NIR file; the message names the file and key.</exception>
    /// <exception cref="ArgumentException">The graph uses what Loihi cannot express; the message names the node.</exception>
    public static LoihiNetwork LoadNir(string path, double dt, double[]? scales = null)
    {
        var document = global::Snn.Loihi.Nir.read(path ?? throw new ArgumentNullException(nameof(path)));
        var quantized = global::Snn.Loihi.NirMapping.toLoihi(dt, scales is null ? FSharpOption<double[]>.None : FSharpOption<double[]>.Some((double[])scales.Clone()), document.Graph);
        return new(quantized.Network, quantized);
    }

    /// <summary>Lists every violation of lava-dl's NetX rules in a file (iDecay, vDecay in [0, 4096], vThMant in
    /// [0, 131071] or 262143, even mixed-sign weights in [-256, 254], no all-zero weight matrix, delays in [0, 62],
    /// 13-bit biases, shapes consistent with the weights).</summary>
    /// <param name="path">The NetX file.</param>
    /// <returns>The violations, each naming its key; empty when the file is valid.</returns>
    /// <exception cref="System.IO.InvalidDataException">The file is not HDF5.</exception>
    public static IReadOnlyList<string> ValidateNetx(string path) =>
        global::Snn.Loihi.Netx.validateFile(path ?? throw new ArgumentNullException(nameof(path))).ToList();

    /// <summary>Writes the network as a NetX file (under a temporary name, then renamed), with layer types as
    /// lava-dl writes them (fixed-length 10-byte strings) and, for a network read from NetX, the source's neuron
    /// fields (e.g. legacy LOIHI groups) and input transform.</summary>
    /// <param name="path">The file to write.</param>
    /// <exception cref="ArgumentException">NetX cannot express the network (a bias exponent other than 6, a weight
    /// exponent, an input-layer bias, an all-zero weight matrix).</exception>
    public void SaveNetx(string path) =>
        global::Snn.Loihi.Netx.writeDocument(path ?? throw new ArgumentNullException(nameof(path)), new global::Snn.Loihi.Netx.Document(network: _core, extras: _extras));

    /// <summary>Writes the network as a NIR file for a step of <paramref name="dt"/> seconds: every layer becomes
    /// a Linear or Conv2d node and a CubaLIF node with τ_syn = dt/((du+1)/4096), τ_mem = dt/(dv/4096), weights =
    /// mantissa/64 and v_threshold = vth/64; the input layer becomes the Input node.</summary>
    /// <param name="path">The file to write.</param>
    /// <param name="dt">Step in seconds (&gt; 0).</param>
    /// <exception cref="ArgumentException">NIR cannot express a layer (no current or voltage decay, delays,
    /// recurrent synapses); the message names the layer.</exception>
    public void SaveNir(string path, double dt) =>
        global::Snn.Loihi.Nir.write(path ?? throw new ArgumentNullException(nameof(path)), global::Snn.Loihi.NirMapping.ofNetwork(dt, _core));

    /// <summary>The layers, input layer first.</summary>
    public IReadOnlyList<LoihiLayerInfo> Layers =>
        // Counting synapses builds fan-out tables: do it once per (immutable) network.
        _layers ??= _core.Layers.Select(l =>
        {
            var kind = l.Incoming is null ? "input" : l.Incoming.Value.IsDense ? "dense" : "conv";
            var synapses = l.Incoming is null ? 0 : global::Snn.Loihi.FanOutModule.ofConnection(l.Incoming.Value).SynapseCount;
            var n = l.Neurons;
            return new LoihiLayerInfo(l.Name, kind, l.Shape.ToArray(), n.Du, n.Dv, n.Vth, n.BiasExp, synapses);
        }).ToList();

    /// <summary>The total number of neurons.</summary>
    public int NeuronCount => global::Snn.Loihi.NetworkModule.neuronCount(_core);

    /// <summary>The values quantization clipped (empty for networks read from NetX).</summary>
    public IReadOnlyList<LoihiClip> Clips =>
        _quantized is null ? [] : _quantized.Clips.Select(c => new LoihiClip(c.Key, c.Original, c.Mantissa)).ToList();

    /// <summary>The scale each layer was quantized with; <c>null</c> for networks read from NetX.</summary>
    public IReadOnlyList<double>? Scales => _quantized?.Scales.ToArray();

    /// <summary>Threshold mantissas for new float thresholds under the scales the network was quantized with, for
    /// <see cref="LoihiRunOptions.Thresholds"/> (threshold modulation without re-quantizing the weights):
    /// floor(threshold × scale × 64), clamped to [0, 131071].</summary>
    /// <param name="thresholds">One float threshold per layer (the input layer's is ignored).</param>
    /// <returns>One mantissa per layer.</returns>
    /// <exception cref="InvalidOperationException">The network was not quantized from floats (it has no scales).</exception>
    public int[] ThresholdMantissas(double[] thresholds)
    {
        ArgumentNullException.ThrowIfNull(thresholds);
        if (_quantized is null) throw new InvalidOperationException("the network was read from NetX: it has no float scales");
        return global::Snn.Loihi.NetworkQuantizer.thresholdMantissas(_quantized, thresholds).Item1;
    }

    /// <summary>Runs the bit-accurate emulator from rest.</summary>
    /// <param name="input">What drives the input layer.</param>
    /// <param name="options">Settings; <c>null</c> means 100 steps, no reset, the network's thresholds.</param>
    /// <returns>The spikes and counters of every layer.</returns>
    /// <exception cref="ArgumentException">The input or an option does not fit the network; the message says which.</exception>
    public LoihiRunResult Run(LoihiInput input, LoihiRunOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new(global::Snn.Loihi.Emulator.run(_core, input.Core, (options ?? new LoihiRunOptions()).ToCore()));
    }

    /// <summary>Classifies every sample of a split on the bit-accurate emulator (each run from rest for T + layers
    /// steps, Loihi's latency; a frame value &gt; 0 is an input spike) and scores the most-spiking output neuron
    /// against the label.</summary>
    /// <param name="data">Samples [N, T, features...] (flattened to [N, T, F]) and labels [N].</param>
    /// <param name="chip">Whose constants the profile uses.</param>
    /// <returns>The accuracy and the profile of all runs.</returns>
    /// <exception cref="ArgumentException">The samples do not fit the input layer or the labels do not fit the samples.</exception>
    public LoihiEvaluation Evaluate(FrameSet data, LoihiChip chip = LoihiChip.Loihi1)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Frames.dim() < 3) throw new ArgumentException($"frames must be [N, T, features...], got {data.Frames.dim()} dimensions", nameof(data));
        using var flat = data.Frames.flatten(2);
        var quantized = _quantized ?? new global::Snn.Loihi.QuantizedNetwork(_core, [], Microsoft.FSharp.Collections.FSharpList<global::Snn.Loihi.Quantization.Clip>.Empty);
        var (accuracy, profile) = global::Snn.Loihi.Deploy.evaluate(Constants(chip), quantized, flat, data.Labels);
        return new LoihiEvaluation(accuracy, Report(profile));
    }

    private static global::Snn.Loihi.ChipConstants Constants(LoihiChip chip) =>
        chip == LoihiChip.Loihi2 ? global::Snn.Loihi.ChipConstants.Loihi2 : global::Snn.Loihi.ChipConstants.Loihi1;

    private static LoihiProfileReport Report(global::Snn.Loihi.Profile p) =>
        new(p.Chip.Name,
            p.Layers.Select(l => new LoihiLayerProfile(l.Name, l.Neurons, l.Synapses, l.Spikes, l.SynOps, l.ActiveNeuronUpdates, l.Cores, l.Energy)).ToList(),
            p.Steps,
            p.Cores,
            p.Refusals.ToList(),
            p.TimePerStep,
            p.EnergyPerStep,
            FSharpOption<double>.get_IsSome(p.EnergyPerSample) ? p.EnergyPerSample.Value : null,
            global::Snn.Loihi.Profiler.report(p));

    /// <summary>Runs the emulator and estimates energy, time per step and the core mapping on a chip.</summary>
    /// <param name="input">What drives the input layer.</param>
    /// <param name="options">Settings; <c>null</c> means 100 steps, no reset.</param>
    /// <param name="chip">Whose constants to use; Loihi 2's are extrapolated and the report says so.</param>
    /// <returns>The profile.</returns>
    public LoihiProfileReport Profile(LoihiInput input, LoihiRunOptions? options = null, LoihiChip chip = LoihiChip.Loihi1)
    {
        ArgumentNullException.ThrowIfNull(input);
        var settings = options ?? new LoihiRunOptions();
        var result = global::Snn.Loihi.Emulator.run(_core, input.Core, (settings with { RecordState = false }).ToCore());
        var reset = settings.ResetInterval is int r ? FSharpOption<int>.Some(r) : FSharpOption<int>.None;
        return Report(global::Snn.Loihi.Profiler.profile(Constants(chip), _core, result, reset));
    }
}
