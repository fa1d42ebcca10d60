/// What a training command shows while it runs and keeps afterwards: every line it prints is also appended to
/// `log.txt` in its run folder, and progress within an epoch is a Spectre.Console bar with rate and ETA on a
/// terminal, or a plain line at each quarter of the epoch when the output is redirected (CI, tests, `| tee`).
module Snn.Cli.RunOutput

open System
open System.Diagnostics
open System.IO
open System.Text
open Spectre.Console

/// Whether progress is drawn as a live bar: standard output is a terminal that can redraw, and neither `CI` nor
/// `SNN_PROGRESS=plain` asks for plain lines.
let isTerminal () : bool =
    not Console.IsOutputRedirected
    && Environment.GetEnvironmentVariable "TERM" <> "dumb"
    && String.IsNullOrEmpty (Environment.GetEnvironmentVariable "CI")
    && Environment.GetEnvironmentVariable "SNN_PROGRESS" <> "plain"

/// A writer that hands every completed line to `onLine` (the tee of standard output into the log).
type private LineWriter (onLine: string -> unit) =
    inherit TextWriter ()
    let pending = StringBuilder ()
    override _.Encoding = Encoding.UTF8
    override _.Write (c: char) =
        match c with
        | '\n' ->
            onLine (pending.ToString ())
            pending.Clear () |> ignore
        | '\r' -> ()
        | c -> pending.Append c |> ignore
    override this.Flush () = if pending.Length > 0 then this.Write '\n'

/// The live console while a progress bar is drawn: lines printed meanwhile go through it, above the bar.
let mutable private live : IAnsiConsole option = None

/// Runs `body` with standard output also appended, line by line, to `logPath` (created with its folder); standard
/// output is restored afterwards, also on an exception.
let withLog (logPath: string) (body: unit -> 'a) : 'a =
    Directory.CreateDirectory (Path.GetDirectoryName (Path.GetFullPath logPath)) |> ignore
    let original = Console.Out
    use log = new StreamWriter (logPath, true, UTF8Encoding false, AutoFlush = true)
    use tee = new LineWriter (fun line ->
        match live with
        | Some console -> console.WriteLine line
        | None -> original.WriteLine line
        log.WriteLine line)
    Console.SetOut tee
    try body ()
    finally
        tee.Flush ()
        Console.SetOut original

/// The plain progress line of a batch report: batches done of the epoch's, rate, ETA and running mean loss. The rate
/// counts the batches after the epoch's first over the `seconds` since the first was reported (the first batch's own
/// start is not reported); "-" while it is unknown.
let plainLine (epoch: int) (finished: int) (total: int) (loss: float) (seconds: float) : string =
    let rate = if finished > 1 && seconds > 0.0 then Some (float (finished - 1) / seconds) else None
    let rateText, etaText =
        match rate with
        | Some r -> r.ToString ("F1", Globalization.CultureInfo.InvariantCulture), (float (total - finished) / r).ToString ("F1", Globalization.CultureInfo.InvariantCulture)
        | None -> "-", "-"
    $"epoch {epoch,3}: {finished}/{total} batches, {rateText} batches/s, ETA {etaText} s, loss {loss:F4}"

/// Runs `body`, handing it the per-batch callback of `Trainer.run` ((epoch, batches done, batches per epoch, running
/// mean loss)). `console` draws one bar per epoch (description with rate and loss, percentage, remaining time) that
/// disappears when the epoch ends; lines printed meanwhile appear above it. Without a console a plain line is printed
/// whenever a quarter of the epoch is done (every batch of an epoch of fewer than four).
let withProgress (console: IAnsiConsole option) (body: (Snn.Training.BatchProgress -> unit) -> 'a) : 'a =
    let clock = Stopwatch ()
    let quarter (finished: int) (total: int) = finished * 4 / max 1 total
    match console with
    | None ->
        body (fun (epoch, finished, total, loss) ->
            if finished <= 1 then clock.Restart ()
            if total < 4 || quarter finished total <> quarter (finished - 1) total then
                printfn "%s" (plainLine epoch finished total loss clock.Elapsed.TotalSeconds))
    | Some ansi ->
        ansi.Progress()
            .AutoClear(true)
            .HideCompleted(true)
            .Columns([| TaskDescriptionColumn () :> ProgressColumn; ProgressBarColumn (); PercentageColumn (); RemainingTimeColumn () |])
            .Start (fun context ->
                live <- Some ansi
                try
                    let mutable task : ProgressTask option = None
                    body (fun (epoch, finished, total, loss) ->
                        if finished <= 1 then
                            task |> Option.iter (fun t -> t.StopTask ())
                            task <- Some (context.AddTask ($"epoch {epoch}", true, float total))
                            clock.Restart ()
                        let rate = float (finished - 1) / max 1e-9 clock.Elapsed.TotalSeconds
                        task |> Option.iter (fun t ->
                            t.Description <- $"epoch {epoch,3} {rate,6:F1} batches/s loss {loss:F4}"
                            t.Value <- float finished
                            if finished >= total then t.StopTask ()))
                finally live <- None)

/// The console progress is drawn on: the terminal's, or None (plain lines) when `isTerminal` says no. It writes to
/// the standard output of the moment it is made, before `withLog` replaces it.
let progressConsole (terminal: TextWriter) : IAnsiConsole option =
    if isTerminal () then Some (AnsiConsole.Create (AnsiConsoleSettings (Out = AnsiConsoleOutput terminal)))
    else None

/// Runs a training command's `body` with its output kept in `folder`/log.txt and the per-batch callback of
/// `withProgress` (a bar on a terminal, plain lines otherwise).
let inRunFolder (folder: string) (body: (Snn.Training.BatchProgress -> unit) -> 'a) : 'a =
    let console = progressConsole Console.Out
    withLog (Path.Combine (folder, "log.txt")) (fun () -> withProgress console body)
