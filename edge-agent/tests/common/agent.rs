//! The agent binary as a child process, ended when the test lets go of it.

use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Agent(pub Child);

impl Agent {
    /// `edge-agent run --config <file>`, quiet but for warnings (not shown).
    pub fn run(file: &Path) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_edge-agent"))
            .args(["run", "--config"])
            .arg(file)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the agent binary starts");
        Agent(child)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
