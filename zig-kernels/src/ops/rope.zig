//! YaRN RoPE, DeepSeek2 variant (MLA_SPEC §1.6): "normal" mode, i.e. GPT-J adjacent pairs
//! (2i, 2i+1), over `n_dims` values at `offset` of every head row, per token position. The same
//! op ropes the 64 dims at offset 128 of each 192-wide query head (16 heads per token) and the
//! 64 dims at offset 512 of the 576-wide kv_a row (1 "head" per token). Angles and cos/sin are
//! computed once per token in f64 (ggml uses f32 powf; f64 keeps large positions exact to f32).
const std = @import("std");
const ThreadPool = @import("../ThreadPool.zig");
const cpu_path = @import("../cpu_path.zig");
const vm = @import("vec_math.zig");

/// Most rotated dims per head; bounds the per-token cos/sin table on the stack.
pub const n_dims_max: usize = 256;

/// YaRN parameters, named as in ggml_rope_ext.
pub const Params = struct {
    /// Rotated dims per head (even, ≤ n_dims_max); 64 for DeepSeek2.
    n_dims: usize,
    freq_base: f32,
    /// 1 / YaRN factor (1/40 for V2-Lite); 1 disables interpolation.
    freq_scale: f32,
    /// 1 with YaRN, 0 for plain (linear-scaled) RoPE.
    ext_factor: f32,
    /// Magnitude multiplier; with ext_factor ≠ 0 it is further × (1 + 0.1·ln(1/freq_scale)).
    attn_factor: f32,
    beta_fast: f32,
    beta_slow: f32,
    n_ctx_orig: u32,
};

/// One RoPE node over `n_tokens × n_heads` head rows, in place or into a same-layout `dst`.
pub const Args = struct {
    src: [*]const f32,
    dst: [*]f32,
    n_tokens: usize,
    n_heads: usize,
    /// Elements from one token's first head to the next token's.
    token_stride: usize,
    /// Elements from one head to the next within a token.
    head_stride: usize,
    /// First rotated element within a head row.
    offset: usize,
    /// `n_tokens` positions.
    positions: [*]const i32,
    params: Params,
};

/// The pair range [lo, hi] over which YaRN blends extrapolation into interpolation.
pub const CorrDims = struct { lo: f64, hi: f64 };

/// ggml_rope_yarn_corr_dims: pairs below `lo` keep the original frequency, above `hi` are divided
/// by the YaRN factor.
pub fn corrDims(p: Params) CorrDims {
    const n_dims: f64 = @floatFromInt(p.n_dims);
    const base: f64 = p.freq_base;
    const ctx: f64 = @floatFromInt(p.n_ctx_orig);
    const dim = struct {
        fn at(nd: f64, c: f64, rot: f64, b: f64) f64 {
            return nd * @log(c / (rot * 2.0 * std.math.pi)) / (2.0 * @log(b));
        }
    }.at;
    return .{
        .lo = @max(0.0, @floor(dim(n_dims, ctx, p.beta_fast, base))),
        .hi = @min(n_dims - 1.0, @ceil(dim(n_dims, ctx, p.beta_slow, base))),
    };
}

/// Per pair i the angle is position · speed[i]: YaRN's blend of the extrapolated frequency
/// base^(−2i/n_dims) and the interpolated one (× freq_scale) does not depend on the position, so
/// it is computed once per call and each token costs only its cos/sin.
const Speeds = struct {
    speed: [n_dims_max / 2]f64,
    mag: f64,

    fn init(p: Params) Speeds {
        const corr = corrDims(p);
        const n_dims: f64 = @floatFromInt(p.n_dims);
        const freq_scale: f64 = p.freq_scale;
        const ext: f64 = p.ext_factor;
        var self: Speeds = .{ .speed = undefined, .mag = p.attn_factor };
        if (ext != 0) self.mag *= 1.0 + 0.1 * @log(1.0 / freq_scale);
        for (0..p.n_dims / 2) |i| {
            const pair: f64 = @floatFromInt(i);
            const extrap = std.math.pow(f64, p.freq_base, -2.0 * pair / n_dims);
            const interp = freq_scale * extrap;
            var speed = interp;
            if (ext != 0) {
                const y = (pair - corr.lo) / @max(0.001, corr.hi - corr.lo);
                const ramp_mix = (1.0 - std.math.clamp(y, 0.0, 1.0)) * ext;
                speed = interp * (1.0 - ramp_mix) + extrap * ramp_mix;
            }
            self.speed[i] = speed;
        }
        return self;
    }

    /// Fills the rotation of one position, duplicated per lane so the SIMD path multiplies
    /// [x0, x1, ...] by [c0, c0, ...] and the swapped [x1, x0, ...] by [-s0, s0, ...].
    fn fillTable(self: *const Speeds, pos: i32, cos_dup: []f32, sin_signed: []f32) void {
        const p: f64 = @floatFromInt(pos);
        for (0..cos_dup.len / 2) |i| {
            const theta = p * self.speed[i];
            const c: f32 = @floatCast(@cos(theta) * self.mag);
            const s: f32 = @floatCast(@sin(theta) * self.mag);
            cos_dup[2 * i] = c;
            cos_dup[2 * i + 1] = c;
            sin_signed[2 * i] = -s;
            sin_signed[2 * i + 1] = s;
        }
    }
};

/// Head rows are split evenly over threads; each thread computes the per-pair speeds once and
/// rebuilds the cos/sin table when its rows move on to a new token (once per token per thread).
pub fn compute(args: *const Args, pool: *ThreadPool, ith: usize, nth: usize) void {
    _ = pool;
    const p = args.params;
    std.debug.assert(p.n_dims % 2 == 0 and p.n_dims > 0 and p.n_dims <= n_dims_max);
    const range = ThreadPool.splitRange(args.n_tokens * args.n_heads, ith, nth);
    if (range.start == range.end) return;
    const speeds = Speeds.init(p);
    var cos_dup: [n_dims_max]f32 = undefined;
    var sin_signed: [n_dims_max]f32 = undefined;
    var table_token: usize = std.math.maxInt(usize);
    const simd = cpu_path.simd();
    for (range.start..range.end) |row| {
        const token = row / args.n_heads;
        const head = row % args.n_heads;
        if (token != table_token) {
            speeds.fillTable(args.positions[token], cos_dup[0..p.n_dims], sin_signed[0..p.n_dims]);
            table_token = token;
        }
        const at = token * args.token_stride + head * args.head_stride + args.offset;
        const src = args.src[at..][0..p.n_dims];
        const dst = args.dst[at..][0..p.n_dims];
        if (simd) rotateSimd(src, dst, cos_dup[0..p.n_dims], sin_signed[0..p.n_dims]) else rotateScalar(src, dst, cos_dup[0..p.n_dims], sin_signed[0..p.n_dims]);
    }
}

/// out[2i] = x[2i]·c − x[2i+1]·s, out[2i+1] = x[2i]·s + x[2i+1]·c.
fn rotateScalar(src: []const f32, dst: []f32, cos_dup: []const f32, sin_signed: []const f32) void {
    var i: usize = 0;
    while (i < src.len) : (i += 2) {
        const x0 = src[i];
        const x1 = src[i + 1];
        const c = cos_dup[i];
        const s = sin_signed[i + 1];
        dst[i] = x0 * c - x1 * s;
        dst[i + 1] = x0 * s + x1 * c;
    }
}

fn rotateSimd(src: []const f32, dst: []f32, cos_dup: []const f32, sin_signed: []const f32) void {
    const swap_pairs = [8]i32{ 1, 0, 3, 2, 5, 4, 7, 6 };
    var i: usize = 0;
    while (i + 8 <= src.len) : (i += 8) {
        const x = vm.load(src, i);
        const swapped = @shuffle(f32, x, undefined, swap_pairs);
        vm.store(dst, i, @mulAdd(vm.F32x8, swapped, vm.load(sin_signed, i), x * vm.load(cos_dup, i)));
    }
    if (i < src.len) rotateScalar(src[i..], dst[i..], cos_dup[i..], sin_signed[i..]);
}

test "corrDims gives the V2-Lite ramp 10..23 (MLA_SPEC §1.6)" {
    const c = corrDims(.{ .n_dims = 64, .freq_base = 10000, .freq_scale = 1.0 / 40.0, .ext_factor = 1, .attn_factor = 1, .beta_fast = 32, .beta_slow = 1, .n_ctx_orig = 4096 });
    try std.testing.expectEqual(@as(f64, 10), c.lo);
    try std.testing.expectEqual(@as(f64, 23), c.hi);
}

test "rope SIMD and scalar twins agree and a position-0 rotation is the identity times mag" {
    const pool = try ThreadPool.create(std.testing.allocator, 2);
    defer pool.destroy();
    var prng = std.Random.DefaultPrng.init(5);
    const random = prng.random();
    const n_tokens = 3;
    const n_heads = 4;
    var data: [n_tokens * n_heads * 192]f32 = undefined;
    for (&data) |*x| x.* = random.floatNorm(f32);
    const positions = [_]i32{ 0, 7, 4000 };
    var outs: [2][data.len]f32 = undefined;
    for (0..2) |path| {
        cpu_path.use_simd.store(path == 0, .monotonic);
        outs[path] = data;
        const args: Args = .{ .src = &data, .dst = &outs[path], .n_tokens = n_tokens, .n_heads = n_heads, .token_stride = n_heads * 192, .head_stride = 192, .offset = 128, .positions = &positions, .params = .{ .n_dims = 64, .freq_base = 10000, .freq_scale = 1, .ext_factor = 0, .attn_factor = 1, .beta_fast = 32, .beta_slow = 1, .n_ctx_orig = 4096 } };
        pool.parallel(Args, &args, struct {
            fn work(a: *const Args, ith: usize, nth: usize) void {
                compute(a, undefined, ith, nth);
            }
        }.work);
    }
    cpu_path.use_simd.store(true, .monotonic);
    for (outs[0], outs[1], data, 0..) |a, b, x, i| {
        try std.testing.expectApproxEqAbs(a, b, 1e-5);
        if (i < n_heads * 192 or i % 192 < 128) try std.testing.expectEqual(x, a);
    }
}
