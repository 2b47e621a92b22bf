//! Throughput of the AVX2 instructions the int8 kernels are built from, alone and in pairs, on
//! this machine: which ones share execution pipes, and so what bounds a kernel's inner loop. A
//! second table times the float GEMM tile's step: FMAs with F16's and BF16's conversions.
//! Each line times 10^8 iterations of a block of independent instructions (no dependency
//! chains, inputs in registers) and prints picoseconds per iteration; "cycles" uses the clock
//! derived from the 8-vpmaddwd block, assuming 2 per cycle (what the FMA and int8 probes show).
//!
//!     python3 -m ziglang run -O ReleaseFast -mcpu=x86_64_v3 bench/isa_throughput.zig
//!
//! Not part of the library or the tests: it is the evidence behind the kernel notes in
//! bench/results/kernel_limits.md.
const std = @import("std");

/// 8 copies of `op` writing ymm0..ymm7 from ymm14/ymm15 (no instruction reads another's result).
fn eight(comptime op: []const u8) []const u8 {
    comptime var text: []const u8 = "";
    inline for (0..8) |i| text = text ++ std.fmt.comptimePrint("{s}, %ymm{d}\n", .{ op, i });
    return text;
}

/// 8 accumulations `op src, acc, acc` into ymm8..ymm13, ymm0, ymm1 (8 independent chains,
/// enough to hide the latency).
fn eightAcc(comptime op: []const u8) []const u8 {
    const regs = [_]u8{ 8, 9, 10, 11, 12, 13, 0, 1 };
    comptime var text: []const u8 = "";
    inline for (regs) |r| text = text ++ std.fmt.comptimePrint("{s}, %ymm{d}, %ymm{d}\n", .{ op, r, r });
    return text;
}

const wd = eight("vpmaddwd %ymm14, %ymm15");
const ub = eight("vpmaddubsw %ymm14, %ymm15");
const sign = eight("vpsignb %ymm14, %ymm15");
const abs = eight("vpabsb %ymm14");
const shufb = eight("vpshufb %ymm14, %ymm15");
const unpck = eight("vpunpckldq %ymm14, %ymm15");
const srl = eight("vpsrlw $4, %ymm14");
const and_ = eight("vpand %ymm14, %ymm15");
const cvt = eight("vcvtdq2ps %ymm14");
const phadd = eight("vphaddd %ymm14, %ymm15");
const add = eightAcc("vpaddd %ymm14");
/// Broadcast loads from the stack (the GEMM kernels broadcast activation words and weight pairs).
const bcast_q = eight("vpbroadcastq (%rsp)");
const bcast_d = eight("vpbroadcastd (%rsp)");
const load = eight("vmovdqu (%rsp)");
/// vpmaddubsw with its second operand from memory (a load folded into the instruction).
const ub_mem = eight("vpmaddubsw (%rsp), %ymm15");
const fma = eightAcc("vfmadd231ps %ymm14");

fn time(comptime body: []const u8) f64 {
    const iterations: usize = 100_000_000;
    const start = std.time.nanoTimestamp();
    for (0..iterations) |_| {
        asm volatile (body ::: .{ .ymm0 = true, .ymm1 = true, .ymm2 = true, .ymm3 = true, .ymm4 = true, .ymm5 = true, .ymm6 = true, .ymm7 = true, .ymm8 = true, .ymm9 = true, .ymm10 = true, .ymm11 = true, .ymm12 = true, .ymm13 = true });
    }
    const ns: f64 = @floatFromInt(std.time.nanoTimestamp() - start);
    return ns * 1000 / @as(f64, @floatFromInt(iterations));
}

/// The float blocks read a 1 KiB buffer (at rsi) of 0x3C00 halves: 1.0 as f16, 2⁻⁷ as bf16 and
/// about 2⁻⁷ as f32 (the words), all normal, so no FMA takes a denormal assist; ymm14 and ymm15
/// hold 1.0 and the accumulators start at 0.
fn timeFloat(comptime body: []const u8) f64 {
    const iterations: usize = 100_000_000;
    var buf: [512]u16 align(64) = @splat(0x3C00);
    const p: [*]u16 = &buf;
    asm volatile (zeroAccumulators ++ "vbroadcastss (%rsi), %ymm14\nvcvtph2ps %xmm14, %ymm14\nvmovaps %ymm14, %ymm15\n"
        :
        : [p] "{rsi}" (p),
        : .{ .ymm0 = true, .ymm1 = true, .ymm4 = true, .ymm5 = true, .ymm6 = true, .ymm7 = true, .ymm8 = true, .ymm9 = true, .ymm10 = true, .ymm11 = true, .ymm12 = true, .ymm13 = true, .ymm14 = true, .ymm15 = true });
    const start = std.time.nanoTimestamp();
    for (0..iterations) |_| {
        asm volatile (body
            :
            : [p] "{rsi}" (p),
            : .{ .ymm0 = true, .ymm1 = true, .ymm2 = true, .ymm3 = true, .ymm4 = true, .ymm5 = true, .ymm6 = true, .ymm7 = true, .ymm8 = true, .ymm9 = true, .ymm10 = true, .ymm11 = true, .ymm12 = true, .ymm13 = true });
    }
    const ns: f64 = @floatFromInt(std.time.nanoTimestamp() - start);
    return ns * 1000 / @as(f64, @floatFromInt(iterations));
}

/// The 12 accumulators of a 3 × 4 tile.
const tile_accumulators = [_]u8{ 0, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 };
const zeroAccumulators = blk: {
    var text: []const u8 = "";
    for (tile_accumulators) |r| text = text ++ std.fmt.comptimePrint("vxorps %ymm{d}, %ymm{d}, %ymm{d}\n", .{ r, r, r });
    break :blk text;
};
/// 12 FMAs into the tile's accumulators from ymm14 × ymm15 (a 3 × 4 tile's step).
const fma12 = blk: {
    var text: []const u8 = "";
    for (tile_accumulators) |r| text = text ++ std.fmt.comptimePrint("vfmadd231ps %ymm14, %ymm15, %ymm{d}\n", .{r});
    break :blk text;
};
/// 4 activation loads (into ymm2/ymm3, which nothing reads).
const act4 = "vmovups (%rsi), %ymm2\nvmovups 32(%rsi), %ymm3\nvmovups 64(%rsi), %ymm2\nvmovups 96(%rsi), %ymm3\n";
/// F16: 3 rows' 8 weights converted from memory.
const f16_3 = "vcvtph2ps (%rsi), %ymm2\nvcvtph2ps 16(%rsi), %ymm3\nvcvtph2ps 32(%rsi), %ymm2\n";
/// BF16 widened: 3 rows' 8 weights zero-extended and shifted.
const bf16_3 = "vpmovzxwd (%rsi), %ymm2\nvpslld $16, %ymm2, %ymm2\nvpmovzxwd 16(%rsi), %ymm3\nvpslld $16, %ymm3, %ymm3\nvpmovzxwd 32(%rsi), %ymm2\nvpslld $16, %ymm2, %ymm2\n";
/// BF16 split: 3 rows' 16 weights as evens (shift) and odds (and with a mask from memory).
const bf16_split_3 = "vmovdqu (%rsi), %ymm2\nvpslld $16, %ymm2, %ymm2\nvmovdqu 32(%rsi), %ymm3\nvpslld $16, %ymm3, %ymm3\nvmovdqu 64(%rsi), %ymm2\nvpslld $16, %ymm2, %ymm2\n" ++
    "vmovdqu (%rsi), %ymm2\nvpand 128(%rsi), %ymm2, %ymm2\nvmovdqu 32(%rsi), %ymm3\nvpand 128(%rsi), %ymm3, %ymm3\nvmovdqu 64(%rsi), %ymm2\nvpand 128(%rsi), %ymm2, %ymm2\n";

pub fn main() void {
    const cycle_ps = time(wd) / 4; // 8 vpmaddwd at 2 per cycle
    std.debug.print("clock ≈ {d:.2} GHz (from 8 vpmaddwd = 4 cycles)\n\n", .{1000 / cycle_ps});
    std.debug.print("| block | ps / iteration | cycles |\n|---|---:|---:|\n", .{});
    const blocks = .{
        .{ "8 vpmaddwd", wd },                                        .{ "8 vpmaddubsw", ub },
        .{ "8 vpsignb", sign },                                       .{ "8 vpabsb", abs },
        .{ "8 vpshufb", shufb },                                      .{ "8 vpunpckldq", unpck },
        .{ "8 vpsrlw", srl },                                         .{ "8 vpand", and_ },
        .{ "8 vpaddd", add },                                         .{ "8 vcvtdq2ps", cvt },
        .{ "8 vfmadd231ps", fma },                                    .{ "8 vphaddd", phadd },
        .{ "8 vpmaddubsw + 8 vpmaddwd", ub ++ wd },                   .{ "8 vpmaddwd + 8 vpsignb", wd ++ sign },
        .{ "8 vpmaddwd + 8 vpabsb", wd ++ abs },                      .{ "8 vpmaddwd + 8 vfmadd231ps", wd ++ fma },
        .{ "8 vpmaddwd + 8 vpaddd", wd ++ add },                      .{ "8 vpmaddwd + 8 vpshufb", wd ++ shufb },
        .{ "8 vpmaddwd + 8 vcvtdq2ps", wd ++ cvt },                   .{ "8 vpmaddwd + 8 vphaddd", wd ++ phadd },
        .{ "8 vpshufb + 8 vpunpckldq", shufb ++ unpck },              .{ "8 vmovdqu m256", load },
        .{ "8 vpbroadcastq m64", bcast_q },                           .{ "8 vpbroadcastd m32", bcast_d },
        .{ "8 vpmaddubsw m256", ub_mem },                             .{ "8 vpmaddubsw + 8 vpbroadcastq m64", ub ++ bcast_q },
        .{ "8 vpmaddwd + 8 vpbroadcastd m32", wd ++ bcast_d },        .{ "8 vpmaddubsw + 8 vpmaddwd + 8 vpbroadcastq m64", ub ++ wd ++ bcast_q },
        .{ "8 vpmaddubsw + 8 vpmaddwd + 8 vpaddd", ub ++ wd ++ add }, .{ "8 vpmaddubsw + 8 vpmaddwd + 8 vpaddd + 8 vpbroadcastq m64", ub ++ wd ++ add ++ bcast_q },
    };
    inline for (blocks) |b| {
        const ps = time(b[1]);
        std.debug.print("| {s} | {d:.0} | {d:.1} |\n", .{ b[0], ps, ps / cycle_ps });
    }

    std.debug.print("\n| float tile step | ps / iteration | cycles |\n|---|---:|---:|\n", .{});
    const float_blocks = .{
        .{ "12 FMA (3 × 4 tile, registers)", fma12 },
        .{ "12 FMA + 4 loads (F32's step)", fma12 ++ act4 },
        .{ "12 FMA + 4 loads + 3 vcvtph2ps m128 (F16's step)", fma12 ++ act4 ++ f16_3 },
        .{ "12 FMA + 4 loads + 3 (vpmovzxwd m128 + vpslld) (BF16 widened)", fma12 ++ act4 ++ bf16_3 },
        .{ "24 FMA + 8 loads (two F32 steps)", fma12 ++ act4 ++ fma12 ++ act4 },
        .{ "24 FMA + 8 loads + BF16 split (3 × (load + vpslld), 3 × (load + vpand m256))", fma12 ++ act4 ++ fma12 ++ act4 ++ bf16_split_3 },
    };
    inline for (float_blocks) |b| {
        const ps = timeFloat(b[1]);
        std.debug.print("| {s} | {d:.0} | {d:.1} |\n", .{ b[0], ps, ps / cycle_ps });
    }
}
