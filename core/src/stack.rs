//! Deep documents need a deep stack: the stores and the tree walk recurse once per nesting
//! level, and sops reads documents 10,000 levels deep (plaintext JSON and YAML with
//! indentless sequences up to twice that). Callers that may meet such input run keytap's
//! work through [`with_deep_stack`]; the CLI runs every command this way.

/// The stack given to deep work. Only the pages touched are ever committed.
pub const DEEP_STACK_BYTES: usize = 256 << 20;

/// Runs `f` on a thread with a [`DEEP_STACK_BYTES`] stack and returns its result (a panic
/// in `f` continues in the caller). Where such a thread cannot be had, `f` runs here.
pub fn with_deep_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let f = std::sync::Mutex::new(Some(f));
    let take = || f.lock().ok().and_then(|mut g| g.take()).expect("run once");
    std::thread::scope(|scope| {
        match std::thread::Builder::new()
            .name("keytap".into())
            .stack_size(DEEP_STACK_BYTES)
            .spawn_scoped(scope, || take()())
        {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => take()(),
        }
    })
}
