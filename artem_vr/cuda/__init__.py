"""CUDA paths: NVRTC-compiled kernels (XNOR convolution, float→RGBA8) and CUDA–GL interop.

Everything here imports and compiles without a GPU; launching needs a driver
(:func:`artem_vr.cuda.device.cuda_available` says whether there is one, and why not).
"""
