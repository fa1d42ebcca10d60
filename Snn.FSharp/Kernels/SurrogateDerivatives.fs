/// The surrogate derivatives s'(x) of the fused kernels, each family's formula written once and instantiated twice:
/// on float32 (the scalar loops and the tails of the SIMD loops) and on System.Numerics.Vector<float32> (the SIMD
/// loops, `Vector<float32>.Count` neurons at a time). The autograd form (`Surrogate.derivative`, on tensors, twice
/// differentiable) stays in Neurons/Surrogate.fs; tests check the fused kernels against it.
///
/// The formulas are generic over the lane type through F# inline member constraints on a witness type (`Lanes`):
/// + - * / and unary minus are the lane type's own operators, and abs, exp, max, a compare-and-select and the
/// broadcast of a constant are `Lanes` overloads. Both instantiations therefore run the same operations in the
/// same order, so they round identically in float32, except exp: the float32 lane uses MathF.Exp and the vector
/// lane Vector.Exp, which may differ by a few units in the last place (see `FusedKernelSettings`).
namespace Snn

open System
open System.Numerics

/// The lane operations of the generic surrogate formulas, one overload per lane type (float32, Vector<float32>).
/// Used as a witness by `SurrogateDerivatives.formula`, never instantiated.
[<Sealed>]
type Lanes private () =
    /// |x| of one float32.
    static member inline AbsOf (x: float32) : float32 = abs x
    /// |x| per lane.
    static member inline AbsOf (x: Vector<float32>) : Vector<float32> = Vector.Abs x
    /// e^x of one float32 (MathF.Exp).
    static member inline ExpOf (x: float32) : float32 = MathF.Exp x
    /// e^x per lane (Vector.Exp).
    static member inline ExpOf (x: Vector<float32>) : Vector<float32> = Vector.Exp x
    /// max(a, b) of two float32 (F# max).
    static member inline MaxOf (a: float32, b: float32) : float32 = max a b
    /// max(a, b) per lane (Vector.Max).
    static member inline MaxOf (a: Vector<float32>, b: Vector<float32>) : Vector<float32> = Vector.Max (a, b)
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

/// Each surrogate family's derivative s'(x), written once over the lane type (see the file header), and its scalar
/// and SIMD instantiations for the fused kernels. ASGL has none: its width is a tensor.
module SurrogateDerivatives =

    /// |x| through the witness `w`.
    let inline private absOf (_: ^W) (x: ^T) : ^T = (^W : (static member AbsOf : ^T -> ^T) x)
    /// e^x through the witness `w`.
    let inline private expOf (_: ^W) (x: ^T) : ^T = (^W : (static member ExpOf : ^T -> ^T) x)
    /// max(a, b) through the witness `w`.
    let inline private maxOf (_: ^W) (a: ^T) (b: ^T) : ^T = (^W : (static member MaxOf : ^T * ^T -> ^T) (a, b))
    /// `whenLess` where a < b, else `otherwise`, through the witness `w`.
    let inline private selectLess (_: ^W) (a: ^T) (b: ^T) (whenLess: ^T) (otherwise: ^T) : ^T =
        (^W : (static member SelectLess : ^T * ^T * ^T * ^T -> ^T) (a, b, whenLess, otherwise))
    /// The float32 constant c in the lane type ^T, through the witness `w`.
    let inline private broadcast (_: ^W) (c: float32) : ^T =
        (^W : (static member Broadcast : float32 * ^T -> ^T) (c, Unchecked.defaultof< ^T>))

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
