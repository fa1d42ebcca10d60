/// The allocator policy: the GLIBC_TUNABLES value the restart adds, and that a process really restarts with it.
module Snn.Tests.AllocatorTests

open System
open System.Diagnostics
open System.IO
open Expecto
open Snn

let private ours = "glibc.malloc.tcache_count=0:glibc.malloc.mxfast=0"

let tests =
    testList "Allocator" [
        test "the small-block tunables are added to what GLIBC_TUNABLES already holds, never over the user's own" {
            Expect.equal (Allocator.withSmallBlockTunables null) (Some ours) "unset"
            Expect.equal (Allocator.withSmallBlockTunables "") (Some ours) "empty"
            Expect.equal (Allocator.withSmallBlockTunables "glibc.malloc.hugetlb=1") (Some ("glibc.malloc.hugetlb=1:" + ours)) "other settings kept, first"
            Expect.equal (Allocator.withSmallBlockTunables "glibc.malloc.tcache_count=7") (Some "glibc.malloc.tcache_count=7:glibc.malloc.mxfast=0") "the user's tcache count wins"
            Expect.equal (Allocator.withSmallBlockTunables ("glibc.malloc.mxfast=0:glibc.malloc.tcache_count=3")) None "nothing missing"
        }
        test "a process restarts once, with its arguments, with the small-block tunables and wide vectors added" {
            if OperatingSystem.IsLinux () then
                let folder = AppContext.BaseDirectory
                let script = Path.Combine (Path.GetTempPath (), $"snn-restart-{Guid.NewGuid():N}.fsx")
                File.WriteAllText (script, String.concat "\n" [
                    "#r @\"" + Path.Combine (folder, "Snn.FSharp.dll") + "\""
                    "printfn \"started %s\" fsi.CommandLineArgs.[1]"
                    "Snn.Allocator.restartTuned true true |> ignore"
                    "printfn \"tunables %s\" (System.Environment.GetEnvironmentVariable \"GLIBC_TUNABLES\")"
                    "printfn \"lanes %d\" System.Numerics.Vector<float32>.Count" ])
                try
                    let info = ProcessStartInfo ("dotnet", $"fsi --quiet --exec \"{script}\" marker", RedirectStandardOutput = true, RedirectStandardError = true)
                    info.Environment.["GLIBC_TUNABLES"] <- "glibc.malloc.hugetlb=0"
                    info.Environment.Remove Allocator.vectorWidthVariable |> ignore
                    use child = Process.Start info
                    let output = child.StandardOutput.ReadToEndAsync ()
                    let errors = child.StandardError.ReadToEnd ()
                    child.WaitForExit ()
                    Expect.equal child.ExitCode 0 $"the script failed:\n{errors}"
                    let lines = output.Result.Split ('\n', StringSplitOptions.RemoveEmptyEntries)
                    Expect.equal (lines |> Array.filter ((=) "started marker")).Length 2 $"ran twice with its argument:\n{output.Result}"
                    Expect.equal (lines |> Array.filter (fun l -> l.StartsWith "tunables")) [| "tunables glibc.malloc.hugetlb=0:" + ours |] "went on once, with the tunables"
                    let lanes = if Runtime.Intrinsics.Vector512.IsHardwareAccelerated then 16 else Numerics.Vector<float32>.Count
                    Expect.equal (lines |> Array.filter (fun l -> l.StartsWith "lanes")) [| $"lanes {lanes}" |] "Vector<float32> as wide as AVX-512 allows"
                finally
                    File.Delete script
        }
    ]
