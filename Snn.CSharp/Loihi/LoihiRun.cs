using System;
using System.Linq;
using Microsoft.FSharp.Core;

namespace Snn.CSharp;

/// <summary>Settings of a run of the bit-accurate Loihi emulator.</summary>
/// <param name="Steps">Number of steps to run (&gt;= 0).</param>
/// <param name="ResetInterval">Zero every layer's u and v every this many steps (layer l after steps t with
/// t mod R = l mod R, as lava-dl's NetX test does); <c>null</c> never resets.</param>
/// <param name="Thresholds">Per-layer threshold mantissas (0..262143, one per layer) replacing the network's:
/// threshold modulation without re-quantizing any weight; <c>null</c> keeps the network's.</param>
/// <param name="RecordState">Record every layer's u and v at every step (8 bytes per neuron and step).</param>
public sealed record LoihiRunOptions(int Steps = 100, int? ResetInterval = null, int[]? Thresholds = null, bool RecordState = false)
{
    /// <summary>The F# core's run options.</summary>
    internal global::Snn.Loihi.RunOptions ToCore() =>
        new(steps: Steps,
            resetInterval: ResetInterval is int r ? FSharpOption<int>.Some(r) : FSharpOption<int>.None,
            thresholds: Thresholds is null ? FSharpOption<int[]>.None : FSharpOption<int[]>.Some((int[])Thresholds.Clone()),
            recordState: RecordState);
}

/// <summary>
/// The outcome of an emulator run: spikes of every layer at every step (step t at index t - 1), per-layer
/// counters, and u and v when they were recorded.
/// </summary>
public sealed class LoihiRunResult
{
    private readonly global::Snn.Loihi.RunResult _core;

    internal LoihiRunResult(global::Snn.Loihi.RunResult core)
    {
        _core = core;
    }

    /// <summary>The F# core's result.</summary>
    internal global::Snn.Loihi.RunResult Core => _core;

    /// <summary>Number of layers.</summary>
    public int LayerCount => _core.Spikes.Length;

    /// <summary>Number of steps run.</summary>
    public int Steps => _core.Spikes.Length == 0 ? 0 : _core.Spikes[0].Length;

    /// <summary>Whether u and v were recorded (<see cref="LoihiRunOptions.RecordState"/>).</summary>
    public bool HasState => FSharpOption<int[][][]>.get_IsSome(_core.U);

    /// <summary>A copy of a layer's spikes: <c>[t - 1][neuron]</c>, neurons in (C, H, W) order.</summary>
    /// <param name="layer">Layer index, 0 for the input layer.</param>
    /// <returns>The spikes.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is not a layer index.</exception>
    public bool[][] Spikes(int layer) => Layer(_core.Spikes, layer).Select(row => (bool[])row.Clone()).ToArray();

    /// <summary>The total number of spikes a layer emitted.</summary>
    /// <param name="layer">Layer index.</param>
    /// <returns>The spike count.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is not a layer index.</exception>
    public long SpikeCount(int layer) => Layer(_core.Activity, layer).Spikes.Sum(s => (long)s);

    /// <summary>Synaptic operations caused by a layer's spikes per step (one per stored synapse a spike walks).</summary>
    /// <param name="layer">Layer index.</param>
    /// <returns>A copy of the counts, index t - 1 for step t.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is not a layer index.</exception>
    public long[] SynOps(int layer) => (long[])Layer(_core.Activity, layer).SynOps.Clone();

    /// <summary>A copy of a layer's synaptic current u (24-bit values): <c>[t - 1][neuron]</c>.</summary>
    /// <param name="layer">Layer index.</param>
    /// <returns>The currents.</returns>
    /// <exception cref="InvalidOperationException">The state was not recorded.</exception>
    public int[][] Current(int layer) => State(_core.U, layer);

    /// <summary>A copy of a layer's membrane voltage v (24-bit values, 0 after a spike): <c>[t - 1][neuron]</c>.</summary>
    /// <param name="layer">Layer index.</param>
    /// <returns>The voltages.</returns>
    /// <exception cref="InvalidOperationException">The state was not recorded.</exception>
    public int[][] Voltage(int layer) => State(_core.V, layer);

    private static T Layer<T>(T[] values, int layer) =>
        layer >= 0 && layer < values.Length
            ? values[layer]
            : throw new ArgumentOutOfRangeException(nameof(layer), layer, $"the network has {values.Length} layers");

    private static int[][] State(FSharpOption<int[][][]> state, int layer)
    {
        if (FSharpOption<int[][][]>.get_IsNone(state))
            throw new InvalidOperationException("u and v were not recorded; run with RecordState: true");
        return Layer(state.Value, layer).Select(row => (int[])row.Clone()).ToArray();
    }
}
