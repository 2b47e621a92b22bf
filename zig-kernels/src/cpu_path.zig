//! The run-time switch between SIMD kernels and their scalar reference twins. Tests flip it to
//! compare both paths on the same inputs; production leaves SIMD on.
const std = @import("std");

/// True: kernels take their AVX2/FMA paths; false: the scalar reference paths.
pub var use_simd: std.atomic.Value(bool) = .init(true);

/// Whether SIMD paths are enabled right now.
pub inline fn simd() bool {
    return use_simd.load(.monotonic);
}
