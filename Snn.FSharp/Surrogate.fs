/// Spike functions with surrogate gradients.
///
/// The forward pass is exactly the Heaviside step H(x) = 1 if x ≥ 0 else 0, where x = v - θ. The backward pass is
/// the derivative of a smooth primitive g with g(-∞) = 0 and g(+∞) = 1. Both are realised by
///
///     spike(x) = H(x).detach() + (g(x) - g(x).detach())
///
/// whose value is H(x) (the bracket is exactly 0) and whose first and second derivatives are g'(x) and g''(x), so
/// the surrogate also supports double backward (needed by Hessian-vector products and implicit hypergradients).
///
/// Each family carries its own parameters (never one shared string-selected alpha).
namespace Snn

open System
open TorchSharp
open Snn.Tensors

/// A surrogate-gradient family with its own parameters.
type Surrogate =
    /// Arc-tangent surrogate (Fang et al. 2021): primitive g(x) = 1/2 + arctan(π/2 · α · x) / π,
    /// derivative g'(x) = (α/2) / (1 + (π/2 · α · x)²). α > 0 sets the sharpness (default 2).
    | ATan of alpha: float

/// Functions on surrogate families: the primitive, its derivatives and the spike function.
[<RequireQualifiedAccess>]
module Surrogate =

    /// The default surrogate: ATan with α = 2, as in SpikingJelly.
    let defaultSurrogate : Surrogate = ATan 2.0

    /// Checks the family's parameters; raises ArgumentException naming the parameter.
    let validate (surrogate: Surrogate) : Surrogate =
        match surrogate with
        | ATan alpha ->
            if not (alpha > 0.0) || Double.IsInfinity alpha then
                invalidArg "alpha" $"ATan surrogate: alpha must be a finite number > 0, got {alpha}"
        surrogate

    /// The smooth primitive g(x) of the family (a differentiable tensor function, values in (0, 1)).
    let primitive (surrogate: Surrogate) (x: Tensor) : Tensor =
        match surrogate with
        | ATan alpha -> torch.atan(x * (Math.PI / 2.0 * alpha)) / Math.PI + 0.5

    /// The surrogate derivative g'(x) in closed form (for tests and hand-written kernels).
    let derivative (surrogate: Surrogate) (x: Tensor) : Tensor =
        match surrogate with
        | ATan alpha ->
            let z = x * (Math.PI / 2.0 * alpha)
            (alpha / 2.0) / (z * z + 1.0)

    /// The Heaviside step H(x) = 1 if x ≥ 0 else 0, in the dtype of x, with no gradient.
    let heaviside (x: Tensor) : Tensor = x.ge(torch.zeros_like x).``to``(x.dtype)

    /// The spike function: forward exactly H(x); first and second derivatives g'(x) and g''(x).
    let spike (surrogate: Surrogate) (x: Tensor) : Tensor =
        let h = heaviside (x.detach ())
        if not x.requires_grad then h
        else
            let g = primitive surrogate x
            h + (g - g.detach ())
