/// The surrogate derivatives s'(x) of the fused kernels, each family's formula written once and instantiated twice:
/// on float32 (the scalar loops and the tails of the SIMD loops) and on System.Numerics.Vector<float32> (the SIMD
/// loops, `Vector<float32>.Count` neurons at a time). The autograd form (`Surrogate.derivative`, on tensors, twice
/// differentiable) stays in Neurons/Surrogate.fs; tests check the fused kernels against it.
///
/// The formulas are generic over the lane type through F# inline member constraints on a witness type (`Lanes`):
/// + - * / and unary minus are the lane type's own operators, and abs, exp, max, a compare-and-select and the
/// broadcast of a constant are `Lanes` overloads. Both instantiations therefore run the same operations in the
/// same order, so they round identically in float32, exp included: e^x is written here once over the same lane
/// operations (`LaneMath.exponential`, a float32 polynomial that the JIT inlines into the loops), because .NET's
/// Vector.Exp is a call per vector that widens to float64 and makes the caller's loop keep its vectors on the stack,
/// and it rounds differently from MathF.Exp.
namespace Snn

open System
open System.Numerics
open System.Runtime.CompilerServices

/// The lane operations of the generic surrogate formulas, one overload per lane type (float32, Vector<float32>).
/// Used as a witness by `SurrogateDerivatives.formula`, never instantiated.
[<Sealed>]
type Lanes private () =
    /// |x| of one float32.
    static member inline AbsOf (x: float32) : float32 = abs x
    /// |x| per lane.
    static member inline AbsOf (x: Vector<float32>) : Vector<float32> = Vector.Abs x
    /// max(a, b) of two float32 (F# max).
    static member inline MaxOf (a: float32, b: float32) : float32 = max a b
    /// max(a, b) per lane (Vector.Max).
    static member inline MaxOf (a: Vector<float32>, b: Vector<float32>) : Vector<float32> = Vector.Max (a, b)
    /// x clamped to [lo, hi], NaN kept (both comparisons are false for NaN, which then passes through).
    static member inline ClampOf (x: float32, lo: float32, hi: float32) : float32 =
        let above = if lo > x then lo else x
        if hi < above then hi else above
    /// x clamped to [lo, hi] per lane, NaN kept: the same rule as the float32 overload, which is also what the
    /// x86 instructions behind MaxNative/MinNative do with x as their second operand (IEEE Max/Min cost four more
    /// instructions per vector to order ±0 and NaN).
    static member inline ClampOf (x: Vector<float32>, lo: Vector<float32>, hi: Vector<float32>) : Vector<float32> =
        Vector.MinNative (hi, Vector.MaxNative (lo, x))
    /// a·b + c, rounded once.
    static member inline FusedMultiplyAddOf (a: float32, b: float32, c: float32) : float32 = MathF.FusedMultiplyAdd (a, b, c)
    /// a·b + c per lane, rounded once.
    static member inline FusedMultiplyAddOf (a: Vector<float32>, b: Vector<float32>, c: Vector<float32>) : Vector<float32> =
        Vector.FusedMultiplyAdd (a, b, c)
    /// x rounded to the nearest integer, ties to even.
    static member inline RoundOf (x: float32) : float32 = MathF.Round x
    /// x rounded to the nearest integer per lane, ties to even.
    static member inline RoundOf (x: Vector<float32>) : Vector<float32> = Vector.Round x
    /// 2^(n - 1) for an integral n in [-125, 128] (its exponent field written directly), +0 for n = -126; some
    /// finite value for NaN, whose product with the NaN it scales is NaN.
    static member inline HalfPowerOfTwoOf (n: float32) : float32 = BitConverter.Int32BitsToSingle ((int n + 126) <<< 23)
    /// 2^(n - 1) per lane (see the float32 overload; the conversion needs no saturation for these n).
    static member inline HalfPowerOfTwoOf (n: Vector<float32>) : Vector<float32> =
        Vector.AsVectorSingle (Vector.ShiftLeft (Vector.ConvertToInt32Native n + Vector<int> 126, 23))
    /// `whenLess` if a < b, else `otherwise`.
    static member inline SelectLess (a: float32, b: float32, whenLess: float32, otherwise: float32) : float32 =
        if a < b then whenLess else otherwise
    /// Per lane: `whenLess` where a < b, else `otherwise`.
    static member inline SelectLess (a: Vector<float32>, b: Vector<float32>, whenLess: Vector<float32>,
                                     otherwise: Vector<float32>) : Vector<float32> =
        Vector.ConditionalSelect (Vector.LessThan (a, b), whenLess, otherwise)
    /// The constant c as a float32 (the second argument only selects the lane type).
    static member inline Broadcast (c: float32, _: float32) : float32 = c
    /// The constant c in every lane (the second argument only selects the lane type).
    static member inline Broadcast (c: float32, _: Vector<float32>) : Vector<float32> = Vector<float32> c

/// The lane operations of `Lanes` as functions of a witness `w` (F# member constraints), and e^x written once over
/// them.
module LaneMath =

    /// |x| through the witness `w`.
    let inline absOf (_: ^W) (x: ^T) : ^T = (^W : (static member AbsOf : ^T -> ^T) x)
    /// max(a, b) through the witness `w`.
    let inline maxOf (_: ^W) (a: ^T) (b: ^T) : ^T = (^W : (static member MaxOf : ^T * ^T -> ^T) (a, b))
    /// `whenLess` where a < b, else `otherwise`, through the witness `w`.
    let inline selectLess (_: ^W) (a: ^T) (b: ^T) (whenLess: ^T) (otherwise: ^T) : ^T =
        (^W : (static member SelectLess : ^T * ^T * ^T * ^T -> ^T) (a, b, whenLess, otherwise))
    /// The float32 constant c in the lane type ^T, through the witness `w`.
    let inline broadcast (_: ^W) (c: float32) : ^T =
        (^W : (static member Broadcast : float32 * ^T -> ^T) (c, Unchecked.defaultof< ^T>))

    /// x clamped to [lo, hi] through the witness `w`.
    let inline clampOf (_: ^W) (x: ^T) (lo: ^T) (hi: ^T) : ^T = (^W : (static member ClampOf : ^T * ^T * ^T -> ^T) (x, lo, hi))
    /// a·b + c, rounded once, through the witness `w`.
    let inline fmaOf (_: ^W) (a: ^T) (b: ^T) (c: ^T) : ^T = (^W : (static member FusedMultiplyAddOf : ^T * ^T * ^T -> ^T) (a, b, c))
    /// x rounded to the nearest integer (ties to even) through the witness `w`.
    let inline roundOf (_: ^W) (x: ^T) : ^T = (^W : (static member RoundOf : ^T -> ^T) x)
    /// 2^(n - 1) for an integral n through the witness `w`.
    let inline halfPowerOfTwoOf (_: ^W) (n: ^T) : ^T = (^W : (static member HalfPowerOfTwoOf : ^T -> ^T) n)

    /// e^x on the lane type ^T of the witness `w`, in float32 (Cody-Waite reduction and Cephes' degree-5 polynomial):
    ///
    ///     x' = min(max(x, -87), 89),  n = round(x' / ln 2),  r = x' - n ln 2   (ln 2 in two parts, |r| ≤ ln 2 / 2)
    ///     e^r ≈ 1 + r + r² P(r),   e^x = (2 e^r) · 2^(n - 1)
    ///
    /// Within 1.2 units in the last place of the exact value for x in [-86.9, 88.72] (measured on 1.1 million float32
    /// values; the tests allow 2, MathF.Exp is within 0.5); +∞ from ln(float32 max) up, +0 below about -87 (where e^x
    /// is under 1.7e-38: no subnormals), NaN for NaN. Scaling by 2^(n - 1) after doubling keeps the power of two a
    /// normal float32 over the whole range, so the product overflows and rounds as e^x itself.
    let inline exponential (w: ^W) (x: ^T) : ^T =
        let inline lift (c: float32) : ^T = broadcast w c
        let clamped = clampOf w x (lift -87.0f) (lift 89.0f)
        let n = roundOf w (clamped * lift 1.44269504088896341f)
        let r = fmaOf w n (lift -0.693359375f) clamped
        let r = fmaOf w n (lift 2.12194440e-4f) r
        let mutable p = fmaOf w (lift 1.9875691500e-4f) r (lift 1.3981999507e-3f)
        p <- fmaOf w p r (lift 8.3334519073e-3f)
        p <- fmaOf w p r (lift 4.1665795894e-2f)
        p <- fmaOf w p r (lift 1.6666665459e-1f)
        p <- fmaOf w p r (lift 5.0000001201e-1f)
        let e = fmaOf w p (r * r) (r + lift 1.0f)
        (e + e) * halfPowerOfTwoOf w n

/// e^x on both lane types: `LaneMath.exponential`, inlined by the JIT into the loop that calls it. F# inlines the
/// lambdas of `SurrogateDerivatives.formulaThen` into the kernel loops only while they are small, so for F# exp stays
/// a call (with the polynomial written into the lambda, F# compiled it as a method called per vector).
type Lanes with
    /// e^x of one float32.
    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    static member ExpOf (x: float32) : float32 = LaneMath.exponential Unchecked.defaultof<Lanes> x
    /// e^x per lane.
    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    static member ExpOf (x: Vector<float32>) : Vector<float32> = LaneMath.exponential Unchecked.defaultof<Lanes> x

/// Each surrogate family's derivative s'(x), written once over the lane type (see the file header), and its scalar
/// and SIMD instantiations for the fused kernels. ASGL has none: its width is a tensor.
module SurrogateDerivatives =

    open LaneMath

    /// e^x through the witness `w` (`Lanes.ExpOf`).
    let inline private expOf (_: ^W) (x: ^T) : ^T = (^W : (static member ExpOf : ^T -> ^T) x)

    /// s'(x) of every family with scalar parameters, on the lane type ^T of the witness `w`, given to `found`
    /// (`none ()` for ASGL). The constants are rounded to float32 (and broadcast) once, outside the function:
    ///
    ///     sigmoid(α)         α e (1 - e),  e = 1 / (1 + exp(-α x))
    ///     atan(α)            (α/2) / (1 + (π/2 α x)²)
    ///     fast sigmoid(α)    α / (2 (1 + α|x|)²)
    ///     SuperSpike(β)      1 / (1 + β|x|)²
    ///     triangle(w)        max(0, 1 - |x|/w) / w
    ///     rectangle(w)       1/w if |x| < w/2, else 0
    ///     Gaussian(σ)        exp(-x² / (2σ²)) / (σ √(2π))
    ///     piecewise exp(α)   (α/2) exp(-α|x|)
    ///     SLAYER(τ, s)       s/(2τ) exp(-|x|/τ)
    ///
    /// `found` gets the formula as a lambda, so a kernel loop inlined into `found` runs it inline, without a call per
    /// vector.
    let inline formulaThen (w: ^W) (surrogate: Surrogate) ([<InlineIfLambda>] found: (^T -> ^T) -> 'r) (none: unit -> 'r) : 'r =
        let inline lift (c: float32) : ^T = broadcast w c
        let one, zero = lift 1.0f, lift 0.0f
        match surrogate with
        | Sigmoid alpha ->
            let a, minusA = lift (float32 alpha), lift (-(float32 alpha))
            found (fun (x: ^T) -> let e = one / (one + expOf w (minusA * x)) in a * e * (one - e))
        | ATan alpha ->
            let k, half = lift (float32 (Math.PI / 2.0 * alpha)), lift (float32 (alpha / 2.0))
            found (fun (x: ^T) -> let z = k * x in half / (one + z * z))
        | FastSigmoid alpha ->
            let a, two = lift (float32 alpha), lift 2.0f
            found (fun (x: ^T) -> let d = one + a * absOf w x in a / (two * d * d))
        | SuperSpike beta ->
            let b = lift (float32 beta)
            found (fun (x: ^T) -> let d = one + b * absOf w x in one / (d * d))
        | Triangle width ->
            let wl = lift (float32 width)
            found (fun (x: ^T) -> maxOf w zero (one - absOf w x / wl) / wl)
        | Rectangle width ->
            let w32 = float32 width
            let half, height = lift (w32 / 2.0f), lift (1.0f / w32)
            found (fun (x: ^T) -> selectLess w (absOf w x) half height zero)
        | Gaussian sigma ->
            let s32 = float32 sigma
            let denominator = lift (2.0f * s32 * s32)
            let norm = lift (float32 (1.0 / (sigma * Math.Sqrt (2.0 * Math.PI))))
            found (fun (x: ^T) -> norm * expOf w (-x * x / denominator))
        | PiecewiseExp alpha ->
            let a = float32 alpha
            let scale, minusA = lift (a / 2.0f), lift (-a)
            found (fun (x: ^T) -> scale * expOf w (minusA * absOf w x))
        | SlayerExp (tau, scale) ->
            let t, k = lift (float32 tau), lift (float32 (scale / (2.0 * tau)))
            found (fun (x: ^T) -> k * expOf w (-(absOf w x) / t))
        | Asgl _ -> none ()

    /// s'(x) as a function on the lane type ^T of the witness `w` (None for ASGL).
    let inline formula (w: ^W) (surrogate: Surrogate) : (^T -> ^T) option = formulaThen w surrogate Some (fun () -> None)

    /// s'(x) on one float32 (None for ASGL).
    let scalar (surrogate: Surrogate) : (float32 -> float32) option = formula Unchecked.defaultof<Lanes> surrogate

    /// s'(x) on `Vector<float32>.Count` values at once (None for ASGL).
    let vector (surrogate: Surrogate) : (Vector<float32> -> Vector<float32>) option =
        formula Unchecked.defaultof<Lanes> surrogate
