using System;
using System.IO;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Snn.CSharp;

/// <summary>
/// Makes TorchSharp's native library loadable from <c>dotnet fsi</c> scripts (<c>#r "nuget: Snn.CSharp"</c>) on
/// systems whose libstdc++ predates GCC 13 (Debian 12, Ubuntu 22.04).
/// </summary>
/// <remarks>
/// TorchSharp 0.107's libLibTorchSharp.so asks for <c>GLIBCXX_3.4.32</c> for one symbol it never uses, so an older
/// libstdc++ refuses to load it. Applications get a fixed copy in their build and publish output from the Snn
/// package's build targets. Scripts have no output folder: their native libraries load from the NuGet cache, which
/// Snn never writes. For them this class copies the library into the user's cache folder
/// (<c>$XDG_CACHE_HOME/snn</c>, else <c>~/.cache/snn</c>), marks the need weak in the copy and loads it before
/// TorchSharp looks for it; TorchSharp then finds it already loaded. It runs by itself when Snn.CSharp is first
/// used; call <see cref="Prepare"/> first when a script calls TorchSharp before any Snn.CSharp member.
/// </remarks>
public static class NativeBackend
{
    /// <summary>
    /// Loads a fixed copy of libLibTorchSharp.so when this process needs one (a script on Linux with an old
    /// libstdc++); does nothing otherwise. Safe to call more than once.
    /// </summary>
    /// <returns>One line saying what was done, for a script to print.</returns>
    public static string Prepare()
    {
        lock (Gate)
        {
            outcome ??= PrepareOnce();
            return outcome;
        }
    }

    static readonly object Gate = new();
    static string? outcome;

    // A library module initializer is what reaches scripts without a line of their own; it only reads two files when
    // there is something to do, and never throws.
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void AtFirstUse()
    {
        try { Prepare(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException) { }
    }

    static string PrepareOnce()
    {
        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux) || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            return "TorchSharp's native library needs no preparation on this platform.";
        var torchSharp = typeof(TorchSharp.torch).Assembly;
        var appLocal = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", GlibcxxNeed.Library);
        // The package layout: <packages>/torchsharp/<version>/lib/<framework>/TorchSharp.dll and
        // <packages>/torchsharp/<version>/runtimes/linux-x64/native/libLibTorchSharp.so.
        var packageHome = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(torchSharp.Location) ?? ".", "..", ".."));
        var packaged = Path.Combine(packageHome, "runtimes", "linux-x64", "native", GlibcxxNeed.Library);
        if (File.Exists(appLocal) || !File.Exists(packaged))
            return "TorchSharp's native library is in the application's output folder; the Snn build targets prepared it.";
        if (!GlibcxxNeed.SystemLacksVersion())
            return "The system libstdc++ defines " + GlibcxxNeed.Version + "; TorchSharp loads as it is.";

        var cacheRoot = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        var folder = Path.Combine(cacheRoot, "snn", "torchsharp-" + Path.GetFileName(packageHome));
        Directory.CreateDirectory(folder);
        var copy = Path.Combine(folder, GlibcxxNeed.Library);
        if (!File.Exists(copy) || File.GetLastWriteTimeUtc(copy) < File.GetLastWriteTimeUtc(packaged))
        {
            // Prepared under a name of this process's own and renamed into place: another script may have the
            // previous copy loaded, and a loaded library must never be rewritten in place.
            var fresh = copy + "." + Environment.ProcessId + ".tmp";
            File.Copy(packaged, fresh, overwrite: true);
            GlibcxxNeed.Weaken(fresh);
            File.Move(fresh, copy, overwrite: true);
        }

        // The copy's own dependencies (libtorch, libc10, libtorch_cpu) are found by name once libtorch is loaded,
        // which the script's libtorch package reference makes possible.
        if (!NativeLibrary.TryLoad("torch", torchSharp, null, out _))
            return "TorchSharp's native backend is missing: add the libtorch package, e.g. #r \"nuget: libtorch-cpu-linux-x64, 2.10.0\".";
        NativeLibrary.Load(copy);
        return "Loaded " + copy + " (" + GlibcxxNeed.Version + " marked weak: the system libstdc++ lacks it).";
    }
}
