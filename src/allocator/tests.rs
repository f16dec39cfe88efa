use super::*;

#[test]
fn freed_memory_is_kept_for_a_second_unless_the_environment_says_otherwise() {
    let from_environment = std::env::var("MIMALLOC_PURGE_DELAY").ok();
    keep_freed_memory();
    match from_environment.and_then(|v| v.parse::<c_long>().ok()) {
        Some(chosen) => assert_eq!(purge_delay_ms(), chosen),
        None => assert_eq!(purge_delay_ms(), PURGE_DELAY_MS),
    }
}
