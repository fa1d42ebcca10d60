/// Small helpers that wrap TorchSharp's F# warts once (scalars, dtype conversions, backticked names),
/// so the rest of the core reads like the mathematics.
module Snn.Tensors

open TorchSharp

type Tensor = torch.Tensor

/// The value of a one-element tensor as a float.
let toFloat (t: Tensor) : float = t.ToDouble()

/// The value of a one-element tensor as a float32.
let toFloat32 (t: Tensor) : float32 = t.ToSingle()

/// A float32 scalar tensor.
let scalar (value: float32) : Tensor = torch.tensor (value)

/// A float32 tensor with the given values, shaped as given.
let ofArray (shape: int64[]) (values: float32[]) : Tensor = torch.tensor(values).reshape (shape)

/// The values of a tensor, flattened in row-major order, as float32.
let toArray (t: Tensor) : float32[] =
    use flat = t.detach().reshape(-1L).``to``(torch.float32).cpu ()
    flat.data<float32>().ToArray ()

/// The values of a tensor, flattened in row-major order, as float (float64).
let toFloat64Array (t: Tensor) : float[] =
    use flat = t.detach().reshape(-1L).``to``(torch.float64).cpu ()
    flat.data<float>().ToArray ()

/// The values of a tensor as int64, flattened in row-major order.
let toInt64Array (t: Tensor) : int64[] =
    use flat = t.detach().reshape(-1L).``to``(torch.int64).cpu ()
    flat.data<int64>().ToArray ()

/// The shape of a tensor as an array.
let shape (t: Tensor) : int64[] = t.shape

/// The device of a module's parameters (the CPU for a module without any): where its inputs and the tensors it
/// creates belong.
let deviceOf (m: torch.nn.Module) : torch.Device =
    m.parameters () |> Seq.tryHead |> Option.map (fun p -> p.device) |> Option.defaultValue torch.CPU

/// `t` on `device`: `t` itself when it is already there, otherwise a copy.
let onDevice (device: torch.Device) (t: Tensor) : Tensor =
    if t.device_type = device.``type`` && t.device_index = device.index then t else t.``to`` device

/// Whether the elements of `t` can be read. A tensor on the `meta` device has a shape and a dtype but no storage,
/// so checks of its values (NaN, ranges, label indices) have nothing to check and are skipped.
let holdsValues (t: Tensor) : bool = t.device_type <> DeviceType.META

/// A device named on a command line or in a configuration ("cpu", "cuda", "cuda:1"), or why it cannot be used here.
let parseDevice (name: string) : Result<torch.Device, string> =
    match (if isNull name then "" else name.Trim().ToLowerInvariant ()) with
    | "cpu" -> Ok torch.CPU
    | cuda when cuda = "cuda" || cuda.StartsWith "cuda:" ->
        if not (torch.cuda.is_available ()) then Error $"'{name}': CUDA is not available (this libtorch has no CUDA support or no GPU was found)"
        else
            try Ok (torch.device cuda) with e -> Error $"'{name}': {e.Message}"
    | _ -> Error $"'{name}' is neither cpu nor cuda[:index]"
