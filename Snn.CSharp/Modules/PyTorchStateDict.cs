using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.FSharp.Collections;
using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>What <see cref="PyTorchStateDict.LoadPyTorch"/> loaded.</summary>
/// <param name="Loaded">(file key, network key) of every tensor loaded.</param>
/// <param name="Ignored">File keys not loaded (e.g. snnTorch's neuron constants <c>beta</c> and <c>threshold</c>).</param>
public sealed record PyTorchLoadReport(IReadOnlyList<(string FileKey, string NetworkKey)> Loaded, IReadOnlyList<string> Ignored);

/// <summary>
/// Weights trained in Python: a <c>state_dict</c> saved by <c>torch.save(model.state_dict(), path)</c> from PyTorch,
/// snnTorch or SpikingJelly, loaded into the equivalent Snn network (F# <c>Snn.Modules.PyTorchStateDict</c>). Keys are
/// matched by name when the file uses Snn's names, otherwise layer by layer in order (snnTorch's <c>fc1.weight</c> →
/// <c>fc1.inner.weight</c>, SpikingJelly's <c>0.weight</c> in an <c>nn.Sequential</c> → the first Linear's weight),
/// with neuron constants (snnTorch's <c>beta</c>, <c>threshold</c>) set aside; a key map overrides both.
/// </summary>
/// <example><code>
/// // Python: torch.save(net.state_dict(), "snntorch.pt") for fc1 = nn.Linear(512, 128), lif1, fc2 = nn.Linear(128, 10), lif2
/// using var model = new DenseSnn(512, 128, 10);
/// var report = model.LoadPyTorch("snntorch.pt");
/// </code></example>
public static class PyTorchStateDict
{
    /// <summary>Loads a PyTorch state dict file into the network.</summary>
    /// <param name="model">The network (its tensors keep their dtype and device).</param>
    /// <param name="path">The file written by <c>torch.save</c>.</param>
    /// <param name="keyMap">File key → network key pairs that override the automatic matching; may be <c>null</c>.</param>
    /// <returns>What was loaded and ignored.</returns>
    /// <exception cref="ArgumentException">A key is missing or a shape differs; the message names the file, the
    /// keys and both shapes. Nothing is loaded then.</exception>
    /// <exception cref="System.IO.InvalidDataException">The file is not a PyTorch state dict archive.</exception>
    /// <exception cref="System.IO.FileNotFoundException">The file does not exist.</exception>
    public static PyTorchLoadReport LoadPyTorch(this nn.Module model, string path, IReadOnlyDictionary<string, string>? keyMap = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(path);
        var map = MapModule.OfSeq((keyMap ?? new Dictionary<string, string>()).Select(kv => Tuple.Create(kv.Key, kv.Value)));
        var r = global::Snn.Modules.PyTorchStateDict.load(model, path, map);
        return new PyTorchLoadReport(r.Loaded.Select(p => (p.Item1, p.Item2)).ToList(), r.Ignored.ToList());
    }

    /// <summary>Writes the network's state dict in the format <c>torch.load</c> reads, under Snn's key names.</summary>
    /// <param name="model">The network.</param>
    /// <param name="path">The file to write.</param>
    public static void SavePyTorch(this nn.Module model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(path);
        global::Snn.Modules.PyTorchStateDict.write(path, model.state_dict().Select(kv => Tuple.Create(kv.Key, kv.Value)).ToArray());
    }
}
