using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>
/// A fully connected spiking network, Linear → LIF → Linear → LIF, with each Linear run once over the merged
/// [T·B] batch. Input [T, B, inputs], output spikes [T, B, outputs]. Its state dict is the F# core's
/// <c>Snn.Modules.DenseSnn</c>'s, key for key (fc1.inner.weight, fc1.inner.bias, fc2.inner.weight, fc2.inner.bias),
/// so a file saved from either side loads into the other.
/// </summary>
public sealed class DenseSnn : nn.Module<Tensor, Tensor>, global::Snn.Modules.ILayerChain
{
    private readonly Snn.Modules.DenseSnn _core;

    /// <summary>Creates the network with freshly initialised weights (seed them with <c>torch.manual_seed</c>).</summary>
    /// <param name="inputs">Input features per time step.</param>
    /// <param name="hidden">Hidden LIF neurons.</param>
    /// <param name="outputs">Output LIF neurons (one per class).</param>
    /// <param name="neuron">Neuron parameters of both LIF layers; <c>null</c> means the defaults.</param>
    /// <param name="weightGain">
    /// Scale of the default Linear initialisation (uniform in ±1/√fan_in); a gain of 2-8 wakes up networks whose sparse
    /// binary inputs leave them silent at the default scale.
    /// </param>
    /// <param name="fused">
    /// Run the LIF recurrences with the fused multi-step kernel (the default, as <c>snn train</c> does: same spikes
    /// and gradients, faster, no double backward); <c>false</c> runs the per-step reference functions. Neuron
    /// options the fused kernel lacks (refractory period, conductance input) fall back to the reference either way.
    /// </param>
    /// <exception cref="System.ArgumentException">A size or the gain is not positive, or a neuron parameter is out of range.</exception>
    public DenseSnn(int inputs, int hidden, int outputs, LifParameters? neuron = null, double weightGain = 1.0, bool fused = true) : base("DenseSnn")
    {
        Fused = fused;
        Inputs = inputs;
        _core = new Snn.Modules.DenseSnn(inputs, hidden, outputs, (neuron ?? new LifParameters()).ToCore(), weightGain,
                                         fused ? global::Snn.Kernel.Fused : global::Snn.Kernel.Reference);
        // The core's layers become this module's own children under their own names (not under "core."), so the
        // state dict is the F# network's; the core holds no tensors outside them.
        foreach (var (name, child) in _core.named_children()) register_module(name, child);
    }

    /// <summary>Switches training / evaluation mode here, in the adopted layers and in the F# core itself.</summary>
    /// <param name="train">Training mode when <c>true</c>.</param>
    public override void train(bool train = true)
    {
        base.train(train);
        _core.train(train);
    }

    /// <summary>Whether the LIF layers run the fused multi-step kernel.</summary>
    public bool Fused { get; }

    /// <summary>Output spikes [T, B, outputs] for input [T, B, inputs].</summary>
    /// <param name="input">Time-first input.</param>
    /// <returns>Time-first output spikes.</returns>
    public override Tensor forward(Tensor input) => _core.forward(input);

    /// <summary>The layers forward runs in order (fc1, lif1, fc2, lif2), for the calibrated initialisation and
    /// deployment.</summary>
    nn.Module<Tensor, Tensor>[] global::Snn.Modules.ILayerChain.Chain => ((global::Snn.Modules.ILayerChain)_core).Chain;

    /// <summary>The network on Loihi: both layers map exactly onto CUBA neurons (current decay 1, voltage decay
    /// 1 − β, weights and bias scaled by 1 − β) and are quantized with lava-dl's rules.</summary>
    /// <returns>The quantized network.</returns>
    /// <exception cref="System.ArgumentException">The neurons cannot be mapped (soft reset, a refractory period,
    /// conductance input, a non-zero rest or reset potential); the message says which.</exception>
    public LoihiNetwork ToLoihi() => this.ToLoihi(Inputs);

    /// <summary>Input features per time step.</summary>
    public int Inputs { get; }
}
