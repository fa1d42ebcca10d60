using System;
using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>
/// DiffSharp-style differentiation over TorchSharp autograd: gradients, vector-Jacobian, Jacobian-vector and
/// Hessian-vector products of functions, nestable. Misuse that would terminate the process inside libtorch
/// raises <see cref="ArgumentException"/> or <see cref="InvalidOperationException"/> instead.
/// </summary>
public static class Diff
{
    /// <summary>The gradient ∇f(x) of a scalar function.</summary>
    /// <param name="f">A function returning a one-element tensor.</param>
    /// <param name="x">The point.</param>
    /// <returns>A fresh tensor shaped like <paramref name="x"/>.</returns>
    public static Tensor Grad(Func<Tensor, Tensor> f, Tensor x) => Snn.Diff.grad(Wrap(f), x);

    /// <summary>The value and gradient (f(x), ∇f(x)) of a scalar function.</summary>
    /// <param name="f">A function returning a one-element tensor.</param>
    /// <param name="x">The point.</param>
    /// <returns>The value and the gradient.</returns>
    public static (Tensor Value, Tensor Gradient) FGrad(Func<Tensor, Tensor> f, Tensor x)
    {
        var (value, gradient) = Snn.Diff.fgrad(Wrap(f), x);
        return (value, gradient);
    }

    /// <summary>The vector-Jacobian product vᵀ J_f(x).</summary>
    /// <param name="f">The function.</param>
    /// <param name="x">The point.</param>
    /// <param name="v">A tensor shaped like f(x).</param>
    /// <returns>A tensor shaped like <paramref name="x"/>.</returns>
    public static Tensor Vjp(Func<Tensor, Tensor> f, Tensor x, Tensor v) => Snn.Diff.vjp(Wrap(f), x, v);

    /// <summary>The Jacobian-vector product J_f(x) v.</summary>
    /// <param name="f">The function.</param>
    /// <param name="x">The point.</param>
    /// <param name="v">A tensor shaped like <paramref name="x"/>.</param>
    /// <returns>A tensor shaped like f(x).</returns>
    public static Tensor Jvp(Func<Tensor, Tensor> f, Tensor x, Tensor v) => Snn.Diff.jvp(Wrap(f), x, v);

    /// <summary>The Hessian-vector product ∇²f(x) v of a scalar function.</summary>
    /// <param name="f">A function returning a one-element tensor.</param>
    /// <param name="x">The point.</param>
    /// <param name="v">A tensor shaped like <paramref name="x"/>.</param>
    /// <returns>A tensor shaped like <paramref name="x"/>.</returns>
    public static Tensor Hvp(Func<Tensor, Tensor> f, Tensor x, Tensor v) => Snn.Diff.hvp(Wrap(f), x, v);

    private static Microsoft.FSharp.Core.FSharpFunc<Tensor, Tensor> Wrap(Func<Tensor, Tensor> f)
    {
        ArgumentNullException.ThrowIfNull(f);
        return Microsoft.FSharp.Core.FuncConvert.FromFunc(f);
    }
}
