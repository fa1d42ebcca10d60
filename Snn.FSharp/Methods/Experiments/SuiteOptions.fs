/// What every experiment suite of `snn experiment` receives.
module Snn.Experiments.SuiteOptions

/// Options shared by all suites.
type SuiteOptions =
    { /// Small enough for a test (seconds), instead of the full run meant for `bench/`.
      Quick: bool
      /// Seeds to repeat every configuration with (mean ± std over them).
      Seeds: int list
      /// The datasets to run ("moving-patterns", "event-fashion-mnist", "event-mnist"); a suite skips the others.
      Datasets: string list
      /// The table ids a suite runs (e.g. "table10", "table13"); empty runs all. A suite without tables of those
      /// ids ignores it.
      Tables: string list
      /// Directory the tables (JSON + Markdown) and any other outputs are written to.
      OutputDirectory: string
      /// Prints a progress line.
      Log: string -> unit }

    /// Whether the run includes dataset `name`; logs the skip when it does not.
    member o.Runs (name: string) : bool =
        let runs = List.contains name o.Datasets
        if not runs then o.Log $"{name}: not chosen by --dataset"
        runs

/// The dataset names `--dataset` accepts (besides "all").
let datasetNames = [ "moving-patterns"; "event-fashion-mnist"; "event-mnist" ]
