//! Machine-limit probes: the read bandwidth from DRAM, the f32 FMA peak and the int8
//! (vpmaddubsw) peak, each run as a task on the pool with `threads_used` of its threads working
//! (the others only meet the barriers). Every other benchmark states its figures as a fraction of
//! these, so each is built to reach the limit: bandwidth sums a buffer far larger than the 32 MB
//! L3 with AVX2 loads; the FMA probe keeps 12 independent 8-lane chains in flight (latency 4-5
//! cycles × 2 ports needs ≥ 10); the int8 probe issues vpmaddubsw → vpmaddwd → vpaddd triples on
//! 8 independent accumulators. Each reports the best of `reps` timed repetitions.
const std = @import("std");
const ThreadPool = @import("ThreadPool.zig");

/// Granule of each thread's share of the buffer (8 AVX2 loads; read as two streams).
pub const read_chunk_bytes: usize = 256;
/// Independent FMA chains per thread.
pub const fma_chains: usize = 12;
/// f32 multiply-adds per FMA-probe iteration per thread (chains × 8 lanes).
pub const fma_macs_per_iteration: u64 = fma_chains * 8;
/// u8×i8 multiply-adds per int8-probe iteration per thread (8 vpmaddubsw × 32 byte pairs).
pub const int8_macs_per_iteration: u64 = 8 * 32;

/// Per-thread results kept apart on their own cache lines so the loads/ops are not dead code.
pub const Sinks = [ThreadPool.n_threads_max][8]u64;

/// The shared part of every probe's arguments.
pub const Timing = struct {
    threads_used: usize,
    reps: usize,
    /// Best wall time of one repetition, written by thread 0.
    best_ns: *u64,
    sinks: *Sinks,
};

/// Read-bandwidth probe arguments: `buffer.len` a multiple of `slice_bytes`, itself a multiple
/// of read_chunk_bytes. Repetition r reads slice r mod (buffer.len / slice_bytes), so a slice is
/// read again only after all the others (≥ 7 × 32 MB by default) have pushed it out of L3, and a
/// repetition is short enough (a few ms) that on a shared machine some run undisturbed.
pub const ReadArgs = struct {
    buffer: []u8,
    slice_bytes: usize,
    timing: Timing,
    /// Whether to fill the buffer first (a fresh allocation); false for a caller's buffer that
    /// already holds data (the weights a GEMV benchmark streams), which is then only read.
    fill: bool = true,
};

/// Runs `work(args, ith, n_used, rep)` `reps` times between barriers on the used threads and keeps
/// thread 0's best wall time. Time includes one barrier (~µs), negligible at ≥ 10 ms per rep.
fn timeReps(comptime Args: type, args: *const Args, pool: *ThreadPool, ith: usize, comptime work: fn (*const Args, usize, usize, usize) u64) void {
    const t = args.timing;
    var best: u64 = std.math.maxInt(u64);
    for (0..t.reps) |rep| {
        pool.barrier();
        const start = std.time.Instant.now() catch unreachable;
        if (ith < t.threads_used) t.sinks[ith][0] +%= work(args, ith, t.threads_used, rep);
        pool.barrier();
        const end = std.time.Instant.now() catch unreachable;
        best = @min(best, end.since(start));
    }
    if (ith == 0) t.best_ns.* = best;
}

/// Fills the buffer when asked (so every page is a real, distinct page, not the shared zero
/// page), then times `reps` passes of summing it.
pub fn computeRead(args: *const ReadArgs, pool: *ThreadPool, ith: usize, nth: usize) void {
    std.debug.assert(args.slice_bytes % read_chunk_bytes == 0 and args.buffer.len % args.slice_bytes == 0);
    std.debug.assert(args.timing.threads_used <= nth);
    if (args.fill) {
        const chunks = args.buffer.len / read_chunk_bytes;
        const fill = ThreadPool.splitRange(chunks, ith, nth);
        const bytes = args.buffer[fill.start * read_chunk_bytes .. fill.end * read_chunk_bytes];
        for (0..bytes.len / 8) |i| std.mem.writeInt(u64, bytes[8 * i ..][0..8], (fill.start * read_chunk_bytes / 8 + i) *% 0x9E3779B97F4A7C15, .little);
    }
    timeReps(ReadArgs, args, pool, ith, sumSlice);
}

fn sumSlice(args: *const ReadArgs, ith: usize, n_used: usize, rep: usize) u64 {
    const V = @Vector(8, u32);
    const n_slices = args.buffer.len / args.slice_bytes;
    const slice = args.buffer[(rep % n_slices) * args.slice_bytes ..][0..args.slice_bytes];
    const r = ThreadPool.splitRange(args.slice_bytes / read_chunk_bytes, ith, n_used);
    const bytes = slice[r.start * read_chunk_bytes .. r.end * read_chunk_bytes];
    // Two streams per thread (the two halves of its range, read in lockstep): a Zen 3 core
    // streams ~10-15% more from DRAM with two sequential streams in flight than with one, and
    // the GEMV, which reads several rows at once, does too. One stream made Q8_0 GEMV beat the
    // "limit" by 10%.
    const half = bytes.len / (2 * read_chunk_bytes) * read_chunk_bytes;
    var acc: [8]V = @splat(@splat(0));
    var at: usize = 0;
    while (at < half) : (at += read_chunk_bytes / 2) {
        inline for (0..4) |j| {
            // Unaligned loads: a caller's buffer (bench weights) need not be 32-byte aligned.
            const a: *align(1) const V = @ptrCast(bytes[at + 32 * j ..].ptr);
            const b: *align(1) const V = @ptrCast(bytes[half + at + 32 * j ..].ptr);
            acc[j] +%= a.*;
            acc[4 + j] +%= b.*;
        }
    }
    // The odd chunk of a range with an odd chunk count.
    at = 2 * half;
    while (at < bytes.len) : (at += 32) {
        const v: *align(1) const V = @ptrCast(bytes[at..].ptr);
        acc[0] +%= v.*;
    }
    var total: V = @splat(0);
    for (acc) |a| total +%= a;
    return @reduce(.Add, @as(@Vector(8, u64), total));
}

/// Compute-probe arguments: `iterations` of the inner loop per thread per repetition, and two
/// run-time operands the compiler cannot fold.
pub const PeakArgs = struct {
    iterations: usize,
    multiplier: f32,
    addend: f32,
    timing: Timing,
};

/// Times the f32 FMA loop.
pub fn computeFma(args: *const PeakArgs, pool: *ThreadPool, ith: usize, nth: usize) void {
    std.debug.assert(args.timing.threads_used <= nth);
    timeReps(PeakArgs, args, pool, ith, fmaLoop);
}

fn fmaLoop(args: *const PeakArgs, ith: usize, n_used: usize, rep: usize) u64 {
    _ = .{ n_used, rep };
    const V = @Vector(8, f32);
    const m: V = @splat(args.multiplier);
    const c: V = @splat(args.addend);
    var acc: [fma_chains]V = undefined;
    for (&acc, 0..) |*a, j| a.* = @splat(@floatFromInt(j + ith));
    for (0..args.iterations) |_| {
        inline for (0..fma_chains) |j| acc[j] = @mulAdd(V, acc[j], m, c);
    }
    var total: V = @splat(0);
    for (acc) |a| total += a;
    return @intFromFloat(@abs(@reduce(.Add, total)));
}

/// Times the int8 multiply-add loop.
pub fn computeInt8(args: *const PeakArgs, pool: *ThreadPool, ith: usize, nth: usize) void {
    std.debug.assert(args.timing.threads_used <= nth);
    timeReps(PeakArgs, args, pool, ith, int8Loop);
}

/// Inline asm, because the products do not depend on the accumulators: written as intrinsics,
/// LLVM would hoist the loop-invariant vpmaddubsw/vpmaddwd out of the loop and time only adds.
fn int8Loop(args: *const PeakArgs, ith: usize, n_used: usize, rep: usize) u64 {
    _ = .{ n_used, rep };
    const I8 = @Vector(32, i8);
    const I16 = @Vector(16, i16);
    const I32 = @Vector(8, i32);
    const a: I8 = @splat(@intCast(@as(u32, @intFromFloat(args.multiplier * 10)) % 100));
    const b: I8 = @splat(@intCast(@as(u32, @intFromFloat(args.addend * 10)) % 100 + ith));
    const ones: I16 = @splat(1);
    var c0: I32 = @splat(0);
    var c1 = c0;
    var c2 = c0;
    var c3 = c0;
    var c4 = c0;
    var c5 = c0;
    var c6 = c0;
    var c7 = c0;
    for (0..args.iterations) |_| {
        asm volatile (
            \\vpmaddubsw %[b], %[a], %%ymm12
            \\vpmaddubsw %[b], %[a], %%ymm13
            \\vpmaddubsw %[b], %[a], %%ymm14
            \\vpmaddubsw %[b], %[a], %%ymm15
            \\vpmaddwd %[ones], %%ymm12, %%ymm12
            \\vpmaddwd %[ones], %%ymm13, %%ymm13
            \\vpmaddwd %[ones], %%ymm14, %%ymm14
            \\vpmaddwd %[ones], %%ymm15, %%ymm15
            \\vpaddd %%ymm12, %[c0], %[c0]
            \\vpaddd %%ymm13, %[c1], %[c1]
            \\vpaddd %%ymm14, %[c2], %[c2]
            \\vpaddd %%ymm15, %[c3], %[c3]
            \\vpmaddubsw %[b], %[a], %%ymm12
            \\vpmaddubsw %[b], %[a], %%ymm13
            \\vpmaddubsw %[b], %[a], %%ymm14
            \\vpmaddubsw %[b], %[a], %%ymm15
            \\vpmaddwd %[ones], %%ymm12, %%ymm12
            \\vpmaddwd %[ones], %%ymm13, %%ymm13
            \\vpmaddwd %[ones], %%ymm14, %%ymm14
            \\vpmaddwd %[ones], %%ymm15, %%ymm15
            \\vpaddd %%ymm12, %[c4], %[c4]
            \\vpaddd %%ymm13, %[c5], %[c5]
            \\vpaddd %%ymm14, %[c6], %[c6]
            \\vpaddd %%ymm15, %[c7], %[c7]
            : [c0] "+x" (c0),
              [c1] "+x" (c1),
              [c2] "+x" (c2),
              [c3] "+x" (c3),
              [c4] "+x" (c4),
              [c5] "+x" (c5),
              [c6] "+x" (c6),
              [c7] "+x" (c7),
            : [a] "x" (a),
              [b] "x" (b),
              [ones] "x" (ones),
            : .{ .ymm12 = true, .ymm13 = true, .ymm14 = true, .ymm15 = true });
    }
    const total = ((c0 +% c1) +% (c2 +% c3)) +% ((c4 +% c5) +% (c6 +% c7));
    return @bitCast(@as(i64, @reduce(.Add, @as(@Vector(8, i64), total))));
}

fn runProbe(comptime Args: type, pool: *ThreadPool, args: *const Args, comptime compute: fn (*const Args, *ThreadPool, usize, usize) void) void {
    const Wrap = struct {
        args: *const Args,
        pool: *ThreadPool,
        fn work(self: *const @This(), ith: usize, nth: usize) void {
            compute(self.args, self.pool, ith, nth);
        }
    };
    const wrap: Wrap = .{ .args = args, .pool = pool };
    pool.parallel(Wrap, &wrap, Wrap.work);
}

/// Standalone runners for the exports.
pub fn runRead(pool: *ThreadPool, args: *const ReadArgs) void {
    runProbe(ReadArgs, pool, args, computeRead);
}
pub fn runFma(pool: *ThreadPool, args: *const PeakArgs) void {
    runProbe(PeakArgs, pool, args, computeFma);
}
pub fn runInt8(pool: *ThreadPool, args: *const PeakArgs) void {
    runProbe(PeakArgs, pool, args, computeInt8);
}

test "int8 probe loop computes the products it claims to" {
    var sinks: Sinks = std.mem.zeroes(Sinks);
    var best: u64 = 0;
    const args: PeakArgs = .{ .iterations = 3, .multiplier = 0.5, .addend = 0.7, .timing = .{ .threads_used = 1, .reps = 1, .best_ns = &best, .sinks = &sinks } };
    // a = 5, b = 7: each of 8 accumulators gains 8 lanes × (4 byte products of 35) per iteration.
    try std.testing.expectEqual(@as(u64, 3 * 8 * 8 * 4 * 35), int8Loop(&args, 0, 1, 0));
}

test "read probe sums a buffer and reports a time on 1 and 2 threads" {
    const pool = try ThreadPool.create(std.testing.allocator, 2);
    defer pool.destroy();
    const buffer = try std.testing.allocator.alignedAlloc(u8, .@"64", 1 << 20);
    defer std.testing.allocator.free(buffer);
    for (1..3) |threads| {
        var sinks: Sinks = std.mem.zeroes(Sinks);
        var best: u64 = 0;
        const args: ReadArgs = .{ .buffer = buffer, .slice_bytes = 1 << 18, .timing = .{ .threads_used = threads, .reps = 2, .best_ns = &best, .sinks = &sinks } };
        runRead(pool, &args);
        try std.testing.expect(best > 0);
        try std.testing.expect(sinks[0][0] != 0);
    }
}

test "read probe over a caller's unaligned buffer sums exactly its bytes and leaves them" {
    const pool = try ThreadPool.create(std.testing.allocator, 2);
    defer pool.destroy();
    const storage = try std.testing.allocator.alloc(u8, 3 * 4096 + 1);
    defer std.testing.allocator.free(storage);
    const buffer = storage[1..]; // deliberately misaligned
    for (buffer, 0..) |*b, i| b.* = @truncate(i *% 7);
    // sumSlice adds the buffer as 8 wrapping u32 lanes (word i in lane i mod 8, every load being
    // 32 bytes from the range start), then adds the lanes as u64.
    var lanes: [8]u32 = @splat(0);
    for (0..buffer.len / 4) |i| lanes[i % 8] +%= std.mem.readInt(u32, buffer[4 * i ..][0..4], .little);
    var want: u64 = 0;
    for (lanes) |lane| want += lane;
    var sinks: Sinks = std.mem.zeroes(Sinks);
    var best: u64 = 0;
    const args: ReadArgs = .{ .buffer = buffer, .slice_bytes = buffer.len, .fill = false, .timing = .{ .threads_used = 1, .reps = 1, .best_ns = &best, .sinks = &sinks } };
    runRead(pool, &args);
    try std.testing.expectEqual(want, sinks[0][0]);
    for (buffer, 0..) |b, i| try std.testing.expectEqual(@as(u8, @truncate(i *% 7)), b);
}
