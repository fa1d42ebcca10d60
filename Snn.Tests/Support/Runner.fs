/// Runs an Expecto test tree and reports its real counts for build.fsx.
///
/// Expecto's own summary is meant for people; build.fsx needs numbers. When the environment variable
/// SNN_TEST_COUNTS names a file, the runner writes "passed failed" there after the run. Ignored (skipped) tests
/// count as failed: a skipped test is not a passing one.
module Snn.Testing.Runner

open System
open System.IO
open Expecto
open Expecto.Impl

let private writeCounts (summary: TestRunSummary) =
    let path = Environment.GetEnvironmentVariable "SNN_TEST_COUNTS"
    if not (String.IsNullOrEmpty path) then
        let failed = summary.failed.Length + summary.errored.Length + summary.ignored.Length
        File.WriteAllText (path, $"{summary.passed.Length} {failed}")

/// Runs `tests` sequentially (TorchSharp's dispose scopes and autograd state are per thread) with the command-line
/// arguments `argv`; returns Expecto's exit code.
let run (argv: string[]) (tests: Test) : int =
    let printer =
        { TestPrinters.defaultPrinter with
            summary = fun config summary ->
                async {
                    do! TestPrinters.defaultPrinter.summary config summary
                    writeCounts summary
                } }
    runTestsWithCLIArgs [ CLIArguments.Sequenced; CLIArguments.Printer printer ] argv tests
