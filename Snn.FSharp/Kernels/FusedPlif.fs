/// Fused PLIF kernel (see `Plif` and Kernels/FusedLif.fs for the shared maths): the scalar loops over raw float32
/// memory and the autograd function with gradients for x and the time-constant weight. Tensors are [T; B; ...].
namespace Snn

#nowarn "9"

open System
open Microsoft.FSharp.NativeInterop
open TorchSharp
open Snn.Neurons
open Snn.Tensors

/// The raw loops of the fused PLIF kernel (see `Plif`), with k = σ(w) per neuron (w scalar or one per neuron of
/// the trailing dimensions):
///
///     h_t = v_{t-1} + (x_t - (v_{t-1} - v_rest))·k;   z_t, v_t as for LIF
///     ∂L/∂h_t as for LIF;   ∂L/∂x_t = k ∂L/∂h_t;   δv_{t-1} = (1 - k) ∂L/∂h_t;
///     ∂L/∂k = Σ_t ∂L/∂h_t (x_t - (v_{t-1} - v_rest)),   ∂L/∂w = ∂L/∂k · k (1 - k)
///
/// v_{t-1} is recomputed from the saved h_{t-1} by the reset rule, so only x and h are kept.
module internal PlifKernel =

    open Raw

    /// Forward: writes h and z [T; N]; k holds σ(w) per weight, neuron j uses k[j mod k.Length].
    let forward (spec: FusedLifSpec) (k: float32[]) (steps: int) (neurons: int) (x: Tensor) (h: Tensor) (z: Tensor) =
        let xp, hp, zp = address x, address h, address z
        let total = steps * neurons
        forChunks neurons (fun j0 j1 ->
            let xs = view xp total
            let hs = view hp total
            let zs = view zp total
            use vLease = Scratch.rent (j1 - j0) spec.VRest
            let v = vLease.Values
            for t in 0 .. steps - 1 do
                let row = t * neurons
                for j in j0 .. j1 - 1 do
                    let idx = row + j
                    let vk = v.[j - j0]
                    let hk = vk + (xs.[idx] - (vk - spec.VRest)) * k.[j % k.Length]
                    let zk = spike spec hk
                    hs.[idx] <- hk
                    zs.[idx] <- zk
                    v.[j - j0] <- reset spec hk zk)

    /// Backward: writes ∂L/∂x [T; N] and returns ∂L/∂k per weight (summed over the neurons sharing it).
    let backward (spec: FusedLifSpec) (k: float32[]) (derivative: float32 -> float32) (steps: int) (neurons: int)
                 (gradZ: Tensor) (x: Tensor) (h: Tensor) (gradX: Tensor) : float[] =
        let gp, xp, hp, op = address gradZ, address x, address h, address gradX
        let total = steps * neurons
        let chunk = chunkSize neurons
        let chunks = (neurons + chunk - 1) / chunk
        let partial = Array.init chunks (fun _ -> Array.zeroCreate<float> k.Length)
        Workers.forEach chunks (fun c ->
            let gs = view gp total
            let xs = view xp total
            let hs = view hp total
            let os = view op total
            let j0 = c * chunk
            let j1 = min neurons (j0 + chunk)
            use deltaLease = Scratch.rent (j1 - j0) 0.0f
            let delta = deltaLease.Values
            let gradK = partial.[c]
            for t in steps - 1 .. -1 .. 0 do
                let row = t * neurons
                for j in j0 .. j1 - 1 do
                    let idx = row + j
                    let hk = hs.[idx]
                    let dh = chargeGradient spec derivative hk delta.[j - j0] gs.[idx]
                    let kj = k.[j % k.Length]
                    let previous = if t = 0 then spec.VRest else (let hPrevious = hs.[idx - neurons] in reset spec hPrevious (spike spec hPrevious))
                    gradK.[j % k.Length] <- gradK.[j % k.Length] + float (dh * (xs.[idx] - (previous - spec.VRest)))
                    os.[idx] <- kj * dh
                    delta.[j - j0] <- (1.0f - kj) * dh)
        Array.init k.Length (fun i -> partial |> Array.sumBy (fun p -> p.[i]))

/// The fused PLIF recurrence as a TorchSharp autograd function: apply (x [T; ...] float32, w, spec); gradients for
/// x and for the time-constant weight w.
type FusedPlifFunction() =
    inherit torch.autograd.SingleTensorFunction<FusedPlifFunction>()

    /// The autograd node's name.
    override _.Name = "SnnFusedPlif"

    /// Runs the recurrence; saves x, h and w for the backward pass.
    override _.forward (ctx: torch.autograd.AutogradContext, vars: obj[]) : Tensor =
        let x = vars.[0] :?> Tensor
        let w = vars.[1] :?> Tensor
        let spec = vars.[2] :?> FusedLifSpec
        let steps, neurons = Raw.layout x
        let xc = x.detach().contiguous ()
        let k = Tensors.toArray (torch.sigmoid (w.detach ()))
        let h, z = torch.empty_like xc, torch.empty_like xc
        PlifKernel.forward spec k steps neurons xc h z
        // The kernel reads raw addresses, which do not keep a tensor alive (xc is saved below, after it).
        GC.KeepAlive xc
        ctx.save_for_backward (Collections.Generic.List [ xc; h; w.detach () ])
        ctx.save_data ("spec", box spec)
        z

    /// Back-propagates through time to x and w.
    override _.backward (ctx: torch.autograd.AutogradContext, gradZ: Tensor) : Collections.Generic.List<Tensor> =
        // Exceptions must not escape into libtorch, which runs this callback (see Diff.CallbackErrors).
        Diff.CallbackErrors.guard "SnnFusedPlif" 3 (fun () ->
            let saved = ctx.get_saved_variables ()
            let x, h, w = saved.[0], saved.[1], saved.[2]
            let spec = ctx.get_data "spec" :?> FusedLifSpec
            let derivative = (SurrogateDerivatives.scalar spec.Surrogate).Value
            let k = Tensors.toArray (torch.sigmoid w)
            let steps, neurons = Raw.layout h
            let gradX = torch.empty_like h
            let g = gradZ.contiguous ()
            let gradK = PlifKernel.backward spec k derivative steps neurons g x h gradX
            // The kernel reads raw addresses, which do not keep a tensor alive: its inputs must outlive it.
            GC.KeepAlive g
            GC.KeepAlive x
            GC.KeepAlive h
            let gradW = Array.map2 (fun (g: float) (kk: float32) -> float32 (g * float kk * (1.0 - float kk))) gradK k
            Collections.Generic.List [ gradX; torch.tensor(gradW).reshape(w.shape).``to`` (w.dtype); null ])
