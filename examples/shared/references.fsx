// Shared by the example scripts: references the built Snn assemblies and loads libtorch from the build output.
// Build first (dotnet fsi build.fsx build): the scripts use the Release output of the `snn` tool, whose copy of
// libLibTorchSharp.so has had the libstdc++ fix of Directory.Build.targets applied.
#r "../../Snn.Cli/bin/Release/net10.0/TorchSharp.dll"
#r "../../Snn.Cli/bin/Release/net10.0/Snn.FSharp.dll"
// Plots (Snn.Report): OxyPlot's model types, rendered to PNG by SkiaSharp. Snn.Report registers a native-library
// resolver for SkiaSharp and HarfBuzzSharp that finds runtimes/<rid>/native beside these assemblies, so scripts need
// no NativeLibrary.Load for them.
#r "../../Snn.Cli/bin/Release/net10.0/OxyPlot.dll"
#r "../../Snn.Cli/bin/Release/net10.0/OxyPlot.SkiaSharp.dll"
#r "../../Snn.Cli/bin/Release/net10.0/SkiaSharp.dll"

open System.IO
open System.Runtime.InteropServices

/// The folder of the native libraries copied by the build.
let nativeFolder = Path.GetFullPath (Path.Combine (__SOURCE_DIRECTORY__, "../../Snn.Cli/bin/Release/net10.0/runtimes/linux-x64/native"))

// TorchSharp looks for its native library next to TorchSharp.dll, not under runtimes/<rid>/native, when it is
// referenced from a script; loading it by full path first lets its own lookup by name find the loaded library.
if not (File.Exists (Path.Combine (nativeFolder, "libLibTorchSharp.so"))) then
    failwithf "%s has no libLibTorchSharp.so: run 'dotnet fsi build.fsx build' first" nativeFolder
NativeLibrary.Load (Path.Combine (nativeFolder, "libtorch_cpu.so")) |> ignore
NativeLibrary.Load (Path.Combine (nativeFolder, "libLibTorchSharp.so")) |> ignore
