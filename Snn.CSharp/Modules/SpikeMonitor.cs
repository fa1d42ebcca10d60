using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>
/// Records the output spikes, and optionally the membrane potentials, of named layers on every forward call,
/// through forward hooks: the network computes exactly what it computes without the monitor. Recordings are
/// time-first [T, B, ...], detached copies owned by the monitor; <see cref="Clear"/> and <see cref="Dispose"/> free them.
/// Membranes are recomputed from the recorded input with the layer's own step function (the state after each
/// step's reset) for every neuron model (IF, LIF, PLIF, CuLIF, adaptive threshold, AdLIF, QIF/EIF, Izhikevich,
/// Hodgkin-Huxley).
/// </summary>
public sealed class SpikeMonitor : IDisposable
{
    private readonly global::Snn.SpikeMonitor _core;

    /// <summary>Monitors the given layers, each under its name.</summary>
    /// <param name="layers">Name → layer (a <see cref="NeuronLayer"/>, <see cref="LifLayer"/> or any module whose output to record).</param>
    /// <param name="recordMembrane">Also record membrane potentials of neuron layers.</param>
    /// <exception cref="ArgumentException">No layer is given.</exception>
    public SpikeMonitor(IReadOnlyDictionary<string, nn.Module<Tensor, Tensor>> layers, bool recordMembrane = false)
    {
        ArgumentNullException.ThrowIfNull(layers);
        _core = new global::Snn.SpikeMonitor(layers, recordMembrane);
    }

    /// <summary>
    /// Monitors every neuron layer inside <paramref name="model"/>, each under its path in the model
    /// (e.g. <c>"core.lif1"</c>, or <c>"model"</c> when the model itself is one).
    /// </summary>
    /// <param name="model">The network.</param>
    /// <param name="recordMembrane">Also record membrane potentials.</param>
    /// <returns>The monitor.</returns>
    /// <exception cref="ArgumentException">The model holds no neuron layer.</exception>
    public static SpikeMonitor ForNeuronLayers(nn.Module model, bool recordMembrane = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        var layers = new Dictionary<string, nn.Module<Tensor, Tensor>>();
        var modules = model.named_modules().ToList();
        // The facade's layers forward to their core layer without hooks, so the facade layer is the one to watch.
        var facades = modules.Where(m => m.Item2 is NeuronLayer or LifLayer).Select(m => m.Item1).ToHashSet();
        foreach (var (name, module) in modules)
        {
            var parent = name.Contains('.') ? name[..name.LastIndexOf('.')] : null;
            var insideFacade = parent is not null && facades.Contains(parent);
            if (facades.Contains(name) || (!insideFacade && module is global::Snn.Modules.NeuronLayer or global::Snn.Modules.LifLayer))
                layers[name.Length == 0 ? "model" : name] = (nn.Module<Tensor, Tensor>)module;
        }
        if (layers.Count == 0) throw new ArgumentException("holds no neuron layer", nameof(model));
        return new SpikeMonitor(layers, recordMembrane);
    }

    /// <summary>The monitored layer names.</summary>
    public IReadOnlyList<string> Names => _core.Names;

    /// <summary>The spikes [T, B, ...] recorded for a layer, one tensor per forward call.</summary>
    /// <param name="name">The layer's name.</param>
    /// <returns>The recordings, oldest first.</returns>
    /// <exception cref="ArgumentException">No monitored layer has that name.</exception>
    public IReadOnlyList<Tensor> Spikes(string name) => _core.Spikes(name);

    /// <summary>
    /// The membrane potentials [T, B, ...] recorded for a layer, one tensor per forward call; empty when membranes
    /// are not recorded or the layer is not a neuron layer.
    /// </summary>
    /// <param name="name">The layer's name.</param>
    /// <returns>The recordings, oldest first.</returns>
    /// <exception cref="ArgumentException">No monitored layer has that name.</exception>
    public IReadOnlyList<Tensor> Membranes(string name) => _core.Membranes(name);

    /// <summary>The mean firing rate of a layer over every recorded call: spikes per neuron and time step.</summary>
    /// <param name="name">The layer's name.</param>
    /// <returns>r = Σ z / (recorded elements).</returns>
    /// <exception cref="ArgumentException">Unknown name, or the layer has not run since the monitor was attached.</exception>
    public double FiringRate(string name) => _core.FiringRate(name);

    /// <summary>The firing rate of every monitored layer that has run.</summary>
    /// <returns>Name → rate.</returns>
    public IReadOnlyDictionary<string, double> FiringRates() =>
        _core.FiringRates().ToDictionary(p => p.Item1, p => p.Item2);

    /// <summary>Frees every recording and starts afresh.</summary>
    public void Clear() => _core.Clear();

    /// <summary>Detaches the hooks and frees the recordings.</summary>
    public void Dispose() => _core.Dispose();
}
