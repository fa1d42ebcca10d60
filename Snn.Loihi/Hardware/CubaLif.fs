/// Bit-accurate current-based LIF neuron of Loihi, as Lava's "bit_accurate_loihi" model computes it.
///
/// Per step, for every neuron (integers; a_in int16, u and v 24-bit):
///
///     b   = bias_mant << bias_exp
///     u  <- wrap24( rtz(u · (4096 - (du + 1))) + (a_in << 6) )     (note the hidden +1 on the current decay)
///     v  <- saturate24( rtz(v · (4096 - dv)) + u + b )
///     s   = v > (vth << 6)                                         (strictly greater)
///     v  <- 0 where s                                              (u is not reset)
///
/// Reference: lava/proc/lif/models.py (PyLifModelBitAcc); docs/loihi.md §1 lists the test vectors.
namespace Snn.Loihi

open System

/// Parameters of a Loihi CUBA-LIF population, in hardware units.
type CubaLifParameters =
    { /// Current decay du, 12-bit unsigned (0..4095); the decay applied is du + 1.
      Du: int
      /// Voltage decay dv, 12-bit unsigned (0..4095).
      Dv: int
      /// Bias mantissa, 13-bit signed (-4096..4095).
      BiasMant: int
      /// Bias exponent, 3-bit (0..7).
      BiasExp: int
      /// Threshold mantissa vth, 17-bit unsigned (0..131071); the effective threshold is vth << 6.
      Vth: int }

    /// du = dv = 0, no bias, vth = 10.
    static member Default = { Du = 0; Dv = 0; BiasMant = 0; BiasExp = 0; Vth = 10 }

/// State of a population: current u and voltage v per neuron (24-bit values held in int32).
type CubaLifState =
    { /// Synaptic current per neuron.
      U: int32[]
      /// Membrane voltage per neuron.
      V: int32[] }

/// The bit-accurate CUBA-LIF step.
[<RequireQualifiedAccess>]
module CubaLif =

    let private range (name: string) (lo: int) (hi: int) (value: int) =
        if value < lo || value > hi then
            invalidArg name $"must lie in [{lo}, {hi}] (its hardware field width), got {value}"

    /// Checks every field against its hardware width; raises ArgumentException naming the field.
    let validate (p: CubaLifParameters) : CubaLifParameters =
        range "Du" 0 4095 p.Du
        range "Dv" 0 4095 p.Dv
        range "BiasMant" -4096 4095 p.BiasMant
        range "BiasExp" 0 7 p.BiasExp
        range "Vth" 0 131071 p.Vth
        p

    /// A population of `count` neurons at rest (u = v = 0).
    let initialState (count: int) : CubaLifState =
        if count < 0 then invalidArg "count" $"must be >= 0, got {count}"
        { U = Array.zeroCreate count; V = Array.zeroCreate count }

    /// One step with synaptic input `input` (one int16 per neuron); returns the new state and the spikes.
    let step (p: CubaLifParameters) (state: CubaLifState) (input: int16[]) : CubaLifState * bool[] =
        let n = state.U.Length
        if state.V.Length <> n then invalidArg "state" $"U has {n} neurons but V has {state.V.Length}"
        if input.Length <> n then invalidArg "input" $"has {input.Length} values for {n} neurons"
        let bias = int64 p.BiasMant <<< p.BiasExp
        let threshold = int64 p.Vth <<< 6
        let u = Array.zeroCreate<int32> n
        let v = Array.zeroCreate<int32> n
        let spikes = Array.zeroCreate<bool> n
        for i in 0 .. n - 1 do
            let ui = FixedPoint.wrap24 (FixedPoint.decay (p.Du + 1) (int64 state.U.[i]) + (int64 input.[i] <<< 6))
            let vi = FixedPoint.saturate24 (FixedPoint.decay p.Dv (int64 state.V.[i]) + ui + bias)
            u.[i] <- int32 ui
            if vi > threshold then
                spikes.[i] <- true
                v.[i] <- 0
            else
                v.[i] <- int32 vi
        { U = u; V = v }, spikes

    /// Runs `step` over time: inputs.[t] holds the int16 input of every neuron at step t (t from 0).
    /// Returns the state after every step (v already zeroed where the neuron spiked, as Lava's probes show it)
    /// and the spikes of every step.
    let run (p: CubaLifParameters) (count: int) (inputs: int16[][]) : CubaLifState[] * bool[][] =
        let p = validate p
        let mutable state = initialState count
        let states = Array.zeroCreate inputs.Length
        let spikes = Array.zeroCreate inputs.Length
        for t in 0 .. inputs.Length - 1 do
            let s, z = step p state inputs.[t]
            state <- s
            states.[t] <- s
            spikes.[t] <- z
        states, spikes
