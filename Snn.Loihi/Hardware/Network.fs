/// A chain of Loihi CUBA-LIF layers in hardware units (each optionally recurrent onto itself, NetX `dense_rec`),
/// as the emulator runs it.
///
/// Layout: every layer's neurons are numbered in PyTorch's row-major (C, H, W) order (or (N) for dense layers).
/// Lava numbers neurons in (W, H, C) order; the NetX reader and writer convert, the emulator never sees Lava's order.
/// A `flatten` between a convolution and a dense layer is therefore the identity on neuron indices.
namespace Snn.Loihi

open System

/// Geometry of a 2-D convolution (PyTorch cross-correlation semantics, zero padding), all sizes in neurons.
type ConvGeometry =
    { /// Input channels C_in.
      InChannels: int
      /// Input height H_in.
      InHeight: int
      /// Input width W_in.
      InWidth: int
      /// Output channels C_out.
      OutChannels: int
      /// Kernel height kH.
      KernelHeight: int
      /// Kernel width kW.
      KernelWidth: int
      /// Vertical stride.
      StrideH: int
      /// Horizontal stride.
      StrideW: int
      /// Zero padding above and below.
      PaddingH: int
      /// Zero padding left and right.
      PaddingW: int
      /// Vertical dilation.
      DilationH: int
      /// Horizontal dilation.
      DilationW: int
      /// Groups: C_in and C_out must both be multiples of it.
      Groups: int }

    /// Output height: floor((H_in + 2 p - d (k - 1) - 1) / s) + 1.
    member g.OutHeight = (g.InHeight + 2 * g.PaddingH - g.DilationH * (g.KernelHeight - 1) - 1) / g.StrideH + 1

    /// Output width: floor((W_in + 2 p - d (k - 1) - 1) / s) + 1.
    member g.OutWidth = (g.InWidth + 2 * g.PaddingW - g.DilationW * (g.KernelWidth - 1) - 1) / g.StrideW + 1

/// The synapses into a layer. Weights are integer mantissas (Loihi: 8 bits, mixed sign, -256..254 even for lava-dl).
type Connection =
    /// All-to-all synapses; `Weights` is row-major (out, in), `Inputs` = in.
    | Dense of Inputs: int * Weights: int[]
    /// A 2-D convolution; `Weights` is row-major (C_out, C_in / groups, kH, kW) as PyTorch stores it.
    | Conv of Geometry: ConvGeometry * Weights: int[]

    /// The number of presynaptic neurons.
    member c.InputCount =
        match c with
        | Dense (inputs, _) -> inputs
        | Conv (g, _) -> g.InChannels * g.InHeight * g.InWidth

    /// The number of postsynaptic neurons.
    member c.OutputCount =
        match c with
        | Dense (inputs, w) -> if inputs = 0 then 0 else w.Length / inputs
        | Conv (g, _) -> g.OutChannels * g.OutHeight * g.OutWidth

    /// The weight mantissas, whatever the kind.
    member c.WeightValues =
        match c with
        | Dense (_, w) -> w
        | Conv (_, w) -> w

/// The CUBA-LIF neurons of one layer in Lava's bit-accurate units (see `CubaLif`).
type LayerNeurons =
    { /// Current decay du (0..4095); the decay applied is du + 1 out of 4096 (NetX iDecay = du + 1).
      Du: int
      /// Voltage decay dv (0..4095) out of 4096 (NetX vDecay).
      Dv: int
      /// Threshold mantissa (0..131071); a neuron spikes when v > Vth << 6.
      Vth: int
      /// Bias exponent (0..7); the per-step bias is BiasMant << BiasExp.
      BiasExp: int
      /// Bias mantissa per neuron (13-bit signed, -4096..4095).
      BiasMant: int[] }

/// One layer: its neurons and the synapses that feed it.
type Layer =
    { /// A name for reports ("0", "1", ... for NetX files, node names for NIR).
      Name: string
      /// Neuron grid: [| C; H; W |] for convolutional layers, [| N |] otherwise.
      Shape: int[]
      /// The neurons.
      Neurons: LayerNeurons
      /// Synapses from the previous layer; None for the input layer (driven by bias or by given spikes).
      Incoming: Connection option
      /// Weight exponent: the summed input is shifted left by it (right, arithmetically, when negative).
      WeightExp: int
      /// Axonal delay in steps (0..62) of the synapses into each neuron of this layer; None means 0 everywhere.
      /// A spike sent at step t arrives at step t + 1 + delay.
      Delays: int[] option
      /// Recurrent synapses from this layer to itself, row-major (out, out); None for feed-forward layers.
      Recurrent: int[] option }

    /// The number of neurons.
    member l.Count = l.Shape |> Array.fold (*) 1

/// A chain of layers; layer 0 is the input layer.
type Network =
    { /// The layers in order.
      Layers: Layer[] }

/// Checks of a network against Loihi's field widths and its own shapes.
[<RequireQualifiedAccess>]
module Network =

    let private fail (name: string) (message: string) = raise (ArgumentException ($"{name}: {message}", "network"))

    /// Checks every layer; raises ArgumentException naming the layer and the field. Returns the network.
    let validate (network: Network) : Network =
        if network.Layers.Length = 0 then fail "network" "has no layers"
        network.Layers
        |> Array.iteri (fun i layer ->
            let name = $"layer {i} ('{layer.Name}')"
            let n = layer.Count
            let p = layer.Neurons
            let check field lo hi v =
                if v < lo || v > hi then fail name $"{field} = {v} lies outside [{lo}, {hi}]"
            check "Du" -1 4095 p.Du
            check "Dv" 0 4096 p.Dv
            check "Vth" 0 262143 p.Vth
            check "BiasExp" 0 7 p.BiasExp
            if p.BiasMant.Length <> n then fail name $"has {p.BiasMant.Length} bias mantissas for {n} neurons"
            p.BiasMant |> Array.iter (check "BiasMant" -4096 4095)
            match layer.Incoming with
            | None -> if i > 0 then fail name "has no incoming synapses but is not the input layer"
            | Some c ->
                if i = 0 then fail name "the input layer cannot have incoming synapses"
                if c.InputCount <> network.Layers.[i - 1].Count then
                    fail name $"its synapses expect {c.InputCount} inputs but the previous layer has {network.Layers.[i - 1].Count} neurons"
                if c.OutputCount <> n then fail name $"its synapses produce {c.OutputCount} outputs for {n} neurons"
                match c with
                | Dense (inputs, w) ->
                    if inputs <= 0 || w.Length % inputs <> 0 then fail name $"dense weights ({w.Length}) are not a multiple of {inputs} inputs"
                | Conv (g, w) ->
                    if g.Groups <= 0 || g.InChannels % g.Groups <> 0 || g.OutChannels % g.Groups <> 0 then
                        fail name $"groups = {g.Groups} must divide the {g.InChannels} input and {g.OutChannels} output channels"
                    let expected = g.OutChannels * (g.InChannels / g.Groups) * g.KernelHeight * g.KernelWidth
                    if w.Length <> expected then fail name $"conv weights have {w.Length} values, expected {expected}"
                    if g.OutHeight < 1 || g.OutWidth < 1 then fail name "the convolution output is empty"
            match layer.Delays with
            | Some d ->
                if d.Length <> n then fail name $"has {d.Length} delays for {n} neurons"
                d |> Array.iter (check "delay" 0 62)
            | None -> ()
            match layer.Recurrent with
            | Some _ when i = 0 -> fail name "the input layer cannot have recurrent synapses"
            | Some r when r.Length <> n * n -> fail name $"recurrent weights have {r.Length} values, expected {n * n}"
            | _ -> ())
        network

    /// The total number of neurons.
    let neuronCount (network: Network) : int = network.Layers |> Array.sumBy (fun l -> l.Count)
