// Differentiable convolutions. Three bilinear primitives close under differentiation:
//   y  = conv(x, w)                 ⟨conv(x, w), g⟩ = ⟨x, convᵀ(g, w)⟩ = ⟨w, convW(x, g)⟩
//   dx = convᵀ(g, w)   (transposed convolution, the input gradient)
//   dw = convW(x, g)   (the weight gradient)
// so each one's pullback is written with the other two and gradients of gradients work.

/// 2-D convolution (cross-correlation), PyTorch's `conv2d`.
///
/// - Parameters:
///   - input: `[N, C, H, W]`.
///   - weight: `[O, C / groups, kh, kw]`; `groups` must divide C and O (depthwise: groups = C).
///   - bias: `[O]`, optional.
/// - Returns: `[N, O, OH, OW]`, `OH = ⌊(H + 2·padding.0 − dilation.0·(kh − 1) − 1) / stride.0⌋ + 1`.
/// - Complexity: im2col per sample and group, then one GEMM of `(O/g) × (C/g·kh·kw) × (chunk·OH·OW)`
///   per chunk of samples. Stride-1 convolutions use direct kernels instead: with AVX2 or AVX-512 any
///   such convolution padded by less than its kernel (`WideConvolution`), else unpadded ones with
///   rows of 8k outputs (`DirectConvolution`).
public func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                   dilation: (Int, Int) = (1, 1), groups: Int = 1) -> Tensor {
    let g = convGeometry(input.shape, weight.shape, stride: stride, padding: padding, dilation: dilation, groups: groups, op: "conv2d")
    if let b = bias {
        precondition(b.shape == [g.outChannels], "conv2d: bias \(b.shape) does not match \(g.outChannels) output channels (weight \(weight.shape))")
    }
    return convolution(input, weight, bias: bias, g)
}

/// 1-D convolution, PyTorch's `conv1d`: input `[N, C, L]`, weight `[O, C / groups, k]`, bias `[O]`.
/// Computed as a 2-D convolution of height 1.
public func conv1d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                   dilation: Int = 1, groups: Int = 1) -> Tensor {
    precondition(input.rank == 3, "conv1d: input must be [N, C, L], got \(input.shape)")
    precondition(weight.rank == 3, "conv1d: weight must be [O, C/groups, k], got \(weight.shape)")
    let (n, c, l) = (input.shape[0], input.shape[1], input.shape[2])
    let w = weight.shape
    let y = conv2d(input.reshaped([n, c, 1, l]), weight: weight.reshaped([w[0], w[1], 1, w[2]]), bias: bias,
                   stride: (1, stride), padding: (0, padding), dilation: (1, dilation), groups: groups)
    return y.reshaped([n, y.shape[1], y.shape[3]])
}

/// 2-D convolutions of a stacked population: member m convolves its own samples with its own
/// weights, exactly as ``conv2d(_:weight:bias:stride:padding:dilation:groups:)`` would alone.
///
/// - Parameters:
///   - input: `[M·N, C, H, W]`, member-major (member m's samples are rows `m·N ..< (m+1)·N`).
///   - weight: `[M, O, C / groups, kh, kw]`.
///   - bias: `[M, O]`, optional.
/// - Returns: `[M·N, O, OH, OW]`.
public func stackedConv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                          dilation: (Int, Int) = (1, 1), groups: Int = 1) -> Tensor {
    let g = stackedGeometry(input, weight, bias, stride: stride, padding: padding, dilation: dilation, groups: groups, op: "stackedConv2d")
    return convolution(input, g.members == 1 ? weight.reshaped(g.weightShape) : weight, bias: bias, g)
}

/// The geometry of a stacked convolution (``stackedConv2d(_:weight:bias:stride:padding:dilation:groups:)``),
/// its shapes validated, naming `op` on failure.
private func stackedGeometry(_ input: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: (Int, Int), padding: (Int, Int),
                             dilation: (Int, Int), groups: Int, op: String) -> ConvGeometry {
    precondition(weight.rank == 5, "\(op): weight must be [M, O, C/groups, kh, kw], got \(weight.shape)")
    let members = weight.shape[0]
    precondition(input.rank == 4 && members >= 1 && input.shape[0] % members == 0,
                 "\(op): input \(input.shape) must be [M·N, C, H, W] with M = \(members) members (weight \(weight.shape))")
    var x = input.shape
    x[0] /= members
    var g = convGeometry(x, Array(weight.shape.dropFirst()), stride: stride, padding: padding, dilation: dilation, groups: groups, op: op)
    g.members = members
    if let b = bias {
        precondition(b.shape == [members, g.outChannels],
                     "\(op): bias \(b.shape) does not match [\(members), \(g.outChannels)] (weight \(weight.shape))")
    }
    return g
}

/// ``stackedConv2d(_:weight:bias:stride:padding:dilation:groups:)`` (stride 1, no padding, no
/// dilation, one group) followed by ``maxPool2d(_:kernelSize:stride:padding:)`` over 2×2
/// windows: the same values, bits and gradients as the two ops. When nothing is recorded for
/// differentiation and the kernel path has a one-pass kernel for the shapes (AVX2: output rows of
/// 8, 16 or 24), the convolution's outputs are pooled in registers and never stored; otherwise the
/// two ops run.
/// - Returns: `[M·N, O, OH / 2, OW / 2]`.
public func stackedConv2dMaxPool2(_ input: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    let g = stackedGeometry(input, weight, bias, stride: (1, 1), padding: (0, 0), dilation: (1, 1), groups: 1, op: "stackedConv2dMaxPool2")
    if !Tensor.records([input, weight] + (bias.map { [$0] } ?? [])),
       let y = WideConvolution.forwardMaxPooled(input.scalars, weight.scalars, g, bias: bias?.scalars) {
        return Tensor(shape: [input.shape[0], g.outChannels, g.outHeight / 2, g.outWidth / 2], scalars: y)
    }
    return maxPool2d(stackedConv2d(input, weight: weight, bias: bias), kernelSize: (2, 2))
}

/// Validates the shapes and options of a 2-D convolution, naming the op and shapes on failure.
func convGeometry(_ x: [Int], _ w: [Int], stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int, op: String) -> ConvGeometry {
    precondition(x.count == 4, "\(op): input must be [N, C, H, W], got \(x)")
    precondition(w.count == 4, "\(op): weight must be [O, C/groups, kh, kw], got \(w)")
    precondition(groups >= 1 && x[1] % groups == 0 && w[0] % groups == 0,
                 "\(op): groups \(groups) must divide the input channels of \(x) and the output channels of weight \(w)")
    precondition(w[1] * groups == x[1],
                 "\(op): input \(x) has \(x[1]) channels but weight \(w) expects \(w[1]) × groups \(groups) = \(w[1] * groups)")
    precondition(stride.0 >= 1 && stride.1 >= 1 && dilation.0 >= 1 && dilation.1 >= 1 && padding.0 >= 0 && padding.1 >= 0,
                 "\(op): stride \(stride) and dilation \(dilation) must be ≥ 1 and padding \(padding) ≥ 0")
    let g = ConvGeometry(batch: x[0], inChannels: x[1], height: x[2], width: x[3], outChannels: w[0], kernelHeight: w[2], kernelWidth: w[3],
                         strideH: stride.0, strideW: stride.1, padH: padding.0, padW: padding.1,
                         dilationH: dilation.0, dilationW: dilation.1, groups: groups)
    precondition(g.height + 2 * g.padH >= g.dilationH * (g.kernelHeight - 1) + 1 && g.width + 2 * g.padW >= g.dilationW * (g.kernelWidth - 1) + 1,
                 "\(op): kernel \(w[2])×\(w[3]) with dilation \(dilation) does not fit input \(x) padded by \(padding)")
    return g
}

/// conv(x, w) + bias as one op: the kernels add the bias as they write the output (its gradient
/// is the channel sums of the output gradient).
func convolution(_ x: Tensor, _ w: Tensor, bias: Tensor?, _ g: ConvGeometry) -> Tensor {
    guard let b = bias else { return convolution(x, w, g) }
    let (y, padded) = forwardKeepingPaddedInput(x, w, b, g)
    return Tensor.recorded("conv2dBias", shape: g.outputShape, scalars: y, inputs: [x, w, b]) { gy, needs in
        [needs[0] ? convolutionInputGradient(gy, w, g) : nil, needs[1] ? convolutionWeightGradient(x, gy, g, padded: padded) : nil,
         needs[2] ? channelSums(gy, like: b) : nil]
    }
}

/// conv(x, w) without bias, on the tape.
func convolution(_ x: Tensor, _ w: Tensor, _ g: ConvGeometry) -> Tensor {
    let (y, padded) = forwardKeepingPaddedInput(x, w, nil, g)
    return Tensor.recorded("conv2d", shape: g.outputShape, scalars: y, inputs: [x, w]) { gy, needs in
        [needs[0] ? convolutionInputGradient(gy, w, g) : nil, needs[1] ? convolutionWeightGradient(x, gy, g, padded: padded) : nil]
    }
}

/// The forward kernels; where the wide kernels pad the input explicitly, the padded input too,
/// for the weight gradient to reuse (the tape keeps it until the backward pass, instead of
/// padding the same input twice).
private func forwardKeepingPaddedInput(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ g: ConvGeometry) -> (y: [Float], padded: [Float]?) {
    guard WideConvolution.applies(g) && (g.padH > 0 || g.padW > 0) else {
        return (ConvolutionKernels.forward(x.scalars, w.scalars, g, bias: b?.scalars), nil)
    }
    let padded = WideConvolution.padded(x.scalars, g)
    return (WideConvolution.forward(padded, w.scalars, g.unpadded, bias: b?.scalars), padded)
}

/// convᵀ(dy, w): a transposed convolution, on the tape.
func convolutionInputGradient(_ dy: Tensor, _ w: Tensor, _ g: ConvGeometry) -> Tensor {
    let dx = ConvolutionKernels.inputGradient(dy.scalars, w.scalars, g)
    return Tensor.recorded("conv2dInputGradient", shape: g.inputShape, scalars: dx, inputs: [dy, w]) { gz, needs in
        [needs[0] ? convolution(gz, w, g) : nil, needs[1] ? convolutionWeightGradient(gz, dy, g) : nil]
    }
}

/// convW(x, dy): the weight gradient of a convolution, on the tape. `padded`, when given, is x
/// already padded for the wide kernels (``WideConvolution/padded(_:_:)``).
func convolutionWeightGradient(_ x: Tensor, _ dy: Tensor, _ g: ConvGeometry, padded: [Float]? = nil) -> Tensor {
    let dw = padded.map { WideConvolution.weightGradient($0, dy.scalars, g.unpadded) }
        ?? ConvolutionKernels.weightGradient(x.scalars, dy.scalars, g)
    return Tensor.recorded("conv2dWeightGradient", shape: g.weightShape, scalars: dw, inputs: [x, dy]) { gz, needs in
        [needs[0] ? convolutionInputGradient(dy, gz, g) : nil, needs[1] ? convolution(x, gz, g) : nil]
    }
}
