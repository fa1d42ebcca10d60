/// Whole-network quantization: a `FloatNetwork` becomes the emulator's fixed-point `Network` with lava-dl's mapping
/// (docs/loihi.md §2), layer by layer, with a per-layer scale s folded into the threshold:
///
///     weight mantissa  = even(w · s · 64), clamped to [-256, 254]         (8 bits, mixed sign, exponent 0;
///                                                                         recurrent weights the same, same s)
///     iDecay           = round(4096 · currentDecay), du = iDecay - 1      (Lava applies du + 1)
///     vDecay = dv      = round(4096 · voltageDecay)
///     vThMant          = floor(threshold · s · 64), clamped to [0, 131071]
///     bias mantissa    = round(bias · s · 64), clamped to [-4096, 4095], bias exponent 6
///
/// Why the scale is free: the float state maps to the hardware state as u = I · 4096 · s and v = V · 4096 · s, and
/// the dynamics are linear in that factor, so multiplying weights, bias and threshold by the same s changes only
/// the rounding. The automatic scale uses the 8-bit weight range fully (largest |w| -> 254) unless the bias or the
/// threshold would then overflow their fields. Rounding is half to even, as lava-dl's.
namespace Snn.Loihi

open System

/// A quantized network, the scale each layer used and every value that had to be clipped.
type QuantizedNetwork =
    { /// The fixed-point network the emulator runs (layer 0 is a relay input layer: iDecay 4096, vDecay 4096, vth 0).
      Network: Network
      /// The scale s of each layer (1 for the input layer).
      Scales: float[]
      /// Every clipped value, keyed "<layer name>/<field>[index]".
      Clips: Quantization.Clip list }

/// Quantizing float networks.
[<RequireQualifiedAccess>]
module NetworkQuantizer =

    /// Largest weight mantissa of lava-dl's 8-bit mixed-sign weights.
    let private weightLimit = 254.0

    /// The scale that maps the largest |weight| to mantissa 254, lowered when the bias (4095) or the threshold
    /// (131071) would not fit at that scale; 1 when the layer has neither weights nor bias.
    let autoScale (layer: FloatLayer) : float =
        let maxAbs (xs: float[]) = if xs.Length = 0 then 0.0 else xs |> Array.map abs |> Array.max
        let w = layer.Incoming |> Option.map (fun c -> maxAbs c.WeightValues) |> Option.defaultValue 0.0
        // Recurrent synapses feed the same current, so they share the layer's scale.
        let w = max w (layer.Recurrent |> Option.map maxAbs |> Option.defaultValue 0.0)
        let b = maxAbs layer.Bias
        let limits =
            [ if w > 0.0 then yield weightLimit / (64.0 * w)
              if b > 0.0 then yield 4095.0 / (64.0 * b)
              if layer.Threshold > 0.0 then yield 131071.0 / (64.0 * layer.Threshold) ]
        match limits with
        | [] -> 1.0
        | _ when w = 0.0 && b = 0.0 -> 1.0
        | _ -> List.min limits

    /// The relay neurons of a quantized input layer: they spike on any positive input (only used when the input
    /// layer is driven by biases instead of given spikes).
    let private inputNeurons (count: int) : LayerNeurons =
        { Du = 4095; Dv = 4096; Vth = 0; BiasExp = 6; BiasMant = Array.zeroCreate count }

    let private biasMantissas (name: string) (scale: float) (bias: float[]) : int[] * Quantization.Clip list =
        let clips = ResizeArray<Quantization.Clip> ()
        let mantissas =
            bias |> Array.mapi (fun i b ->
                let raw = Math.Round (Quantization.snap (b * scale * 64.0), MidpointRounding.ToEven)
                let clamped = max -4096.0 (min 4095.0 raw)
                if clamped <> raw then clips.Add { Key = $"{name}[{i}]"; Original = b * scale; Mantissa = int clamped }
                int clamped)
        mantissas, List.ofSeq clips

    /// Quantizes every layer. `scales` gives one scale per layer (layer 0's is ignored); None chooses `autoScale`
    /// for each layer. Raises ArgumentException naming the layer for an invalid network or scale.
    let quantize (scales: float[] option) (network: FloatNetwork) : QuantizedNetwork =
        let network = FloatNetwork.validate network
        let layers = network.Layers
        let chosen =
            match scales with
            | Some s when s.Length <> layers.Length -> invalidArg "scales" $"has {s.Length} entries for {layers.Length} layers"
            | Some s ->
                s |> Array.iteri (fun i x -> if i > 0 && not (x > 0.0 && Double.IsFinite x) then invalidArg "scales" $"scales.[{i}] = {x} must be finite and > 0")
                Array.append [| 1.0 |] s.[1..]
            | None -> layers |> Array.mapi (fun i l -> if i = 0 then 1.0 else autoScale l)
        let clips = ResizeArray<Quantization.Clip> ()
        let quantized =
            layers
            |> Array.mapi (fun i layer ->
                match layer.Incoming with
                | None -> { Name = layer.Name; Shape = layer.Shape; Neurons = inputNeurons layer.Count; Incoming = None; WeightExp = 0; Delays = None; Recurrent = None }
                | Some c ->
                    let s = chosen.[i]
                    let weights, wc = Quantization.weights $"{layer.Name}/weight" s c.WeightValues
                    let iDecay, ic = Quantization.decay $"{layer.Name}/iDecay" layer.CurrentDecay
                    let vDecay, vc = Quantization.decay $"{layer.Name}/vDecay" layer.VoltageDecay
                    let vth, tc = Quantization.threshold $"{layer.Name}/vThMant" s layer.Threshold
                    let bias, bc = biasMantissas $"{layer.Name}/bias" s layer.Bias
                    let recurrent, rc =
                        match layer.Recurrent with
                        | Some r -> let m, c = Quantization.weights $"{layer.Name}/weight_rec" s r in Some m, c
                        | None -> None, []
                    clips.AddRange (wc @ ic @ vc @ tc @ bc @ rc)
                    { Name = layer.Name; Shape = layer.Shape
                      Neurons = { Du = iDecay - 1; Dv = vDecay; Vth = vth; BiasExp = 6; BiasMant = bias }
                      Incoming = Some (c.WithIntegerWeights weights); WeightExp = 0; Delays = None; Recurrent = recurrent })
        { Network = Network.validate { Layers = quantized }; Scales = chosen; Clips = List.ofSeq clips }

    /// Threshold mantissas for new float thresholds (one per layer; layer 0's is ignored and its own mantissa kept)
    /// under the scales the network was quantized with, for `RunOptions.Thresholds`: threshold modulation at run
    /// time without re-quantizing any weight. Returns the mantissas and the clipped thresholds.
    let thresholdMantissas (quantized: QuantizedNetwork) (thresholds: float[]) : int[] * Quantization.Clip list =
        let layers = quantized.Network.Layers
        if thresholds.Length <> layers.Length then invalidArg "thresholds" $"has {thresholds.Length} entries for {layers.Length} layers"
        let pairs =
            thresholds |> Array.mapi (fun i t ->
                if i = 0 then layers.[0].Neurons.Vth, []
                elif not (t >= 0.0 && Double.IsFinite t) then invalidArg "thresholds" $"thresholds.[{i}] = {t} must be finite and >= 0"
                else Quantization.threshold $"{layers.[i].Name}/vThMant" quantized.Scales.[i] t)
        pairs |> Array.map fst, pairs |> Array.toList |> List.collect snd

    /// A clip report: one line per clipped value, or a line saying nothing was clipped.
    let report (quantized: QuantizedNetwork) : string =
        match quantized.Clips with
        | [] -> "no value was clipped"
        | clips ->
            let lines = clips |> List.map (fun c -> $"{c.Key}: {c.Original:G6} (after the layer scale) clipped to mantissa {c.Mantissa}")
            String.Join (Environment.NewLine, $"{clips.Length} values clipped:" :: lines)
