// The translation unit that makes the shared LibTorch precompiled header (lumen_torch_pch in
// cmake/LumenTargets.cmake); the header itself comes in through the PCH, nothing else is here.
