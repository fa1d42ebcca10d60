/// Numeric assertions shared by the example tests.
module Snn.Tests.Assertions

open System
open System.IO
open Expecto
open Snn.Tensors

/// Asserts that every element of `actual` is within `tolerance` of `expected` (absolute), naming the first miss.
let allClose (tolerance: float) (expected: float[]) (actual: float[]) (message: string) =
    Expect.equal actual.Length expected.Length $"{message}: length"
    for i in 0 .. expected.Length - 1 do
        if not (abs (expected.[i] - actual.[i]) <= tolerance) then
            failtestf "%s: element %d is %g, expected %g (tolerance %g)" message i actual.[i] expected.[i] tolerance

/// The ArgumentException that f throws (the test fails if it throws another exception or none).
let argumentError (f: unit -> unit) : System.ArgumentException =
    match Expect.throwsC f id with
    | :? System.ArgumentException as a -> a
    | other -> failtest $"expected an ArgumentException, got {other.GetType().Name}: {other.Message}"

/// The elements of a tensor as floats.
let values (t: Tensor) : float[] = toFloat64Array t

/// Fixed random weights U(-0.5, 0.5) of this shape and dtype from their own generator: the r of the Σ r·y whose
/// gradients the kernel tests compare, so every output's gradient matters. `use` keeps the generator alive to the
/// end of the draw (a generator finalized during it is freed while libtorch reads it, bench/RESULTS.md round 16).
let centredUniform (seed: uint64) (dtype: TorchSharp.torch.ScalarType) (shape: int64[]) : Tensor =
    use generator = new TorchSharp.torch.Generator (seed)
    TorchSharp.torch.rand (shape, generator = generator, dtype = dtype) - 0.5

/// ∂L/∂y of `outputAndGradients` for an output of this shape: its fixed random r.
let outputGradient (shape: int64[]) : Tensor = centredUniform 5UL TorchSharp.torch.float32 shape

/// A layer's output and the gradients of Σ r·y (fixed random r) for its weight, its bias (empty when null) and, when
/// `inputGrad`, its input x (else empty): what the kernel tests compare with libtorch's layer holding the same weights.
let outputAndGradients (layer: TorchSharp.torch.nn.Module<Tensor, Tensor>) (weight: Tensor) (bias: Tensor) (x: Tensor) (inputGrad: bool) =
    weight.grad <- null
    if not (isNull bias) then bias.grad <- null
    let leaf = if inputGrad then x.detach().requires_grad_ true else x
    let y = layer.forward leaf
    use r = outputGradient y.shape
    Snn.Diff.backward ((y * r).sum ())
    values y, values weight.grad, (if isNull bias then [||] else values bias.grad), (if inputGrad then values leaf.grad else [||])

/// A SpikeConv2d with `options` (stride 1) and a torch Conv2d holding the same weights.
let conv2dPair (options: Snn.Modules.SpikeLinearOptions) (inputs: int) (outputs: int) (kernel: int) (padding: int) (bias: bool) =
    TorchSharp.torch.manual_seed 3L |> ignore
    let fast = new Snn.Modules.SpikeConv2d("conv", inputs, outputs, kernel, 1, padding, bias, options)
    let reference = TorchSharp.torch.nn.Conv2d (int64 inputs, int64 outputs, int64 kernel, padding = int64 padding, bias = bias)
    use _ = TorchSharp.torch.no_grad ()
    reference.weight.copy_ fast.Weight |> ignore
    if bias then reference.bias.copy_ fast.Bias |> ignore
    fast, reference

/// Asserts that a `conv2dPair` gives the same output (within `tolerance`) and weight and bias gradients (within
/// `sumTolerance`) on x, and that the SpikeConv2d's call took the path `ran` tells (`path` names it); returns
/// libtorch's weight gradient, then libtorch's and the SpikeConv2d's input gradients (empty unless `inputGrad`).
let convolutionOutputsMatch (fast: Snn.Modules.SpikeConv2d, reference: TorchSharp.Modules.Conv2d) (x: Tensor) (inputGrad: bool)
                            (ran: Snn.Modules.SpikeConv2d -> bool) (path: string) (tolerance: float) (sumTolerance: float) =
    let yf, wf, bf, xf = outputAndGradients fast fast.Weight fast.Bias x inputGrad
    Expect.isTrue (ran fast) $"the {path} ran"
    let yd, wd, bd, xd = outputAndGradients reference reference.weight (if isNull fast.Bias then null else reference.bias) x inputGrad
    Expect.equal yf.Length yd.Length "output size"
    allClose tolerance yd yf "output"
    allClose sumTolerance wd wf "weight gradient"
    allClose sumTolerance bd bf "bias gradient"
    wd, xd, xf

/// `convolutionOutputsMatch`, and the same input gradient within `tolerance`; returns libtorch's weight gradient.
let convolutionMatches (layers: Snn.Modules.SpikeConv2d * TorchSharp.Modules.Conv2d) (x: Tensor) (inputGrad: bool)
                       (ran: Snn.Modules.SpikeConv2d -> bool) (path: string) (tolerance: float) (sumTolerance: float) =
    let wd, xd, xf = convolutionOutputsMatch layers x inputGrad ran path tolerance sumTolerance
    allClose tolerance xd xf "input gradient"
    wd

/// Asserts that a layer's input gradient `actual` took the bfloat16 path: it equals `bf16Product` (the same dense
/// product of the bfloat16-rounded ∂L/∂y and weights, computed by the test), differs from the float32 gradient
/// `float32Gradient` and lies within bfloat16's rounding of it (2 % of its largest magnitude).
let bf16InputGradient (bf16Product: Tensor) (float32Gradient: float[]) (actual: float[]) =
    allClose 1e-6 (values bf16Product) actual "input gradient = the product of the bfloat16-rounded operands"
    Expect.notEqual actual float32Gradient "the input gradient is not float32's"
    let largest = float32Gradient |> Array.map abs |> Array.max
    allClose (0.02 * largest) float32Gradient actual "input gradient within bfloat16 rounding of float32's"

/// A float64 tensor of the given shape from row-major values.
let shaped (shape: int64[]) (data: float[]) : Tensor = TorchSharp.torch.tensor(data).reshape shape

/// A float32 tensor of the given shape from row-major values.
let shaped32 (shape: int64[]) (data: float32[]) : Tensor = TorchSharp.torch.tensor(data).reshape shape

/// The repository root: the nearest ancestor of the test binary that holds paket.dependencies.
let repositoryRoot : string =
    let rec up (dir: DirectoryInfo) =
        if isNull dir then failwith "no ancestor of the test binary holds paket.dependencies"
        elif File.Exists (Path.Combine (dir.FullName, "paket.dependencies")) then dir.FullName
        else up dir.Parent
    up (DirectoryInfo AppContext.BaseDirectory)

/// Runs `body` in a fresh folder under the temporary directory and deletes the folder afterwards, whatever happens.
let inTemporaryFolder (body: string -> unit) =
    let folder = Path.Combine (Path.GetTempPath (), $"snn-test-{Guid.NewGuid ():N}")
    Directory.CreateDirectory folder |> ignore
    try body folder
    finally Directory.Delete (folder, true)

/// A file of the shared fixtures written by other tools (`../shared/fixtures/` beside the repository).
let fixture (relativePath: string) : string =
    let path = Path.GetFullPath (Path.Combine (repositoryRoot, "..", "shared", "fixtures", relativePath))
    if not (File.Exists path) then failtestf "fixture %s is missing (the shared folder must sit beside the repository)" path
    path

/// Runs the `snn` command line in-process with `args`; returns (exit code, standard output, standard error).
let runSnn (args: string list) : int * string * string =
    let out, err = new StringWriter (), new StringWriter ()
    // Captured output is not a terminal even when the tests run on one: progress comes as plain lines.
    Environment.SetEnvironmentVariable ("SNN_PROGRESS", "plain")
    let oldOut, oldErr = Console.Out, Console.Error
    Console.SetOut out
    Console.SetError err
    try
        let code = Snn.Cli.Program.run (Array.ofList args)
        code, out.ToString (), err.ToString ()
    finally
        Console.SetOut oldOut
        Console.SetError oldErr

/// Checks the CLI's error contract: a non-zero exit code and exactly one line `snn: <message>` on standard error.
let expectOneLineError (what: string) (code: int, err: string) =
    Expect.notEqual code 0 $"{what}: exit code must be non-zero"
    let lines = err.Split ([| '\n'; '\r' |], StringSplitOptions.RemoveEmptyEntries)
    Expect.equal lines.Length 1 $"{what}: exactly one line on standard error, got: {err}"
    Expect.stringStarts lines.[0] "snn: " $"{what}: the one prefix of every command"

/// The exception of type 'E that `f` raises; fails the test when `f` raises none or one of another type.
let thrown<'E when 'E :> exn> (f: unit -> unit) (message: string) : 'E =
    match Expecto.Expect.throwsC f id with
    | :? 'E as e -> e
    | e -> Expecto.Tests.failtestf "%s: expected %s, got %s: %s" message typeof<'E>.Name (e.GetType().Name) e.Message
