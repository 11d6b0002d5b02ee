//! `cablekey bench …`: load benchmarks of the running system.
//!
//! `bench calls` runs a controller with durable escrow in this process and
//! spawns `bench load-gen` (simulated CTAs) as a child, so each side's CPU
//! is its own and measured apart.

mod calls;
mod core;
mod cpu;
mod escrow;
mod loadgen;
mod report;
mod verify;

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Call setups per second with durable escrow; simulated CTAs in a child process.
    Calls(calls::CallsArgs),
    /// CPU per call in the controller and CTA cores alone (one thread, in memory).
    Core(core::CoreArgs),
    /// The load generator `bench calls` spawns (simulated CTAs; JSON report on stdout).
    #[command(hide = true)]
    LoadGen(loadgen::LoadGenArgs),
    /// A large escrow store (sealed records of many subscribers over months) for `bench lookup`.
    EscrowGen(escrow::GenArgs),
    /// Latency of the LI historical query over a store made by `bench escrow-gen`.
    Lookup(escrow::LookupArgs),
}

pub fn run(cmd: BenchCommand) -> ExitCode {
    match cmd {
        BenchCommand::Calls(args) => calls::run(args),
        BenchCommand::Core(args) => core::run(args),
        BenchCommand::LoadGen(args) => loadgen::run(args),
        BenchCommand::EscrowGen(args) => escrow::gen(args),
        BenchCommand::Lookup(args) => escrow::lookup(args),
    }
}
