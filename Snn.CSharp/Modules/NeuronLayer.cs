using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>
/// A population of spiking neurons of any model as a TorchSharp module: spikes [T, B, ...] from input currents
/// [T, B, ...], from rest on every call. The threshold and an external current can be changed between runs without
/// touching any weight (threshold-modulated and external-current networks). Create layers with the static factories.
/// IF, LIF, PLIF and (fixed) CuLIF layers run the fused multi-step kernel by default, as <c>snn train</c> does (same
/// spikes and gradients, faster, no double backward); pass <c>fused: false</c> (or set <see cref="Fused"/>) for the
/// per-step reference, which double backward (hypergradients) needs. The other models have only the reference.
/// </summary>
/// <remarks>Tensor ownership: forward returns fresh tensors and never disposes its input.</remarks>
public sealed class NeuronLayer : nn.Module<Tensor, Tensor>
{
    private readonly global::Snn.Modules.NeuronLayer _core;

    private NeuronLayer(global::Snn.Modules.NeuronLayer core) : base(core.GetName())
    {
        _core = core;
        register_module("core", core);
    }

    /// <summary>A layer with a fused kernel, running it unless <paramref name="fused"/> is <c>false</c>.</summary>
    private static NeuronLayer WithKernel(global::Snn.Modules.NeuronLayer core, bool fused)
    {
        core.Kernel = fused ? global::Snn.Kernel.Fused : global::Snn.Kernel.Reference;
        return new(core);
    }

    /// <summary>Integrate-and-fire neurons.</summary>
    /// <param name="parameters">Parameters; <c>null</c> means the defaults.</param>
    /// <param name="fused">Run the fused kernel (default) or, with <c>false</c>, the per-step reference.</param>
    /// <returns>The layer.</returns>
    public static NeuronLayer If(IfParameters? parameters = null, bool fused = true) =>
        WithKernel(new global::Snn.Modules.IfLayer("if", (parameters ?? new IfParameters()).ToCore()), fused);

    /// <summary>Leaky integrate-and-fire neurons.</summary>
    /// <param name="parameters">Parameters; <c>null</c> means the defaults.</param>
    /// <param name="fused">Run the fused kernel (default) or, with <c>false</c>, the per-step reference; a refractory
    /// period or conductance input always runs the reference.</param>
    /// <returns>The layer.</returns>
    public static NeuronLayer Lif(LifParameters? parameters = null, bool fused = true) =>
        WithKernel(new global::Snn.Modules.ModulatedLifLayer("lif", (parameters ?? new LifParameters()).ToCore()), fused);

    /// <summary>Parametric LIF neurons with a trainable time constant per layer or per neuron, run by the fused
    /// kernel.</summary>
    /// <param name="parameters">Parameters; <c>null</c> means the defaults.</param>
    /// <param name="shape">Shape of the time-constant weight: empty for one per layer, or the neuron shape.</param>
    /// <returns>The layer; its parameter "core.w" is trained with the weights.</returns>
    public static NeuronLayer Plif(PlifParameters? parameters = null, params long[] shape) => Plif(parameters, true, shape);

    /// <summary>Parametric LIF neurons with a trainable time constant per layer or per neuron.</summary>
    /// <param name="parameters">Parameters; <c>null</c> means the defaults.</param>
    /// <param name="fused">Run the fused kernel or, with <c>false</c>, the per-step reference.</param>
    /// <param name="shape">Shape of the time-constant weight: empty for one per layer, or the neuron shape.</param>
    /// <returns>The layer; its parameter "core.w" is trained with the weights.</returns>
    public static NeuronLayer Plif(PlifParameters? parameters, bool fused, params long[] shape) =>
        WithKernel(new global::Snn.Modules.PlifLayer("plif", (parameters ?? new PlifParameters()).ToCore(), shape), fused);

    /// <summary>Current-based LIF neurons; with <paramref name="trainable"/> the decays are learned (PCuLIF). Fixed
    /// decays run the fused kernel; learned ones the per-step reference (the only one that trains α and β).</summary>
    /// <param name="parameters">Parameters; <c>null</c> means the defaults.</param>
    /// <param name="trainable">Learn α and β.</param>
    /// <param name="shape">Shape of the learned decays: empty for one per layer, or the neuron shape.</param>
    /// <returns>The layer.</returns>
    public static NeuronLayer CuLif(CuLifParameters? parameters = null, bool trainable = false, params long[] shape) =>
        CuLif(parameters, trainable, !trainable, shape);

    /// <summary>Current-based LIF neurons; with <paramref name="trainable"/> the decays are learned (PCuLIF).</summary>
    /// <param name="parameters">Parameters; <c>null</c> means the defaults.</param>
    /// <param name="trainable">Learn α and β (always by the per-step reference).</param>
    /// <param name="fused">Run fixed decays with the fused kernel or, with <c>false</c>, the per-step reference.</param>
    /// <param name="shape">Shape of the learned decays: empty for one per layer, or the neuron shape.</param>
    /// <returns>The layer.</returns>
    public static NeuronLayer CuLif(CuLifParameters? parameters, bool trainable, bool fused, params long[] shape) =>
        WithKernel(new global::Snn.Modules.CuLifLayer("culif", (parameters ?? new CuLifParameters()).ToCore(), trainable, shape),
                   fused && !trainable);

    /// <summary>LIF neurons with an adaptive threshold.</summary>
    /// <param name="parameters">Parameters; <c>null</c> means the defaults.</param>
    /// <returns>The layer.</returns>
    public static NeuronLayer AdaptiveThreshold(AdaptiveThresholdParameters? parameters = null) =>
        new(new global::Snn.Modules.AdaptiveThresholdLayer("alif", (parameters ?? new AdaptiveThresholdParameters()).ToCore()));

    /// <summary>Adaptive LIF (AdLIF) neurons.</summary>
    /// <param name="parameters">Parameters; <c>null</c> means the defaults.</param>
    /// <returns>The layer.</returns>
    public static NeuronLayer AdLif(AdLifParameters? parameters = null) =>
        new(new global::Snn.Modules.AdLifLayer("adlif", (parameters ?? new AdLifParameters()).ToCore()));

    /// <summary>Quadratic or exponential IF neurons.</summary>
    /// <param name="parameters">Parameters from <see cref="NonlinearIfParameters.Quadratic"/> or <see cref="NonlinearIfParameters.Exponential"/>.</param>
    /// <returns>The layer.</returns>
    public static NeuronLayer NonlinearIf(NonlinearIfParameters parameters) =>
        new(new global::Snn.Modules.NonlinearIfLayer("nonlinear-if", (parameters ?? throw new System.ArgumentNullException(nameof(parameters))).Value));

    /// <summary>Izhikevich neurons (differentiable through surrogate spikes and resets).</summary>
    /// <param name="parameters">Parameters; <c>null</c> means regular spiking (RS).</param>
    /// <returns>The layer.</returns>
    public static NeuronLayer Izhikevich(IzhikevichParameters? parameters = null) =>
        new(new global::Snn.Modules.IzhikevichLayer("izhikevich", (parameters ?? new IzhikevichParameters()).ToCore()));

    /// <summary>Hodgkin-Huxley neurons; inputs are injected currents in µA/cm².</summary>
    /// <param name="parameters">Parameters; <c>null</c> means the defaults.</param>
    /// <returns>The layer.</returns>
    public static NeuronLayer HodgkinHuxley(HodgkinHuxleyParameters? parameters = null) =>
        new(new global::Snn.Modules.HodgkinHuxleyLayer("hh", (parameters ?? new HodgkinHuxleyParameters()).ToCore()));

    /// <summary>Uses <paramref name="threshold"/> (scalar, per neuron, per sample) instead of the parameter threshold.</summary>
    /// <param name="threshold">A tensor broadcastable to the neuron state [B, ...].</param>
    public void SetThreshold(Tensor threshold) => _core.SetThreshold(threshold);

    /// <summary>Adds <paramref name="current"/> to the input of every step.</summary>
    /// <param name="current">A tensor broadcastable to the neuron state [B, ...].</param>
    public void SetExternalCurrent(Tensor current) => _core.SetExternalCurrent(current);

    /// <summary>
    /// Whether IF / LIF / PLIF / CuLIF layers run the fused multi-step kernel (same spikes and gradients, much faster,
    /// but no double backward) instead of the per-step reference; modulated runs always use the reference. The
    /// factories set it for the layers that have a fused kernel.
    /// </summary>
    public bool Fused
    {
        get => _core.Kernel.IsFused;
        set => _core.Kernel = value ? global::Snn.Kernel.Fused : global::Snn.Kernel.Reference;
    }

    /// <summary>Removes the threshold and current modulation.</summary>
    public void ClearModulation() => _core.ClearModulation();

    /// <summary>Runs the neurons from rest over time dimension 0.</summary>
    /// <param name="input">Input currents, time-first [T, B, ...].</param>
    /// <returns>Spikes, time-first, the shape of the input.</returns>
    public override Tensor forward(Tensor input) => _core.forward(input);
}
