/// TorchSharp modules for spiking networks. They hold trainable tensors and call the pure functions of the core;
/// the dynamics are written once, in `Snn.Neurons`. All tensors are time-first, [T; B; ...].
namespace Snn.Modules

open TorchSharp
open Snn.Neurons
open Snn.Tensors

/// Runs a stateless layer (Linear, Conv, ...) once over the merged [T·B; ...] batch instead of T times:
/// [T; B; ...] → [T·B; ...] → layer → [T; B; ...]. One large GEMM instead of T small ones.
type TimeDistributed(name: string, inner: torch.nn.Module<Tensor, Tensor>) as this =
    inherit torch.nn.Module<Tensor, Tensor>(name)
    do this.register_module ("inner", inner)

    /// The wrapped layer.
    member _.Inner = inner

    /// Applies the layer to every time step of x ([T; B; ...]).
    override _.forward (x: Tensor) : Tensor =
        if x.dim () < 2 then invalidArg "x" $"must be time-first [T; B; ...], got shape %A{x.shape}"
        let t, b = x.shape.[0], x.shape.[1]
        let y = inner.forward (x.flatten (0L, 1L))
        y.unflatten (0L, [| t; b |])

/// A population of LIF neurons over time: spikes [T; B; ...] from input currents [T; B; ...], starting at rest on
/// every call (state is explicit, so nothing needs resetting between batches).
type LifLayer(name: string, neuron: LifParameters) =
    inherit torch.nn.Module<Tensor, Tensor>(name)
    let neuron = Lif.validate neuron

    /// The neuron parameters.
    member _.Neuron = neuron

    /// Runs the neurons from rest over time dimension 0 of the input currents.
    override _.forward (input: Tensor) : Tensor = Lif.unroll neuron input

/// A fully connected spiking network: Linear → LIF → Linear → LIF, each Linear run over the merged [T·B] batch.
/// Input [T; B; inputs] (e.g. flattened event frames), output spikes [T; B; outputs].
type DenseSnn(inputs: int, hidden: int, outputs: int, neuron: LifParameters) as this =
    inherit torch.nn.Module<Tensor, Tensor>("DenseSnn")
    do
        if inputs <= 0 then invalidArg "inputs" $"must be > 0, got {inputs}"
        if hidden <= 0 then invalidArg "hidden" $"must be > 0, got {hidden}"
        if outputs <= 0 then invalidArg "outputs" $"must be > 0, got {outputs}"
    let fc1 = new TimeDistributed("fc1", torch.nn.Linear (int64 inputs, int64 hidden))
    let lif1 = new LifLayer("lif1", neuron)
    let fc2 = new TimeDistributed("fc2", torch.nn.Linear (int64 hidden, int64 outputs))
    let lif2 = new LifLayer("lif2", neuron)
    do
        this.register_module ("fc1", fc1)
        this.register_module ("lif1", lif1)
        this.register_module ("fc2", fc2)
        this.register_module ("lif2", lif2)

    /// Output spikes [T; B; outputs] for input [T; B; inputs].
    override _.forward (x: Tensor) : Tensor =
        x |> fc1.forward |> lif1.forward |> fc2.forward |> lif2.forward
