/// Which implementation runs a neuron recurrence (`Kernel`) and the dispatch from neuron parameters to the fused
/// kernels of Kernels/FusedLif.fs, FusedCuLif.fs and FusedPlif.fs, falling back to the pure reference of `Snn.Neurons`
/// when the fused kernel cannot run them. Tensors are time-first, [T; B; ...].
namespace Snn

open TorchSharp
open Snn.Neurons
open Snn.Tensors

/// Which implementation runs a neuron recurrence over time.
type Kernel =
    /// The pure per-step functions of `Snn.Neurons` (supports every option and double backward).
    | Reference
    /// The fused multi-step kernel (float32, IF/LIF without refractory period or conductance input).
    | Fused

/// Running neuron recurrences with a chosen kernel.
[<RequireQualifiedAccess>]
module Dynamics =

    /// The fused spec of LIF parameters, or why the fused kernel cannot run them.
    let lifSpec (p: LifParameters) : Result<FusedLifSpec, string> =
        if p.RefractorySteps <> 0 then Error "a refractory period"
        elif p.Coupling <> Direct then Error "conductance input"
        elif (SurrogateDerivatives.scalar p.Surrogate).IsNone then Error "the ASGL surrogate"
        else
            let beta = Lif.decay p
            let charge, gain =
                match p.Scheme with
                | ExactExponential -> ExactLeak, 1.0 - beta
                | ForwardEuler -> EulerLeak (float32 (p.Dt / p.TauMem)), p.Dt / p.TauMem
            Ok { Charge = charge; Beta = float32 beta; Gain = float32 gain; VRest = float32 p.VRest; Threshold = float32 p.VThreshold
                 VReset = float32 p.VReset; Reset = p.Reset; DetachReset = p.DetachReset; Surrogate = p.Surrogate }

    /// The fused spec of IF parameters (β = c = 1, starting from v_reset).
    let ifSpec (p: IfParameters) : Result<FusedLifSpec, string> =
        if (SurrogateDerivatives.scalar p.Surrogate).IsNone then Error "the ASGL surrogate"
        else
            Ok { Charge = Integrate; Beta = 1.0f; Gain = 1.0f; VRest = float32 p.VReset; Threshold = float32 p.VThreshold
                 VReset = float32 p.VReset; Reset = p.Reset; DetachReset = p.DetachReset; Surrogate = p.Surrogate }

    /// Whether the fused CPU kernels can run a tensor of this device type and dtype: float32 in CPU memory (they
    /// loop over raw host memory). Any other device (CUDA, meta, ...) or dtype takes the reference path, which runs
    /// wherever TorchSharp runs.
    let fusedRuns (device: DeviceType) (dtype: torch.ScalarType) : bool =
        device = DeviceType.CPU && dtype = torch.float32

    /// Runs a fused spec over inputs [T; B; ...] (float32); spikes [T; B; ...].
    let runFused (spec: FusedLifSpec) (inputs: Tensor) : Tensor =
        if isNull (box inputs) || inputs.dim () < 1 || inputs.shape.[0] = 0L then
            invalidArg "inputs" "must have a non-empty time dimension 0 ([T; B; ...])"
        if inputs.dtype <> torch.float32 then invalidArg "inputs" $"the fused kernel runs float32 tensors, got {inputs.dtype}"
        if inputs.device_type <> DeviceType.CPU then invalidArg "inputs" "the fused kernel runs on the CPU"
        // NaN inputs are rejected by the kernel itself as it reads them (no separate pass over the tensor).
        if not (torch.is_grad_enabled () && inputs.requires_grad) then
            // No backward pass can follow (the recurrence has no parameters): spikes only, no autograd node.
            use xc = inputs.contiguous ()
            FusedLifForward.spikes spec xc null
        else
            let spikes = FusedLifFunction.apply (inputs, box spec)
            FunctionHandles.release ()
            spikes

    /// LIF spikes [T; B; ...] from rest with the chosen kernel; `Fused` falls back to the reference when the
    /// parameters or dtype need it (refractory period, conductance input, ASGL, non-float32 input).
    let lif (kernel: Kernel) (p: LifParameters) (inputs: Tensor) : Tensor =
        match kernel, lifSpec p with
        | Fused, Ok spec when fusedRuns inputs.device_type inputs.dtype -> runFused spec inputs
        | _ -> Lif.unroll p inputs

    /// CuLIF spikes [T; B; ...] from rest with the chosen kernel (fixed time constants; falls back like `lif`).
    let cuLif (kernel: Kernel) (p: CuLifParameters) (inputs: Tensor) : Tensor =
        match kernel, SurrogateDerivatives.scalar p.Surrogate with
        | Fused, Some _ when fusedRuns inputs.device_type inputs.dtype && inputs.dim () >= 1 && inputs.shape.[0] > 0L ->
            let alpha, beta = CuLif.decays p
            let spec =
                { Charge = ExactLeak; Beta = float32 beta; Gain = float32 (1.0 - beta); VRest = float32 p.VRest
                  Threshold = float32 p.VThreshold; VReset = float32 p.VReset; Reset = p.Reset; DetachReset = p.DetachReset
                  Surrogate = p.Surrogate }
            // NaN inputs are rejected by the kernel itself as it reads them.
            let spikes = FusedCuLifFunction.apply (inputs, box spec, box (float32 alpha))
            FunctionHandles.release ()
            spikes
        | _ -> CuLif.unroll p inputs

    /// PLIF spikes [T; B; ...] from rest with weight w (scalar, or one per neuron of the trailing dimensions) and
    /// the chosen kernel (falls back like `lif`, also for other shapes of w).
    let plif (kernel: Kernel) (p: PlifParameters) (w: Tensor) (inputs: Tensor) : Tensor =
        let dims, wDims = int (inputs.dim ()), int (w.dim ())
        let fits = wDims = 0 || (wDims < dims - 1 && inputs.shape.[dims - wDims ..] = w.shape)
        match kernel, SurrogateDerivatives.scalar p.Surrogate with
        | Fused, Some _ when fits && fusedRuns inputs.device_type inputs.dtype && fusedRuns w.device_type w.dtype && inputs.dim () >= 1 && inputs.shape.[0] > 0L ->
            let spec =
                { Charge = ExactLeak; Beta = 0.0f; Gain = 0.0f; VRest = float32 p.VRest; Threshold = float32 p.VThreshold
                  VReset = float32 p.VReset; Reset = p.Reset; DetachReset = p.DetachReset; Surrogate = p.Surrogate }
            Neuron.checkInput "inputs" None inputs
            FusedPlifFunction.apply (inputs, w, box spec)
        | _ -> Plif.unroll p w inputs

    /// IF spikes [T; B; ...] from v_reset with the chosen kernel (falls back like `lif`).
    let ifNeuron (kernel: Kernel) (p: IfParameters) (inputs: Tensor) : Tensor =
        match kernel, ifSpec p with
        | Fused, Ok spec when fusedRuns inputs.device_type inputs.dtype -> runFused spec inputs
        | _ -> If.unroll p inputs
