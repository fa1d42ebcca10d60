module Snn.Tests.NpyTests

open System
open System.IO
open System.Text
open Expecto
open Snn.Data
open Snn.Tests.Assertions

let private temporary (name: string) = Path.Combine (Path.GetTempPath (), $"snn-{Guid.NewGuid ():N}-{name}")

/// A version 1.0 file built byte by byte, independently of Npy.write.
let private handMade (descr: string) (fortran: bool) (shape: string) (data: byte[]) =
    let order = if fortran then "True" else "False"
    let dict = $"{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}"
    let padded = dict.PadRight (64 - 11) + "\n"
    let header = Encoding.ASCII.GetBytes padded
    let path = temporary "hand.npy"
    File.WriteAllBytes (path, Array.concat [ [| 0x93uy |]; Encoding.ASCII.GetBytes "NUMPY"; [| 1uy; 0uy |]
                                             BitConverter.GetBytes (uint16 header.Length); header; data ])
    path

let tests =
    testList "Npy" [
        test "reads a hand-made C-order int16 file" {
            let data = [| 1s; -2s; 3s; 4s; 5s; -6s |] |> Array.collect BitConverter.GetBytes
            let a = Npy.read (handMade "<i2" false "(2, 3)" data)
            Expect.equal a.Shape [| 2L; 3L |] "shape"
            Expect.equal a.Values [| 1.; -2.; 3.; 4.; 5.; -6. |] "values"
        }
        test "reorders a Fortran-order file to C order" {
            // Fortran order stores column by column: [[1, 2, 3], [4, 5, 6]] is 1 4 2 5 3 6.
            let data = [| 1.0; 4.0; 2.0; 5.0; 3.0; 6.0 |] |> Array.collect BitConverter.GetBytes
            let a = Npy.read (handMade "<f8" true "(2, 3)" data)
            Expect.equal a.Values [| 1.; 2.; 3.; 4.; 5.; 6. |] "C order"
        }
        test "write then read round-trips every supported dtype" {
            for descr in [ "<f4"; "<f8"; "<i4"; "<i8"; "|u1"; "|b1" ] do
                let path = temporary "roundtrip.npy"
                let values = if descr = "|b1" then [| 1.; 0.; 1.; 1. |] else [| 0.; 1.; 2.5; 255. |] |> Array.map (fun v -> if descr.Contains 'f' then v else floor v)
                Npy.write path descr [| 2L; 2L |] values
                let back = Npy.read path
                Expect.equal (back.Shape, back.Descr, back.Values) ([| 2L; 2L |], descr, values) descr
                let elementSize = match descr with "<f8" | "<i8" -> 8 | "<f4" | "<i4" -> 4 | _ -> 1
                Expect.equal (((File.ReadAllBytes path).Length - 4 * elementSize) % 64) 0 "header padded to 64 bytes"
        }
        test "reads Lava's recorded tinynet output" {
            let a = Npy.read (fixture "lava-netx/tinynet/output.npy")
            Expect.isGreaterThan a.Shape.Length 1 "a tensor"
            Expect.equal (int64 a.Count) (Array.fold (*) 1L a.Shape) "count matches shape"
            Expect.isTrue (a.Values |> Array.forall (fun v -> v = 0.0 || v = 1.0)) "spikes are 0 or 1"
        }
        test "a truncated file names the file and offset" {
            let path = temporary "truncated.npy"
            Npy.write path "<f8" [| 4L |] [| 1.; 2.; 3.; 4. |]
            let bytes = File.ReadAllBytes path
            let dataStart = bytes.Length - 32
            File.WriteAllBytes (path, bytes.[.. bytes.Length - 5])
            let e = Expect.throwsC (fun () -> Npy.read path |> ignore) id
            Expect.isTrue (e :? InvalidDataException) "InvalidDataException"
            Expect.stringContains e.Message path "names the file"
            Expect.stringContains e.Message $"byte {dataStart}:" "names the offset of the data"
        }
        test "an absurd declared shape is reported, not overflowed" {
            let path = handMade "<f8" false "(4611686018427387904, 4611686018427387904)" (Array.zeroCreate 16)
            let e = Expect.throwsC (fun () -> Npy.read path |> ignore) id
            Expect.isTrue (e :? InvalidDataException) $"InvalidDataException, got {e.GetType().Name}"
        }
    ]
