using TorchSharp;
using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>
/// A population of LIF neurons as a TorchSharp module: spikes [T, B, ...] from input currents [T, B, ...],
/// starting at rest on every call, so nothing needs resetting between batches.
/// </summary>
public sealed class LifLayer : nn.Module<Tensor, Tensor>
{
    private readonly Snn.Modules.LifLayer _core;

    /// <summary>Creates the layer.</summary>
    /// <param name="parameters">Neuron parameters; <c>null</c> means the defaults.</param>
    /// <param name="name">Module name.</param>
    /// <param name="fused">Run the fused multi-step kernel (the default, like <see cref="DenseSnn"/>) or, with
    /// <c>false</c>, the per-step reference (needed for double backward).</param>
    /// <exception cref="System.ArgumentException">A parameter is out of range.</exception>
    public LifLayer(LifParameters? parameters = null, string name = "LifLayer", bool fused = true) : base(name)
    {
        Parameters = (parameters ?? new LifParameters()).Validate();
        _core = new Snn.Modules.LifLayer(name, Parameters.ToCore(), fused ? global::Snn.Kernel.Fused : global::Snn.Kernel.Reference);
        register_module("core", _core);
    }

    /// <summary>The neuron parameters.</summary>
    public LifParameters Parameters { get; }

    /// <summary>Whether the fused multi-step kernel runs the recurrence (otherwise the per-step reference).</summary>
    public bool Fused => _core.Kernel.IsFused;

    /// <summary>Runs the neurons over time dimension 0 of the input currents [T, B, ...].</summary>
    /// <param name="input">Input currents, time-first.</param>
    /// <returns>Spikes, time-first, the shape of the input.</returns>
    public override Tensor forward(Tensor input) => _core.forward(input);
}
