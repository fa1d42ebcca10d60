using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>
/// A fully connected spiking network, Linear → LIF → Linear → LIF, with each Linear run once over the merged
/// [T·B] batch. Input [T, B, inputs], output spikes [T, B, outputs].
/// </summary>
public sealed class DenseSnn : nn.Module<Tensor, Tensor>
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
    /// <exception cref="System.ArgumentException">A size or the gain is not positive, or a neuron parameter is out of range.</exception>
    public DenseSnn(int inputs, int hidden, int outputs, LifParameters? neuron = null, double weightGain = 1.0) : base("DenseSnn")
    {
        _core = new Snn.Modules.DenseSnn(inputs, hidden, outputs, (neuron ?? new LifParameters()).ToCore(), weightGain);
        register_module("core", _core);
    }

    /// <summary>Output spikes [T, B, outputs] for input [T, B, inputs].</summary>
    /// <param name="input">Time-first input.</param>
    /// <returns>Time-first output spikes.</returns>
    public override Tensor forward(Tensor input) => _core.forward(input);
}
