/// Generators of physically meaningful parameters for the properties, and the replayable FsCheck configuration.
module Snn.PropertyTests.Generators

open System
open Expecto
open FsCheck
open FsCheck.FSharp

/// A float drawn uniformly from [lo, hi] on a grid of 10^6 steps (FsCheck shrinks it towards lo).
let floatIn (lo: float) (hi: float) : Gen<float> =
    Gen.choose (0, 1_000_000) |> Gen.map (fun k -> lo + (hi - lo) * float k / 1e6)

/// The seed of this run: SNN_PROPERTY_SEED when set (to replay a failure), otherwise fresh; printed at start.
let seed : uint64 =
    match Environment.GetEnvironmentVariable "SNN_PROPERTY_SEED" with
    | null | "" -> uint64 (Random.Shared.NextInt64 (1L, Int64.MaxValue))
    | text ->
        match UInt64.TryParse text with
        | true, value -> value
        | _ -> failwithf "SNN_PROPERTY_SEED must be an unsigned integer, got '%s'" text

/// 200 cases per property, starting from the printed seed.
let config : FsCheckConfig =
    { FsCheckConfig.defaultConfig with maxTest = 200; replay = Some (seed, 0x9E3779B97F4A7C15UL, None) }
