//! The standalone `codex-linux-sandbox` helper.

fn main() {
    codex_linux_sandbox::helper_main()
}
