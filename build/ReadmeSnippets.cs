// The README's code blocks marked to compile, extracted for the tests (an MSBuild inline task). A block is marked by
// the line `<!-- compiled: csharp -->` or `<!-- compiled: fsharp -->` right before its opening fence. C# blocks become
// one class each with an async method holding the block (its using directives hoisted to the file), compiled with the
// C# consumer tests, so a snippet that stops compiling fails their build; F# blocks are joined into one script that an
// Expecto test runs with dotnet fsi; YAML blocks (configuration files) are written out for a test that loads them.
// Line directives point compiler errors at README.md's own lines.
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;

public class SnnReadmeSnippets : Microsoft.Build.Utilities.Task
{
    [Microsoft.Build.Framework.Required] public string Readme { get; set; }
    [Microsoft.Build.Framework.Required] public string Language { get; set; }
    [Microsoft.Build.Framework.Required] public string Output { get; set; }

    public override bool Execute()
    {
        var lines = File.ReadAllLines(Readme);
        var marker = "<!-- compiled: " + Language + " -->";
        var blocks = new List<(int Line, List<string> Body)>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim() != marker) continue;
            if (i + 1 >= lines.Length || lines[i + 1].Trim() != "```" + Language)
            {
                Log.LogError(null, null, null, Readme, i + 1, 0, 0, 0, "the line after '{0}' must open a ```{1} block", marker, Language);
                return false;
            }
            var body = new List<string>();
            var j = i + 2;
            while (j < lines.Length && lines[j].Trim() != "```") body.Add(lines[j++]);
            if (j >= lines.Length)
            {
                Log.LogError(null, null, null, Readme, i + 2, 0, 0, 0, "the ```{0} block is never closed", Language);
                return false;
            }
            blocks.Add((i + 3, body));
            i = j;
        }
        if (blocks.Count == 0)
        {
            Log.LogError(null, null, null, Readme, 0, 0, 0, 0, "no block is marked '{0}'", marker);
            return false;
        }
        var path = Path.GetFullPath(Readme);
        var text = new StringBuilder();
        if (Language == "csharp")
        {
            var usingDirective = new Regex(@"^using\s+(static\s+)?[\w.]+(\s*=\s*[\w.]+)?\s*;\s*$");
            text.AppendLine("// Generated from README.md by build/ReadmeSnippets.cs: do not edit.");
            text.AppendLine("#pragma warning disable");
            // The usings a `dotnet new console` app has implicitly, as a reader of the README would.
            var implicitUsings = new[] { "System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Net.Http", "System.Threading", "System.Threading.Tasks" }
                .Select(n => "using " + n + ";").ToArray();
            foreach (var u in implicitUsings) text.AppendLine(u);
            foreach (var u in blocks.SelectMany(b => b.Body).Where(l => usingDirective.IsMatch(l.Trim())).Select(l => l.Trim()).Distinct()
                         .Where(u => !implicitUsings.Contains(u)))
                text.AppendLine(u);
            for (var k = 0; k < blocks.Count; k++)
            {
                text.AppendLine("internal static class ReadmeSnippet" + (k + 1));
                text.AppendLine("{");
                text.AppendLine("    internal static async System.Threading.Tasks.Task Run()");
                text.AppendLine("    {");
                for (var n = 0; n < blocks[k].Body.Count; n++)
                {
                    var line = blocks[k].Body[n];
                    text.AppendLine("#line " + (blocks[k].Line + n) + " \"" + path + "\"");
                    text.AppendLine(usingDirective.IsMatch(line.Trim()) ? "" : line);
                }
                text.AppendLine("#line default");
                text.AppendLine("        await System.Threading.Tasks.Task.CompletedTask;");
                text.AppendLine("    }");
                text.AppendLine("}");
            }
        }
        else if (Language == "fsharp")
        {
            text.AppendLine("// Generated from README.md by build/ReadmeSnippets.cs: do not edit.");
            foreach (var block in blocks)
            {
                text.AppendLine("# " + block.Line + " \"" + path + "\"");
                foreach (var line in block.Body) text.AppendLine(line);
            }
        }
        else if (Language == "yaml")
        {
            // Configuration files shown in the README, one after the other (the tests read each one back).
            foreach (var block in blocks) { foreach (var line in block.Body) text.AppendLine(line); text.AppendLine("---"); }
        }
        else
        {
            Log.LogError("Language must be csharp, fsharp or yaml, got '{0}'", Language);
            return false;
        }
        var generated = text.ToString();
        // Rewrite only on change, so an unchanged README keeps the build incremental.
        if (!File.Exists(Output) || File.ReadAllText(Output) != generated)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(Output)));
            File.WriteAllText(Output, generated);
        }
        return true;
    }
}
