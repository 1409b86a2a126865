// webgpu-bnn: the public API.
export * from './bitpack.js';
export { Gpu, Recorder, type Grid, type RunOptions } from './gpu/context.js';
export { acquireDevice, describeAdapter, SWIFTSHADER_ICD, type AdapterSummary, type GpuFeatureSet, type RequestDeviceOptions } from './gpu/device.js';
export { Kernel, KernelCache, type KernelSpec, type BindingValues, type UniformValues, type OverrideValues } from './gpu/kernel.js';
export { BufferPool, sizeClass } from './gpu/buffer-pool.js';
export * from './gpu/errors.js';
export { Random } from './random.js';
export { Tensor, storageWords, elementCount, type DType, type Shape, type HostArray } from './tensor.js';
export { pack, unpack, type BitpackOptions } from './ops/bitpack.js';
export { binaryGemm, binaryGemmReference, thresholdsFromAffine, type BinaryGemmEpilogue, type BinaryGemmOptions, type BinaryGemmReferenceEpilogue } from './ops/gemm-binary.js';
export { gemmF32, gemmF32Reference, type GemmOptions } from './ops/gemm-f32.js';
export { binaryFloatGemm, binaryFloatGemmReference } from './ops/gemm-binary-float.js';
export { defaultGemmTuning, type GemmTuning, type GemmKind } from './ops/gemm-tiling.js';
export { readNpy, writeNpy, NpyError, type NpyArray, type NpyData, type NpyDType, type NpyVersion } from './io/npy.js';
export { maxPool2d, avgPool2d, pool2dGeometry, maxPool2dReference, maxPool2dBinaryReference, avgPool2dReference, type Pool2dOptions, type Pool2dWindow, type Pool2dGeometry, type Pool2dPadding } from './ops/pool.js';
export { kernelPatterns, uniquePerChannel, analyzeKernelReuse, formatKernelReuseReport, redundantWeights, hwioToOhwi, kernelLayerFromNpy, COST_MODEL, MAX_PATTERN_TAPS, type KernelShape, type KernelWeights, type KernelLayer, type KernelLayout, type KernelReuseReport, type LayerReuse, type ChannelReuse } from './analysis/kernel-reuse.js';
export { bconv2d, bconv2dReference, conv2dGeometry, type BConv2dOptions, type Conv2dWindow, type Conv2dGeometry } from './ops/bconv2d.js';
export { conv2d, conv2dReference, type Conv2dOptions } from './ops/conv2d.js';
