//! The `collm` binary: a thin shell over `collm_bench::cli`.

fn main() -> std::process::ExitCode {
    collm_bench::cli::main()
}
