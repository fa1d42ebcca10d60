/// Spike functions with surrogate gradients.
///
/// The forward pass is exactly the Heaviside step H(x) = 1 if x ≥ 0 else 0, where x = v - θ. The backward pass is
/// the derivative of a smooth (or piecewise smooth) primitive g with g(-∞) = 0 and g(+∞) = 1. Both are realised by
///
///     spike(x) = H(x).detach() + (g(x) - g(x).detach())
///
/// whose value is H(x) (the bracket is exactly 0) and whose first and second derivatives are g'(x) and g''(x), so
/// every family also supports double backward (needed by Hessian-vector products and implicit hypergradients).
///
/// Each family carries its own parameters (never one shared string-selected alpha). "Normalised" families have
/// ∫ g'(x) dx = 1 over the real line; SuperSpike keeps Zenke & Ganguli's unnormalised form.
namespace Snn

open System
open TorchSharp
open Snn.Tensors

/// The smooth forward function H_α of adaptive smoothing gradient learning (ASGL).
type AsglShape =
    /// H_α(x) = σ(x / α): a logistic ramp whose width grows with α.
    | LogisticRamp
    /// H_α(x) = clamp(x / α + 1/2, 0, 1): a linear ramp of width α.
    | LinearRamp

/// A surrogate-gradient family with its own parameters.
type Surrogate =
    /// Logistic: g(x) = σ(α x), g'(x) = α σ(αx)(1 - σ(αx)). Normalised. α > 0 (SpikingJelly default 4).
    | Sigmoid of alpha: float
    /// Arc tangent (Fang et al. 2021): g(x) = 1/2 + arctan(π/2 · α x) / π, g'(x) = (α/2) / (1 + (π/2 · α x)²).
    /// Normalised. α > 0 (default 2).
    | ATan of alpha: float
    /// Fast sigmoid: g(x) = 1/2 + α x / (2 (1 + α|x|)), g'(x) = α / (2 (1 + α|x|)²). Normalised. α > 0.
    | FastSigmoid of alpha: float
    /// SuperSpike (Zenke & Ganguli 2018): g'(x) = 1 / (1 + β|x|)², unnormalised (∫ g' = 2/β);
    /// g(x) = 1/β · (1 - 1/(1 + β x)) for x ≥ 0, mirrored for x < 0, shifted to start at 0. β > 0 (default 10).
    | SuperSpike of beta: float
    /// Triangle of half-width w: g'(x) = max(0, 1 - |x|/w) / w. Normalised. w > 0.
    | Triangle of halfWidth: float
    /// Rectangle (boxcar) of width w: g'(x) = 1/w for |x| < w/2, else 0. Normalised. w > 0.
    | Rectangle of width: float
    /// Gaussian: g'(x) = N(x; 0, σ²), g(x) = Φ(x/σ). Normalised. σ > 0.
    | Gaussian of sigma: float
    /// Piecewise exponential (SpikingJelly PiecewiseExp): g'(x) = (α/2) e^{-α|x|}. Normalised. α > 0.
    | PiecewiseExp of alpha: float
    /// SLAYER's exponential probability density (Shrestha & Orchard 2018): g'(x) = (scale / (2τ)) e^{-|x|/τ},
    /// i.e. `scale` times a normalised Laplace density of scale τ. τ > 0, scale > 0.
    | SlayerExp of tau: float * scale: float
    /// Adaptive smoothing gradient learning (Wang et al., ICML 2023): backward is the derivative of H_α with a
    /// learnable width α (a tensor, scalar or per neuron, which may require grad); the forward is the exact spike,
    /// except that with probability `noise` each element outputs the analog value H_α(x) instead (hybrid noisy
    /// forward; noise = 0 gives a pure spike forward).
    | Asgl of shape: AsglShape * width: Tensor * noise: float

/// Functions on surrogate families: the primitive, its derivatives and the spike function.
[<RequireQualifiedAccess>]
module Surrogate =

    /// The default surrogate: ATan with α = 2, as in SpikingJelly.
    let defaultSurrogate : Surrogate = ATan 2.0

    let private positive (family: string) (name: string) (value: float) =
        if not (value > 0.0) || Double.IsInfinity value then
            invalidArg name $"{family} surrogate: {name} must be a finite number > 0, got {value}"

    /// Checks the family's parameters; raises ArgumentException naming the parameter.
    let validate (surrogate: Surrogate) : Surrogate =
        match surrogate with
        | Sigmoid alpha -> positive "Sigmoid" "alpha" alpha
        | ATan alpha -> positive "ATan" "alpha" alpha
        | FastSigmoid alpha -> positive "FastSigmoid" "alpha" alpha
        | SuperSpike beta -> positive "SuperSpike" "beta" beta
        | Triangle w -> positive "Triangle" "halfWidth" w
        | Rectangle w -> positive "Rectangle" "width" w
        | Gaussian sigma -> positive "Gaussian" "sigma" sigma
        | PiecewiseExp alpha -> positive "PiecewiseExp" "alpha" alpha
        | SlayerExp (tau, scale) ->
            positive "SlayerExp" "tau" tau
            positive "SlayerExp" "scale" scale
        | Asgl (_, width, noise) ->
            if isNull (box width) then nullArg "width"
            if holdsValues width && (torch.le (width.detach (), 0.0)).any().ToBoolean () then
                invalidArg "width" "Asgl surrogate: every width must be > 0"
            if not (noise >= 0.0 && noise <= 1.0) then
                invalidArg "noise" $"Asgl surrogate: the noise probability must lie in [0, 1], got {noise}"
        surrogate

    /// Whether ∫ g'(x) dx = 1 over the real line.
    let isNormalised (surrogate: Surrogate) : bool =
        match surrogate with
        | SuperSpike _ -> false
        | SlayerExp (_, scale) -> scale = 1.0
        | _ -> true

    /// negative(x) for x < 0 and positive(x) for x ≥ 0, written so that autograd sees only the selected branch at
    /// every element (its first and second derivatives are exact at 0, and the other branch never overflows).
    let private piecewise (x: Tensor) (negative: Tensor -> Tensor) (positive: Tensor -> Tensor) : Tensor =
        let below = x.lt (torch.zeros_like x)
        let zero = torch.zeros_like x
        torch.where (below, negative (torch.where (below, x, zero)), positive (torch.where (below, zero, x)))

    /// The linear ramp clamp(x/w + 1/2, 0, 1) whose gradient is 1/w strictly inside |x| < w/2 and 0 on and beyond
    /// the edges. Autograd's clamp passes the gradient at its bounds too, so the plain clamp gave 1/w at |x| = w/2,
    /// unlike the closed-form derivative, the fused kernel and SpikingJelly's rectangle; outside, the value is the
    /// constant H(x) (0 below, 1 above), which carries no gradient to x or to a learnable width.
    let private ramp (x: Tensor) (scaled: Tensor) (inside: Tensor) : Tensor =
        torch.where (inside, scaled + 0.5, x.detach().ge(torch.zeros_like x).``to``(x.dtype))

    /// The primitive g(x) of the family: differentiable, non-decreasing, from 0 to ∫ g'.
    let primitive (surrogate: Surrogate) (x: Tensor) : Tensor =
        match surrogate with
        | Sigmoid alpha -> torch.sigmoid (x * alpha)
        | ATan alpha -> torch.atan (x * (Math.PI / 2.0 * alpha)) / Math.PI + 0.5
        | FastSigmoid alpha -> x * alpha / ((x.abs () * alpha + 1.0) * 2.0) + 0.5
        | SuperSpike beta ->
            // ∫_{-∞}^{x} (1 + β|s|)^{-2} ds = 1/(β(1 - βx)) for x < 0 and (2 - 1/(1 + βx))/β for x ≥ 0.
            piecewise x (fun n -> 1.0 / ((1.0 - n * beta) * beta)) (fun p -> (2.0 - 1.0 / (p * beta + 1.0)) / beta)
        | Triangle w ->
            let u = (x / w).clamp_min(-1.0).clamp_max (1.0)
            // ∫ max(0, 1 - |s|/w)/w ds = 1/2 + u - u|u|/2 with u = clamp(x/w, -1, 1).
            u - u * u.abs () / 2.0 + 0.5
        | Rectangle w -> ramp x (x / w) ((x.abs ()).lt (torch.tensor (w / 2.0, device = x.device)))
        | Gaussian sigma -> (torch.erf (x / (sigma * Math.Sqrt 2.0)) + 1.0) / 2.0
        | PiecewiseExp alpha ->
            // 1/2 e^{αx} for x < 0 and 1 - 1/2 e^{-αx} for x ≥ 0.
            piecewise x (fun n -> torch.exp (n * alpha) * 0.5) (fun p -> 1.0 - torch.exp (p * -alpha) * 0.5)
        | SlayerExp (tau, scale) ->
            piecewise x (fun n -> torch.exp (n / tau) * (0.5 * scale)) (fun p -> (1.0 - torch.exp (p / -tau) * 0.5) * scale)
        | Asgl (LogisticRamp, width, _) -> torch.sigmoid (x / width)
        | Asgl (LinearRamp, width, _) -> ramp x (x / width) ((x.abs ()).lt (width.detach () / 2.0))

    /// The surrogate derivative g'(x) in closed form (for tests and hand-written kernels).
    let derivative (surrogate: Surrogate) (x: Tensor) : Tensor =
        match surrogate with
        | Sigmoid alpha ->
            let s = torch.sigmoid (x * alpha)
            s * (1.0 - s) * alpha
        | ATan alpha ->
            let z = x * (Math.PI / 2.0 * alpha)
            (alpha / 2.0) / (z * z + 1.0)
        | FastSigmoid alpha ->
            let d = x.abs () * alpha + 1.0
            alpha / (d * d * 2.0)
        | SuperSpike beta ->
            let d = x.abs () * beta + 1.0
            1.0 / (d * d)
        | Triangle w -> (1.0 - x.abs () / w).clamp_min (0.0) / w
        | Rectangle w -> (x.abs ()).lt(torch.tensor (w / 2.0, device = x.device)).``to``(x.dtype) / w
        | Gaussian sigma -> torch.exp (x * x / (-2.0 * sigma * sigma)) / (sigma * Math.Sqrt (2.0 * Math.PI))
        | PiecewiseExp alpha -> torch.exp (x.abs () * -alpha) * (alpha / 2.0)
        | SlayerExp (tau, scale) -> torch.exp (x.abs () / -tau) * (scale / (2.0 * tau))
        | Asgl (LogisticRamp, width, _) ->
            let s = torch.sigmoid (x / width)
            s * (1.0 - s) / width
        | Asgl (LinearRamp, width, _) -> (x.abs ()).lt(width / 2.0).``to``(x.dtype) / width

    /// The Heaviside step H(x) = 1 if x ≥ 0 else 0, in the dtype of x, with no gradient.
    let heaviside (x: Tensor) : Tensor = x.ge(torch.zeros_like x).``to``(x.dtype)

    /// The spike function: forward exactly H(x) (for ASGL with noise p, each element is H_α(x) with probability
    /// p instead); first and second derivatives g'(x) and g''(x). ASGL's width receives gradients through g.
    let spike (surrogate: Surrogate) (x: Tensor) : Tensor =
        let h = heaviside (x.detach ())
        let widthTracked = match surrogate with Asgl (_, width, _) -> width.requires_grad | _ -> false
        let exact =
            if not x.requires_grad && not widthTracked then h
            else
                let g = primitive surrogate x
                h + (g - g.detach ())
        match surrogate with
        | Asgl (_, _, noise) when noise > 0.0 ->
            // Hybrid noisy forward: a Bernoulli(p) mask selects the analog H_α(x) for some elements.
            let analog = primitive surrogate x
            use mask = torch.rand_like(x.detach ()).lt(torch.tensor (noise, device = x.device)).``to``(x.dtype)
            analog * mask + exact * (1.0 - mask)
        | _ -> exact

    /// ASGL's schedule of the noise probability: p_k = p0 · γ^m where m counts the milestones (epochs) passed.
    let asglNoiseAt (p0: float) (gamma: float) (milestones: int list) (epoch: int) : float =
        if not (p0 >= 0.0 && p0 <= 1.0) then invalidArg "p0" $"must lie in [0, 1], got {p0}"
        if not (gamma >= 0.0 && gamma <= 1.0) then invalidArg "gamma" $"must lie in [0, 1], got {gamma}"
        let passed = milestones |> List.filter (fun m -> epoch >= m) |> List.length
        p0 * Math.Pow (gamma, float passed)
