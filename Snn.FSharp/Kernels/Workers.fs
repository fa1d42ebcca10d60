/// Where the fused kernels run their work items in parallel: on libtorch's own OpenMP threads when the process can
/// reach them, else on .NET's thread pool.
///
/// Why: after each parallel region (a GEMM, a convolution, an elementwise operation over a large tensor) libtorch's
/// OpenMP workers keep spinning on their cores for a while, waiting for the next region. A kernel that splits its
/// work over .NET threads right after such a region shares a core with a spinning worker, so its share on that
/// core runs at about half speed (perf: libgomp's wait loop at 10-27 % of a training step's samples). Handing the
/// items to the same OpenMP team instead gives them to the thread that was spinning. Items are claimed one at a time
/// from a shared counter, so a thread that the host machine slows down takes fewer of them.
namespace Snn

#nowarn "9"

open System
open System.IO
open System.Runtime.InteropServices
open System.Threading
open System.Threading.Tasks
open Microsoft.FSharp.NativeInterop
open TorchSharp

/// How the fused kernels use the CPU (process-wide switches, so benchmarks and users can compare; `Vectorised` and
/// `Parallel` on by default, `OpenMpTeam` off). The vectorised loops give bit-identical spikes and gradients: both
/// run the one formula of `SurrogateDerivatives.formula`, exp included.
type FusedKernelSettings private () =
    /// Run the IF/LIF loops with SIMD vectors over neurons (System.Numerics.Vector); the scalar loop otherwise.
    static member val Vectorised = true with get, set
    /// Split the kernels' work across the cores (for the neuron kernels, neurons: time stays sequential within each
    /// neuron); one thread otherwise.
    static member val Parallel = true with get, set
    /// Run the parallel work items on libtorch's OpenMP threads where the process can reach them (see `Workers`);
    /// on .NET's thread pool otherwise. Off by default in the library, on in the `snn` process and the benchmarks,
    /// where one thread drives TorchSharp and it was measured. The kernel tests that died of a segmentation fault
    /// (or gave wrong values) in a few runs, with the switch on and off, do so with no fused kernel at all: the
    /// collector finalizes TorchSharp temporaries (implicit Scalars, generators passed inline, intermediate tensors)
    /// while the native call that reads them still runs (bench/RESULTS.md, round 16).
    static member val OpenMpTeam = false with get, set

/// The items of one parallel call, shared by the threads that run them.
[<AllowNullLiteral>]
type internal WorkerJob(items: int, body: int -> unit) =
    /// The next unclaimed item.
    [<DefaultValue>] val mutable Next: int
    /// The first exception an item threw (the others are dropped), rethrown on the calling thread.
    [<DefaultValue>] val mutable Failure: exn
    member _.Items = items
    member _.Body = body

module internal Workers =

    /// libgomp's `void GOMP_parallel (void (*fn) (void *), void *data, unsigned num_threads, unsigned flags)`: runs
    /// fn(data) on each thread of a team (the caller is thread 0) and returns when all have finished.
    [<UnmanagedFunctionPointer(CallingConvention.Cdecl)>]
    type private GompParallel = delegate of nativeint * nativeint * uint32 * uint32 -> unit

    /// The region body libgomp calls on each team thread.
    [<UnmanagedFunctionPointer(CallingConvention.Cdecl)>]
    type private RegionBody = delegate of nativeint -> unit

    /// Claims and runs items until none is left. Never throws: an exception must not unwind through libgomp's frames.
    let private work (job: WorkerJob) =
        let mutable item = Interlocked.Increment &job.Next - 1
        while item < job.Items do
            try job.Body item
            with e -> Interlocked.CompareExchange (&job.Failure, e, null) |> ignore
            item <- Interlocked.Increment &job.Next - 1

    let private regionBody = RegionBody (fun data -> work (GCHandle.FromIntPtr(data).Target :?> WorkerJob))
    let private regionBodyPointer = Marshal.GetFunctionPointerForDelegate regionBody

    /// The full path of the OpenMP runtime libtorch loaded (TorchSharp's packages bundle libgomp under a hashed
    /// name), from the process's memory map.
    let private loadedOpenMp () =
        try
            File.ReadLines "/proc/self/maps"
            |> Seq.map (fun line -> let i = line.IndexOf '/' in if i < 0 then "" else line.Substring i)
            |> Seq.tryFind (fun path -> Path.GetFileName(path).StartsWith "libgomp")
        with :? IOException | :? UnauthorizedAccessException -> None

    /// GOMP_parallel of the OpenMP runtime libtorch uses, or None (another OpenMP runtime, another OS, no libtorch).
    let private gompParallel : Lazy<GompParallel option> =
        lazy (
            // Loads libtorch first, so its OpenMP runtime is mapped by the time the map is read.
            torch.get_num_threads () |> ignore
            match loadedOpenMp () with
            | Some path ->
                let mutable library = 0n
                let mutable entry = 0n
                if NativeLibrary.TryLoad (path, &library) && NativeLibrary.TryGetExport (library, "GOMP_parallel", &entry) then
                    Some (Marshal.GetDelegateForFunctionPointer<GompParallel> entry)
                else None
            | None -> None)

    /// Whether `forEach` runs on libtorch's OpenMP team (else on .NET's thread pool).
    let onOpenMpTeam () = FusedKernelSettings.OpenMpTeam && gompParallel.Value.IsSome

    /// Runs body 0 .. body (items - 1), in parallel over libtorch's intra-op threads (or as many .NET pool threads),
    /// or in order on the calling thread when `FusedKernelSettings.Parallel` is off; rethrows the first exception of
    /// an item after all items have run.
    let forEach (items: int) (body: int -> unit) =
        if items = 1 then body 0
        elif items > 1 && not FusedKernelSettings.Parallel then
            for item in 0 .. items - 1 do body item
        elif items > 1 then
            let job = WorkerJob (items, body)
            let threads = min items (torch.get_num_threads ())
            match (if FusedKernelSettings.OpenMpTeam then gompParallel.Value else None) with
            | Some gomp ->
                let handle = GCHandle.Alloc job
                try gomp.Invoke (regionBodyPointer, GCHandle.ToIntPtr handle, uint32 threads, 0u)
                finally handle.Free ()
            | None -> Parallel.For (0, threads, fun _ -> work job) |> ignore
            if not (isNull job.Failure) then Runtime.ExceptionServices.ExceptionDispatchInfo.Throw job.Failure

    /// Runs `body start stop` over [0, count) cut into ranges of `per` values (the last one shorter), in parallel
    /// like `forEach`; a single range runs on the calling thread.
    let forRanges (count: int) (per: int) (body: int -> int -> unit) =
        let per = max 1 per
        let items = (count + per - 1) / per
        if items <= 1 then body 0 count
        else forEach items (fun i -> body (i * per) (min count (i * per + per)))

    /// Runs `body p0 p1` over ranges of `planes` planes of `valuesPerPlane` values each, for the elementwise passes
    /// over [N; C; H; W] (pooling, batch norm): at least 4096 values per item, and about four items per core (finer
    /// items cost more in scheduling than they balance).
    let forPlanes (planes: int) (valuesPerPlane: int) (body: int -> int -> unit) =
        let perCore = (planes + 4 * Environment.ProcessorCount - 1) / (4 * Environment.ProcessorCount)
        forRanges planes (max (4096 / max 1 valuesPerPlane) perCore) body

    /// Sums over the images of a batch whose bits must not depend on the number of threads (the convolutions' weight
    /// gradients): the images are cut into min(N, 8) fixed groups, `body partial n0 n1` adds images [n0, n1) into its
    /// group's own `size` partial sums (zero on entry), the groups run in parallel, and then
    /// result[i] = Σ_g partial_g[i], added in group order.
    let sumOverImageGroups (images: int) (size: int) (result: nativeptr<float32>) (body: nativeptr<float32> -> int -> int -> unit) =
        let groups = min images 8
        let perGroup = (images + groups - 1) / max 1 groups
        // Each group's sums start on a 64-byte boundary, so that whole-vector updates never span two cache lines.
        let stride = (size + 15) / 16 * 16
        use partials = Scratch.rent (groups * stride + 16) 0.0f
        let values = partials.Values
        use pinned = fixed values
        let start = int (NativePtr.toNativeInt (Scratch.alignedToCacheLine pinned) - NativePtr.toNativeInt pinned) / 4
        forEach groups (fun g -> body (NativePtr.add pinned (start + g * stride)) (g * perGroup) (min images (g * perGroup + perGroup)))
        forRanges size (max 4096 (size / (4 * Environment.ProcessorCount) + 1)) (fun i0 i1 ->
            for i in i0 .. i1 - 1 do
                let mutable sum = values.[start + i]
                for g in 1 .. groups - 1 do sum <- sum + values.[start + g * stride + i]
                NativePtr.set result i sum)
