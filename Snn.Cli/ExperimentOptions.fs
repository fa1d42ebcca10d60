/// What every experiment suite of `snn experiment` receives.
module Snn.Cli.ExperimentOptions

/// Options shared by all suites.
type SuiteOptions =
    { /// Small enough for a test (seconds), instead of the full run meant for `bench/`.
      Quick: bool
      /// Seeds to repeat every configuration with (mean ± std over them).
      Seeds: int list
      /// Directory the tables (JSON + Markdown) and any other outputs are written to.
      OutputDirectory: string
      /// Prints a progress line.
      Log: string -> unit }
