/// Loihi's fixed-point arithmetic: 12-bit fractional decays, truncation toward zero, 24-bit state.
/// Source: Lava's bit-accurate CUBA-LIF model (lava/proc/lif/models.py), restated in docs/loihi.md §1.
[<RequireQualifiedAccess>]
module Snn.Loihi.FixedPoint

/// 2^23: the magnitude bound of Loihi's 24-bit two's-complement state.
let limit23 : int64 = 1L <<< 23

/// Multiplication by a 12-bit fraction with truncation toward zero: rtz(p) = sign(p) · (|p| >> 12),
/// symmetric for negative products (an arithmetic shift alone would round them toward -∞).
let rtz (product: int64) : int64 =
    if product >= 0L then product >>> 12 else -((-product) >>> 12)

/// Decays a state by d/4096: rtz(x · (4096 - d)), with the product formed in 64 bits.
let decay (d: int) (x: int64) : int64 = rtz (x * int64 (4096 - d))

/// Wraps into Loihi's 24-bit current register: values above 2^23 lose 2^24, values at or below -2^23 gain 2^24
/// (so +2^23 survives and -2^23 becomes +2^23, as in Lava).
let wrap24 (x: int64) : int64 =
    if x > limit23 then x - (1L <<< 24)
    elif x <= -limit23 then x + (1L <<< 24)
    else x

/// Saturates to the voltage register's range ±(2^23 - 1).
let saturate24 (x: int64) : int64 = max (-(limit23 - 1L)) (min (limit23 - 1L) x)
