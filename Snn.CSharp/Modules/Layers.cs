using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace Snn.CSharp;

/// <summary>
/// Layers over time-first tensors [T, B, ...] and the networks of thesis ch. 3. Stateless layers run once over the
/// merged [T·B] batch; dropout shares one mask over time; containers invoke their children so monitors see them.
/// </summary>
public static class Layers
{
    /// <summary>Conv2d with a square kernel: [T, B, Cin, H, W] → [T, B, Cout, H', W'].</summary>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="kernel">Kernel size.</param>
    /// <param name="stride">Stride.</param>
    /// <param name="padding">Zero padding.</param>
    /// <returns>The layer.</returns>
    public static nn.Module<Tensor, Tensor> Conv2d(int inChannels, int outChannels, int kernel = 3, int stride = 1, int padding = 1) =>
        global::Snn.Modules.TimeLayers.conv2d("conv", inChannels, outChannels, kernel, stride, padding);

    /// <summary>Max pooling k × k, stride k.</summary>
    /// <param name="kernel">k.</param>
    /// <returns>The layer.</returns>
    public static nn.Module<Tensor, Tensor> MaxPool2d(int kernel = 2) => global::Snn.Modules.TimeLayers.maxPool2d("maxpool", kernel);

    /// <summary>Average pooling k × k, stride k.</summary>
    /// <param name="kernel">k.</param>
    /// <returns>The layer.</returns>
    public static nn.Module<Tensor, Tensor> AvgPool2d(int kernel = 2) => global::Snn.Modules.TimeLayers.avgPool2d("avgpool", kernel);

    /// <summary>Batch normalisation with statistics over (T, B, H, W).</summary>
    /// <param name="channels">Channels.</param>
    /// <returns>The layer.</returns>
    public static nn.Module<Tensor, Tensor> BatchNorm2d(int channels) => global::Snn.Modules.TimeLayers.batchNorm2d("bn", channels);

    /// <summary>Threshold-dependent batch normalisation: y = λ α V_th (x - μ)/√(σ² + ε) + β.</summary>
    /// <param name="channels">Channels C of [T, B, C] or [T, B, C, H, W].</param>
    /// <param name="alpha">α.</param>
    /// <param name="vThreshold">The firing threshold V_th of the next layer.</param>
    /// <returns>The layer.</returns>
    public static nn.Module<Tensor, Tensor> ThresholdDependentBatchNorm(int channels, double alpha = 1.0, double vThreshold = 1.0) =>
        new global::Snn.Modules.ThresholdDependentBatchNorm("tdbn", channels, alpha, vThreshold);

    /// <summary>Fully connected layer [T, B, Nin] → [T, B, Nout].</summary>
    /// <param name="inputs">Nin.</param>
    /// <param name="outputs">Nout.</param>
    /// <returns>The layer.</returns>
    public static nn.Module<Tensor, Tensor> Linear(int inputs, int outputs) => global::Snn.Modules.TimeLayers.linear("linear", inputs, outputs);

    /// <summary>[T, B, ...] → [T, B, N].</summary>
    /// <returns>The layer.</returns>
    public static nn.Module<Tensor, Tensor> Flatten() => new global::Snn.Modules.TimeFlatten("flatten");

    /// <summary>Dropout with one mask per sequence shared by every step (identity in evaluation).</summary>
    /// <param name="p">Drop probability in [0, 1).</param>
    /// <returns>The layer.</returns>
    public static nn.Module<Tensor, Tensor> SharedDropout(double p = 0.5) => new global::Snn.Modules.SharedDropout("dropout", p);

    /// <summary>Average voting over groups of consecutive neurons: [T, B, C·g] → [T, B, C].</summary>
    /// <param name="groupSize">g, neurons per class.</param>
    /// <returns>The layer.</returns>
    public static nn.Module<Tensor, Tensor> Voting(int groupSize = 10) => new global::Snn.Modules.Voting("voting", groupSize);

    /// <summary>Runs layers in order; consecutive stateless layers run once over the merged [T·B] batch.</summary>
    /// <param name="layers">The layers.</param>
    /// <returns>The container.</returns>
    public static nn.Module<Tensor, Tensor> Sequential(params nn.Module<Tensor, Tensor>[] layers) =>
        new global::Snn.Modules.SpikingSequential("sequential", layers);

    /// <summary>The VGG-like feature block: per layer conv 3×3 → BN → PLIF → max-pool 2×2.</summary>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="layers">Number of blocks.</param>
    /// <param name="channels">Convolution channels (128 in the thesis).</param>
    /// <param name="neuron">PLIF parameters; <c>null</c> means the defaults.</param>
    /// <returns>The block: [T, B, Cin, H, W] → spikes [T, B, channels, H/2^L, W/2^L].</returns>
    public static nn.Module<Tensor, Tensor> VggFeatureBlock(int inChannels, int layers, int channels = 128, PlifParameters? neuron = null) =>
        new global::Snn.Modules.VggFeatureBlock(inChannels, layers, channels, (neuron ?? new PlifParameters()).ToCore());

    /// <summary>An MLP block of PLIF neurons with shared-mask dropout before every layer but the first.</summary>
    /// <param name="sizes">Input size then layer sizes.</param>
    /// <param name="dropout">Drop probability.</param>
    /// <param name="neuron">PLIF parameters; <c>null</c> means the defaults.</param>
    /// <returns>The block.</returns>
    public static nn.Module<Tensor, Tensor> MlpBlock(IReadOnlyList<int> sizes, double dropout = 0.5, PlifParameters? neuron = null)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        return new global::Snn.Modules.MlpBlock(sizes.ToArray(), (neuron ?? new PlifParameters()).ToCore(), dropout);
    }

    /// <summary>The thesis ch. 3 classifier: features → flatten → MLP (F, F/4, classes·votes) → voting.</summary>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="height">Input height.</param>
    /// <param name="width">Input width.</param>
    /// <param name="featureLayers">Feature blocks.</param>
    /// <param name="classes">Classes.</param>
    /// <param name="channels">Convolution channels.</param>
    /// <param name="votes">Output neurons per class.</param>
    /// <param name="neuron">PLIF parameters; <c>null</c> means the defaults.</param>
    /// <returns>The network: [T, B, Cin, H, W] → votes [T, B, classes].</returns>
    public static nn.Module<Tensor, Tensor> VggSnn(int inChannels, int height, int width, int featureLayers, int classes,
                                                   int channels = 128, int votes = 10, PlifParameters? neuron = null) =>
        new global::Snn.Modules.VggSnn(inChannels, height, width, featureLayers, channels, classes, votes, (neuron ?? new PlifParameters()).ToCore());
}
