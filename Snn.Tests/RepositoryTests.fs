/// House rules checked on the repository itself: no package-registry host names and no absolute paths of a
/// developer's machine in tracked files, and an XML doc comment on every public member of the F# libraries.
module Snn.Tests.RepositoryTests

open System
open System.Diagnostics
open System.IO
open System.Reflection
open System.Text.RegularExpressions
open System.Xml.Linq
open Expecto
open Microsoft.FSharp.Core

let private root = Snn.Tests.Assertions.repositoryRoot

let private trackedFiles () =
    let info = ProcessStartInfo ("git", "ls-files -z", WorkingDirectory = root, RedirectStandardOutput = true)
    use git = Process.Start info
    let output = git.StandardOutput.ReadToEnd ()
    git.WaitForExit ()
    if git.ExitCode <> 0 then failwith "git ls-files failed"
    output.Split ('\000', StringSplitOptions.RemoveEmptyEntries)

// Written in pieces so that this file does not match itself.
let private registryHosts = Regex (String.Join ("|", [ "nuget" + @"\.org"; "debian" + @"\.org"; "npmjs" + @"\.(org|com)"; "pypi" + @"\.org"; "python" + "hosted" ]))
let private machinePaths = Regex ("(/" + "work/|/" + "root/|/" + "home/[a-z]+/)")

let private offenders (pattern: Regex) =
    [ for file in trackedFiles () do
        let path = Path.Combine (root, file)
        if File.Exists path && FileInfo(path).Length < 5_000_000L then
            let text = File.ReadAllText path
            if not (text.Contains '\000') then
                let m = pattern.Match text
                if m.Success then yield $"{file}: {m.Value}" ]

/// XML doc member names of the public surface that lack documentation.
let private undocumented (assembly: Assembly) =
    let xmlPath = Path.ChangeExtension (assembly.Location, ".xml")
    let documented =
        XDocument.Load(xmlPath).Descendants(XName.Get "member")
        |> Seq.map (fun m -> m.Attribute(XName.Get "name").Value)
        |> Set.ofSeq
    let isUnionCase (m: MemberInfo) =
        m.GetCustomAttributes (typeof<CompilationMappingAttribute>, false)
        |> Seq.exists (fun a -> (a :?> CompilationMappingAttribute).SourceConstructFlags = SourceConstructFlags.UnionCase)
    let generated (m: MemberInfo) =
        m.IsDefined (typeof<Runtime.CompilerServices.CompilerGeneratedAttribute>, false)
        || (isUnionCase m && m.MemberType = MemberTypes.Method)
    let hasDoc (prefix: string) (fullName: string) =
        // Generic methods carry their arity: M:Name``1(...).
        documented |> Set.exists (fun d ->
            d = prefix + fullName || d.StartsWith (prefix + fullName + "(") || d.StartsWith (prefix + fullName + "``"))
    // F# unions with field-less cases get a generated nested class `Tags` of constants.
    let generatedType (t: Type) = t.IsNested && t.Name = "Tags"
    [ for t in assembly.GetExportedTypes () |> Array.filter (generatedType >> not) do
        let typeName = t.FullName.Replace ('+', '.')
        if not (hasDoc "T:" typeName) then yield "T:" + typeName
        let declared = BindingFlags.Public ||| BindingFlags.Static ||| BindingFlags.Instance ||| BindingFlags.DeclaredOnly
        for m in t.GetMethods declared do
            if not m.IsSpecialName && not (generated m) && m.GetBaseDefinition().DeclaringType = t
               && not (m.Name.StartsWith "get_" || m.Name.StartsWith "set_") then
                // F# emits a witness-passing twin `f$W` of each inline function with member constraints; it is
                // documented by f's doc comment.
                let name = if m.Name.EndsWith "$W" then m.Name.Substring (0, m.Name.Length - 2) else m.Name
                if not (hasDoc "M:" (typeName + "." + name)) then yield $"M:{typeName}.{m.Name}"
        for p in t.GetProperties declared do
            if not (generated p) && not (isUnionCase p) && not (p.Name = "Tag" || p.Name.StartsWith "Is") then
                if not (hasDoc "P:" (typeName + "." + p.Name)) then yield $"P:{typeName}.{p.Name}" ]

let tests =
    testList "Repository" [
        test "no package-registry host name in tracked files" {
            Expect.isEmpty (offenders registryHosts) "registry host names (use the user's NuGet configuration)"
        }
        test "no absolute machine path in tracked files" {
            Expect.isEmpty (offenders machinePaths) "absolute paths"
        }
        test "every public member of Snn.FSharp has an XML doc comment" {
            let missing = undocumented typeof<Snn.Surrogate>.Assembly
            Expect.isEmpty missing $"undocumented members: %A{missing}"
        }
        test "every public member of Snn.Loihi has an XML doc comment" {
            let missing = undocumented typeof<Snn.Loihi.CubaLifParameters>.Assembly
            Expect.isEmpty missing $"undocumented members: %A{missing}"
        }
    ]
