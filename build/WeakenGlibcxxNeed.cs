// Marks the GLIBCXX_3.4.32 version need of libLibTorchSharp.so as weak when the system libstdc++ does not define that
// version (see WeakenGlibcxxNeed.targets beside this file for the reason). One implementation, compiled twice:
//   - as an MSBuild inline task by RoslynCodeTaskFactory from WeakenGlibcxxNeed.targets (the build output copies);
//   - into Snn.CSharp with SNN_RUNTIME defined, without the task, for NativeBackend (a copy in the user's cache for
//     `dotnet fsi` scripts, whose native libraries load straight from the NuGet cache, which is never written).
#nullable disable
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
#if !SNN_RUNTIME
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class SnnWeakenGlibcxxNeed : Task
{
    [Required]
    public string[] Folders { get; set; }

    public override bool Execute()
    {
        var libraries = new List<string>();
        foreach (var folder in Folders)
            if (!string.IsNullOrEmpty(folder) && Directory.Exists(folder))
                libraries.AddRange(Directory.GetFiles(folder, GlibcxxNeed.Library, SearchOption.AllDirectories));
        if (libraries.Count == 0) return true;

        string libstdcxx = GlibcxxNeed.FindSystemLibstdcxx();
        if (libstdcxx == null)
        {
            Log.LogMessage(MessageImportance.Normal, "Snn: no system libstdc++.so.6 found; " + GlibcxxNeed.Library + " left as is.");
            return true;
        }
        if (GlibcxxNeed.Defines(libstdcxx))
        {
            Log.LogMessage(MessageImportance.Low, "Snn: " + libstdcxx + " defines " + GlibcxxNeed.Version + "; nothing to do.");
            return true;
        }
        foreach (var path in libraries)
        {
            try
            {
                string outcome = GlibcxxNeed.Weaken(path);
                Log.LogMessage(MessageImportance.High, "Snn: " + path + ": " + outcome);
            }
            catch (Exception e)
            {
                Log.LogError("Snn: could not mark " + GlibcxxNeed.Version + " weak in " + path + ": " + e.Message);
                return false;
            }
        }
        return true;
    }
}
#endif

/// The ELF edit and the libstdc++ check behind it.
static class GlibcxxNeed
{
    public const string Library = "libLibTorchSharp.so";
    public const string Version = "GLIBCXX_3.4.32";
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    /// True when the system libstdc++ can be found and does not define the version libLibTorchSharp.so asks for.
    public static bool SystemLacksVersion()
    {
        string libstdcxx = FindSystemLibstdcxx();
        return libstdcxx != null && !Defines(libstdcxx);
    }

    public static bool Defines(string libstdcxx) =>
        ContainsBytes(File.ReadAllBytes(libstdcxx), Encoding.ASCII.GetBytes(Version + "\0"));

    public static string FindSystemLibstdcxx()
    {
        var dirs = new List<string>();
        var ldPath = Environment.GetEnvironmentVariable("LD_LIBRARY_PATH");
        if (!string.IsNullOrEmpty(ldPath)) dirs.AddRange(ldPath.Split(':'));
        dirs.AddRange(new[] {
            "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
            "/usr/lib64", "/lib64", "/usr/lib", "/lib" });
        foreach (var dir in dirs)
        {
            if (string.IsNullOrEmpty(dir)) continue;
            var candidate = Path.Combine(dir, "libstdc++.so.6");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    static bool ContainsBytes(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return true;
        }
        return false;
    }

    /// Sets VER_FLG_WEAK on the Vernaux entry named GLIBCXX_3.4.32 in .gnu.version_r (ELF64, little endian).
    /// Layouts: Elf64_Shdr is 64 bytes (sh_type at 4, sh_offset at 24, sh_size at 32, sh_link at 40);
    /// Elf64_Verneed is {vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32};
    /// Elf64_Vernaux is {vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32}.
    public static string Weaken(string path)
    {
        byte[] elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file (bad magic at offset 0)");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("not a little-endian ELF64 file (class/data bytes at offset 4)");
        long shoff = (long)BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        for (int s = 0; s < shnum; s++)
        {
            long sh = shoff + (long)s * shentsize;
            if (BitConverter.ToUInt32(elf, (int)sh + 4) != ShtGnuVerneed) continue;
            long offset = (long)BitConverter.ToUInt64(elf, (int)sh + 24);
            uint link = BitConverter.ToUInt32(elf, (int)sh + 40);
            long strtab = (long)BitConverter.ToUInt64(elf, (int)(shoff + (long)link * shentsize) + 24);
            long need = offset;
            while (true)
            {
                int count = BitConverter.ToUInt16(elf, (int)need + 2);
                long aux = need + BitConverter.ToUInt32(elf, (int)need + 8);
                for (int a = 0; a < count; a++)
                {
                    string name = ReadCString(elf, strtab + BitConverter.ToUInt32(elf, (int)aux + 8));
                    if (name == Version)
                    {
                        ushort flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                        if ((flags & VerFlgWeak) != 0) return Version + " already weak";
                        BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(elf, (int)aux + 4);
                        var temporary = path + ".snn-tmp";
                        File.WriteAllBytes(temporary, elf);
                        File.Replace(temporary, path, null);
                        return "marked " + Version + " weak (the system libstdc++ lacks it)";
                    }
                    aux += BitConverter.ToUInt32(elf, (int)aux + 12);
                }
                uint next = BitConverter.ToUInt32(elf, (int)need + 12);
                if (next == 0) break;
                need += next;
            }
        }
        return "no " + Version + " need found; left as is";
    }

    static string ReadCString(byte[] bytes, long start)
    {
        long end = start;
        while (end < bytes.Length && bytes[end] != 0) end++;
        return Encoding.ASCII.GetString(bytes, (int)start, (int)(end - start));
    }
}
