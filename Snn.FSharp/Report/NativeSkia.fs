/// Makes SkiaSharp's and HarfBuzzSharp's native libraries loadable wherever the Snn assemblies are loaded from.
///
/// An application's host finds `runtimes/<rid>/native/libSkiaSharp.so` through its deps.json; a `dotnet fsi`
/// script that references the assemblies by path has no deps.json entry for them, so the runtime would look only
/// beside the script. The resolver registered here looks in `runtimes/<rid>/native` beside the managed assembly
/// first and otherwise leaves the lookup to the runtime's default probing.
[<RequireQualifiedAccess>]
module Snn.Report.NativeSkia

open System
open System.IO
open System.Reflection
open System.Runtime.InteropServices

/// The portable runtime identifier of this process (e.g. linux-x64), as used by NuGet's runtimes/ folders.
let runtimeIdentifier : string =
    let os =
        if OperatingSystem.IsWindows () then "win"
        elif OperatingSystem.IsMacOS () then "osx"
        else "linux"
    let arch =
        match RuntimeInformation.ProcessArchitecture with
        | Architecture.X64 -> "x64"
        | Architecture.X86 -> "x86"
        | Architecture.Arm64 -> "arm64"
        | Architecture.Arm -> "arm"
        | other -> other.ToString().ToLowerInvariant ()
    $"{os}-{arch}"

let private fileNames (name: string) =
    let extension = if OperatingSystem.IsWindows () then ".dll" elif OperatingSystem.IsMacOS () then ".dylib" else ".so"
    if name.EndsWith extension then [ name ] else [ name + extension; name ]

let private resolve (name: string) (assembly: Assembly) (_: Nullable<DllImportSearchPath>) : nativeint =
    let folder = Path.Combine (Path.GetDirectoryName assembly.Location, "runtimes", runtimeIdentifier, "native")
    fileNames name
    |> List.map (fun file -> Path.Combine (folder, file))
    |> List.tryPick (fun path ->
        let mutable handle = IntPtr.Zero
        if File.Exists path && NativeLibrary.TryLoad (path, &handle) then Some handle else None)
    |> Option.defaultValue IntPtr.Zero

let private register (assembly: Assembly) =
    // A host may already have set its own resolver for the assembly (only one is allowed); it then knows best.
    try NativeLibrary.SetDllImportResolver (assembly, DllImportResolver resolve)
    with :? InvalidOperationException -> ()

let private registered =
    lazy
        register typeof<SkiaSharp.SKBitmap>.Assembly
        register typeof<HarfBuzzSharp.Blob>.Assembly

/// Registers the resolver for SkiaSharp and HarfBuzzSharp once per process; call before the first Skia drawing.
let ensure () : unit = registered.Force ()
