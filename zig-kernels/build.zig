//! Builds libflashmla, the one shared library behind the Deno bindings, and its unit tests.
//! Default CPU level is x86_64_v3 (AVX2, FMA, F16C, BMI2) so a cached build runs on any such
//! machine; `-Dcpu=native` is for local speed runs only.
const std = @import("std");

pub fn build(b: *std.Build) void {
    const optimize = b.standardOptimizeOption(.{});
    const cpu_name = b.option([]const u8, "cpu", "CPU model: x86_64_v3 (default) or native") orelse "x86_64_v3";
    const query = std.Target.Query.parse(.{
        .arch_os_abi = if (std.mem.eql(u8, cpu_name, "native")) "native" else "x86_64-linux-gnu",
        .cpu_features = cpu_name,
    }) catch @panic("invalid -Dcpu value");
    const target = b.resolveTargetQuery(query);

    const root_module = b.createModule(.{
        .root_source_file = b.path("src/root.zig"),
        .target = target,
        .optimize = optimize,
        // Threads spawned inside a host process (Deno) crash without libc (zig issue 17062).
        .link_libc = true,
    });
    const lib = b.addLibrary(.{
        .name = "flashmla",
        .linkage = .dynamic,
        .root_module = root_module,
        // LLVM is needed for the x86 intrinsics and inline asm the int8 kernels use.
        .use_llvm = true,
    });
    b.installArtifact(lib);

    const test_module = b.createModule(.{
        .root_source_file = b.path("src/root.zig"),
        .target = target,
        .optimize = optimize,
        .link_libc = true,
    });
    const unit_tests = b.addTest(.{ .root_module = test_module, .use_llvm = true });
    const run_tests = b.addRunArtifact(unit_tests);
    const test_step = b.step("test", "Run the kernels' unit tests");
    test_step.dependOn(&run_tests.step);
}
