/// Synapses compiled into per-source fan-out lists, the way a Loihi core stores them: a spike of source i touches
/// exactly the synapses in Targets.[Offsets.[i] .. Offsets.[i+1]-1]. Zero weights are not stored (they add nothing),
/// so the work of a step is proportional to the spikes and their fan-out, not to the size of the weight matrix.
namespace Snn.Loihi

/// Compressed sparse rows indexed by presynaptic neuron.
type FanOut =
    { /// Offsets.[i] is the first synapse of source i; Offsets.[sources] = number of synapses.
      Offsets: int[]
      /// Postsynaptic neuron of each synapse.
      Targets: int[]
      /// Weight mantissa of each synapse.
      Weights: int[] }

    /// The number of stored (non-zero) synapses.
    member f.SynapseCount = f.Targets.Length

    /// The number of presynaptic neurons.
    member f.SourceCount = f.Offsets.Length - 1

/// Building fan-out tables from dense and convolutional connections.
[<RequireQualifiedAccess>]
module FanOut =

    /// Builds the table from a function listing (target, weight) of every synapse of each source.
    let private build (sources: int) (synapsesOf: int -> (int -> int -> unit) -> unit) : FanOut =
        let counts = Array.zeroCreate<int> (sources + 1)
        for i in 0 .. sources - 1 do
            synapsesOf i (fun _ w -> if w <> 0 then counts.[i + 1] <- counts.[i + 1] + 1)
        for i in 1 .. sources do
            counts.[i] <- counts.[i] + counts.[i - 1]
        let targets = Array.zeroCreate<int> counts.[sources]
        let weights = Array.zeroCreate<int> counts.[sources]
        for i in 0 .. sources - 1 do
            let mutable k = counts.[i]
            synapsesOf i (fun target w ->
                if w <> 0 then
                    targets.[k] <- target
                    weights.[k] <- w
                    k <- k + 1)
        { Offsets = counts; Targets = targets; Weights = weights }

    /// Fan-out of a row-major (out, in) weight matrix.
    let ofMatrix (inputs: int) (weights: int[]) : FanOut =
        let outputs = if inputs = 0 then 0 else weights.Length / inputs
        build inputs (fun i emit ->
            for j in 0 .. outputs - 1 do
                emit j weights.[j * inputs + i])

    /// Fan-out of a convolution: out[k, oy, ox] += w[k, c - g·C_in/G, ky, kx] · in[c, oy·s - p + ky·d, ox·s - p + kx·d].
    let ofConv (g: ConvGeometry) (weights: int[]) : FanOut =
        let inPerGroup = g.InChannels / g.Groups
        let outPerGroup = g.OutChannels / g.Groups
        let oh, ow = g.OutHeight, g.OutWidth
        let sources = g.InChannels * g.InHeight * g.InWidth
        build sources (fun i emit ->
            let c = i / (g.InHeight * g.InWidth)
            let iy = i / g.InWidth % g.InHeight
            let ix = i % g.InWidth
            let group = c / inPerGroup
            let cInGroup = c - group * inPerGroup
            for k in group * outPerGroup .. (group + 1) * outPerGroup - 1 do
                for ky in 0 .. g.KernelHeight - 1 do
                    let y = iy + g.PaddingH - ky * g.DilationH
                    if y >= 0 && y % g.StrideH = 0 && y / g.StrideH < oh then
                        let oy = y / g.StrideH
                        for kx in 0 .. g.KernelWidth - 1 do
                            let x = ix + g.PaddingW - kx * g.DilationW
                            if x >= 0 && x % g.StrideW = 0 && x / g.StrideW < ow then
                                let ox = x / g.StrideW
                                let w = weights.[((k * inPerGroup + cInGroup) * g.KernelHeight + ky) * g.KernelWidth + kx]
                                emit ((k * oh + oy) * ow + ox) w)

    /// Fan-out of any connection.
    let ofConnection (connection: Connection) : FanOut =
        match connection with
        | Dense (inputs, w) -> ofMatrix inputs w
        | Conv (g, w) -> ofConv g w
