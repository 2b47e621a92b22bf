//! Software prefetch of a matmul's weight stream. A GEMV's dots issue ~55 vector µops per 144
//! bytes of IQ4_NL_R8 weights, so only a few weight lines are in flight at a time; at this host's
//! DRAM latency the hardware prefetchers fall behind, and the dots read 55–70% of a bare load
//! loop's bandwidth. Prefetching 4 KiB ahead brings them to 80–100%
//! (bench/results/kernel_limits.md §9).

/// How far ahead of the bytes being multiplied the stream is prefetched: 2–16 KiB measured alike
/// (IQ4_NL_R8 2048×1408 from DRAM, 2 threads: 15 → 25 GB/s).
pub const distance = 4096;

inline fn line(p: [*]const u8) void {
    @prefetch(p, .{ .rw = .read, .locality = 3, .cache = .data });
}

/// Prefetches the `bytes` bytes `distance` past `block`, one line per 64 bytes. Callers walk
/// contiguous blocks (an r8 row range's groups), so prefetch addresses at most 64 bytes apart
/// reach every line of the stream; prefetching past its end cannot fault.
pub inline fn blockAhead(comptime bytes: usize, block: [*]const u8) void {
    inline for (0..(bytes + 63) / 64) |i| line(block + distance + 64 * i);
}

/// The line `distance` past `p`: for dots that walk a row and prefetch as they go (the float
/// types, quants/float.zig).
pub inline fn lineAhead(p: [*]const u8) void {
    line(p + distance);
}

/// The same for a whole row before its dot product (per-row layouts: file rows, IQ4_XS, x4),
/// which cannot interleave its prefetches with the row's blocks: one burst per row.
pub inline fn rowAhead(row: [*]const u8, row_bytes: usize) void {
    var offset: usize = 0;
    while (offset < row_bytes) : (offset += 64) line(row + distance + offset);
}

test "prefetching past the end of the weights cannot fault" {
    // The last block and row of a matrix prefetch up to `distance` + a row past its end; here
    // that lies in an inaccessible mapping, which a load would fault on.
    const std = @import("std");
    const page = std.heap.pageSize();
    const span = 2 * page + std.mem.alignForward(usize, distance + 8192, page);
    const region = try std.posix.mmap(null, span, std.posix.PROT.NONE, .{ .TYPE = .PRIVATE, .ANONYMOUS = true }, -1, 0);
    defer std.posix.munmap(region);
    try std.posix.mprotect(region[0..page], std.posix.PROT.READ | std.posix.PROT.WRITE);
    const weights: [*]u8 = region.ptr;
    @memset(weights[0..page], 1);
    blockAhead(1152, weights + page - 1152);
    rowAhead(weights + page - 1088, 1088);
    lineAhead(weights + page - 64);
    try std.testing.expectEqual(@as(u8, 1), weights[page - 1]);
}
