//! MoE routing for one token at a time (MLA_SPEC §1.9 steps 2-6): gate probabilities from the
//! router logits, expert selection (optionally biased by exp_probs_b, which changes only *which*
//! experts win), then the chosen experts' weights, optionally renormalized and scaled.
//! Optional group-limited routing (mainline llama.cpp with `expert_group_count` > 1, the V3
//! "noaux_tc" rule): a group scores the sum of its two best selection scores, only the
//! `n_group_used` best groups stay eligible. ik_llama.cpp ignores these keys for deepseek2, and
//! V2-Lite has one group, so it is off by default.
const std = @import("std");
const ThreadPool = @import("../ThreadPool.zig");
const cpu_path = @import("../cpu_path.zig");
const softmax = @import("softmax.zig");
const top_k = @import("top_k.zig");

/// Most experts a router row may have; bounds the per-token scratch kept on the stack.
pub const n_expert_max: usize = 512;

/// `deepseek2.expert_gating_func` values (llama.cpp's enum); 0 ("none") is not a routing rule.
pub const Gating = enum(u32) {
    softmax = 1,
    sigmoid = 2,
    /// Select on raw logits, weights = softmax over the selected logits.
    softmax_weight = 3,
    /// sqrt(softplus(logit)), an ik_llama.cpp gating.
    sqrt_softplus = 4,
};

/// mainline llama.cpp keeps the renormalization divisor at least this (ik does not clamp).
pub const norm_sum_min: f32 = 6.103515625e-5;

/// One routing node over `n_tokens` router rows of `n_expert` logits.
pub const Args = struct {
    logits: [*]const f32,
    logits_row_stride: usize,
    n_tokens: usize,
    n_expert: usize,
    /// Experts used per token (≤ top_k.k_max).
    k: usize,
    gating: Gating,
    /// `n_expert` selection biases (exp_probs_b), or null.
    bias: ?[*]const f32,
    /// Divide the k weights by their sum (expert_weights_norm).
    normalize: bool,
    /// Multiply the weights by this (expert_weights_scale); 1 leaves them.
    scale: f32,
    /// `n_tokens × k` expert ids, best first.
    out_ids: [*]i32,
    /// `n_tokens × k` weights matching `out_ids`.
    out_weights: [*]f32,
    /// Expert groups (`expert_group_count`); 1 disables group-limited routing. Must divide
    /// n_expert into groups of ≥ 2.
    n_group: usize = 1,
    /// Groups kept per token (`expert_group_used_count`); k ≤ n_group_used · group size.
    n_group_used: usize = 1,
};

/// Whether the grouping fits: groups of ≥ 2 experts that tile n_expert, enough kept for k.
pub fn groupsValid(n_expert: usize, k: usize, n_group: usize, n_group_used: usize) bool {
    if (n_group <= 1) return true;
    if (n_group > top_k.k_max or n_expert % n_group != 0 or n_expert / n_group < 2) return false;
    return n_group_used >= 1 and n_group_used <= n_group and k <= n_group_used * (n_expert / n_group);
}

/// Tokens split evenly over threads.
pub fn compute(args: *const Args, pool: *ThreadPool, ith: usize, nth: usize) void {
    _ = pool;
    std.debug.assert(args.n_expert >= 1 and args.n_expert <= n_expert_max);
    std.debug.assert(args.k >= 1 and args.k <= top_k.k_max and args.k <= args.n_expert);
    std.debug.assert(groupsValid(args.n_expert, args.k, args.n_group, args.n_group_used));
    const range = ThreadPool.splitRange(args.n_tokens, ith, nth);
    for (range.start..range.end) |token| routeToken(args, token);
}

fn routeToken(args: *const Args, token: usize) void {
    const n = args.n_expert;
    const logits = args.logits[token * args.logits_row_stride ..][0..n];
    var probs_buf: [n_expert_max]f32 = undefined;
    const probs = probs_buf[0..n];
    gate(args.gating, logits, probs);
    var selection_buf: [n_expert_max]f32 = undefined;
    const selection = selection_buf[0..n];
    if (args.bias) |bias| {
        for (selection, probs, bias[0..n]) |*s, p, b| s.* = p + b;
    } else @memcpy(selection, probs);
    if (args.n_group > 1) maskGroups(selection, args.n_group, args.n_group_used);
    const ids = args.out_ids[token * args.k ..][0..args.k];
    const weights = args.out_weights[token * args.k ..][0..args.k];
    var ranked: [top_k.k_max]f32 = undefined;
    top_k.selectRow(selection, ids, ranked[0..args.k]);
    for (weights, ids) |*w, id| w.* = probs[@intCast(id)];
    if (args.gating == .softmax_weight) softmax.softmaxScalar(weights, weights);
    if (args.normalize) {
        var sum: f32 = 0;
        for (weights) |w| sum += w;
        const inv = 1.0 / @max(sum, norm_sum_min);
        for (weights) |*w| w.* *= inv;
    }
    if (args.scale != 1.0) for (weights) |*w| {
        w.* *= args.scale;
    };
}

/// Sets every selection score outside the `n_group_used` best groups to −inf; a group's score is
/// the sum of its two largest selection scores (mainline build_moe_ffn).
fn maskGroups(selection: []f32, n_group: usize, n_group_used: usize) void {
    const group_size = selection.len / n_group;
    var group_scores: [top_k.k_max]f32 = undefined;
    for (0..n_group) |g| {
        var best_two: [2]i32 = undefined;
        var values: [2]f32 = undefined;
        top_k.selectRow(selection[g * group_size ..][0..group_size], &best_two, &values);
        group_scores[g] = values[0] + values[1];
    }
    var kept_ids: [top_k.k_max]i32 = undefined;
    var kept_scores: [top_k.k_max]f32 = undefined;
    top_k.selectRow(group_scores[0..n_group], kept_ids[0..n_group_used], kept_scores[0..n_group_used]);
    for (0..n_group) |g| {
        const kept = std.mem.indexOfScalar(i32, kept_ids[0..n_group_used], @intCast(g)) != null;
        if (!kept) @memset(selection[g * group_size ..][0..group_size], -std.math.inf(f32));
    }
}

/// Gate probabilities (or, for softmax_weight, the raw logits used for selection).
fn gate(gating: Gating, logits: []const f32, probs: []f32) void {
    const simd = cpu_path.simd();
    switch (gating) {
        .softmax => {
            const args: softmax.Args = .{ .func = .softmax, .src = logits.ptr, .dst = probs.ptr, .src_row_stride = 0, .dst_row_stride = 0, .n_rows = 1, .width = logits.len };
            if (simd) softmax.compute(&args, undefined, 0, 1) else softmax.softmaxScalar(logits, probs);
        },
        .sigmoid => {
            const args: softmax.Args = .{ .func = .sigmoid, .src = logits.ptr, .dst = probs.ptr, .src_row_stride = 0, .dst_row_stride = 0, .n_rows = 1, .width = logits.len };
            if (simd) softmax.compute(&args, undefined, 0, 1) else softmax.sigmoidScalar(logits, probs);
        },
        .softmax_weight => @memcpy(probs, logits),
        .sqrt_softplus => for (probs, logits) |*p, x| {
            // softplus(x) = ln(1 + e^x), written to stay finite for large x.
            const softplus = if (x > 20) x else std.math.log1p(@exp(x));
            p.* = @sqrt(softplus);
        },
    }
}

test "moe_route picks the largest softmax probabilities and a bias changes only the choice" {
    var logits: [64]f32 = undefined;
    for (&logits, 0..) |*x, i| x.* = @as(f32, @floatFromInt((i * 37) % 64)) / 16.0;
    var ids: [6]i32 = undefined;
    var weights: [6]f32 = undefined;
    var args: Args = .{ .logits = &logits, .logits_row_stride = 64, .n_tokens = 1, .n_expert = 64, .k = 6, .gating = .softmax, .bias = null, .normalize = false, .scale = 1, .out_ids = &ids, .out_weights = &weights };
    compute(&args, undefined, 0, 1);
    for (ids[0 .. ids.len - 1], ids[1..]) |a, b| try std.testing.expect(logits[@intCast(a)] > logits[@intCast(b)]);
    var bias = [_]f32{0} ** 64;
    bias[0] = 10; // logits[0] is the smallest: only the bias can pick it
    args.bias = &bias;
    const unbiased_best = weights[0];
    compute(&args, undefined, 0, 1);
    try std.testing.expectEqual(@as(i32, 0), ids[0]);
    try std.testing.expect(weights[0] < unbiased_best);
    args.bias = null;
    args.normalize = true;
    args.scale = 2.5;
    compute(&args, undefined, 0, 1);
    var sum: f32 = 0;
    for (weights) |w| sum += w;
    try std.testing.expectApproxEqAbs(@as(f32, 2.5), sum, 1e-5);
}

test "moe_route with groups picks experts only from the best groups" {
    // 8 experts in 4 groups of 2; group sums: g0 = 0+7 = 7, g1 = 6+6 = 12, g2 = 1+1 = 2, g3 = 5+5 = 10.
    const logits = [_]f32{ 0, 7, 6, 6, 1, 1, 5, 5 };
    var ids: [3]i32 = undefined;
    var weights: [3]f32 = undefined;
    const args: Args = .{ .logits = &logits, .logits_row_stride = 8, .n_tokens = 1, .n_expert = 8, .k = 3, .gating = .softmax_weight, .bias = null, .normalize = false, .scale = 1, .out_ids = &ids, .out_weights = &weights, .n_group = 4, .n_group_used = 2 };
    compute(&args, undefined, 0, 1);
    // Expert 1 (7, the best single score) is in group 0, which is not kept.
    try std.testing.expectEqualSlices(i32, &.{ 2, 3, 6 }, &ids);
    try std.testing.expect(groupsValid(8, 3, 4, 2));
    try std.testing.expect(!groupsValid(8, 5, 4, 2));
    try std.testing.expect(!groupsValid(9, 3, 4, 2));
}
