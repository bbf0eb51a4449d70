//! `resilience:`, the share-listener watchdog (upstream v0.1.8's keys, defaults and checks).

use super::*;

fn with(block: &str) -> String {
    format!("{MINIMAL}resilience:\n{block}")
}

#[test]
fn defaults_are_upstreams() {
    let (c, _) = ok(MINIMAL);
    let r = &c.resilience;
    assert_eq!(r, &Resilience::default());
    assert!(r.watchdog_enabled);
    assert_eq!(r.poll_interval, Duration::from_secs(10));
    assert_eq!(r.zero_established_grace, Duration::from_secs(90));
    assert_eq!(r.max_rebuild_failures, 5);
    assert_eq!(r.heartbeat_interval, Duration::from_secs(300));
    // An empty block is the defaults too.
    let (c, w) = ok(&format!("{MINIMAL}resilience:\n"));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.resilience, Resilience::default());
}

#[test]
fn every_key_decodes() {
    let (c, w) = ok(&with(
        "  watchdog_enabled: true\n  poll_interval: 500ms\n  zero_established_grace: 2s\n  max_rebuild_failures: 3\n  heartbeat_interval: 0\n",
    ));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(
        c.resilience,
        Resilience {
            watchdog_enabled: true,
            poll_interval: Duration::from_millis(500),
            zero_established_grace: Duration::from_secs(2),
            max_rebuild_failures: 3,
            heartbeat_interval: Duration::ZERO,
        }
    );
}

#[test]
fn zero_is_refused_only_while_the_watchdog_is_on() {
    let zeros = "  poll_interval: 0s\n  zero_established_grace: 0\n  max_rebuild_failures: 0\n  heartbeat_interval: 0s\n";
    let e = errs(&with(zeros));
    for (key, line) in [
        ("poll_interval", 7),
        ("zero_established_grace", 8),
        ("max_rebuild_failures", 9),
    ] {
        assert!(
            e.contains(&format!("resilience.{key}: must be greater than zero while the watchdog is on (watchdog_enabled: false turns it off) (test.yml:{line})")),
            "{e}"
        );
    }
    assert!(
        !e.contains("heartbeat_interval"),
        "0 turns the alive line off: {e}"
    );
    // The order of the keys does not matter.
    let (c, _) = ok(&with(&format!("{zeros}  watchdog_enabled: false\n")));
    assert!(!c.resilience.watchdog_enabled);
    assert_eq!(c.resilience.poll_interval, Duration::ZERO);
}

#[test]
fn bad_values_name_key_and_line() {
    let e = errs(&with(
        "  poll_interval: -10s\n  zero_established_grace: soon\n  max_rebuild_failures: -1\n  heartbeat_interval: -5m\n  watchdog_enabled: maybe\n",
    ));
    for want in [
        "resilience.poll_interval: must not be negative (test.yml:7)",
        "resilience.zero_established_grace: invalid duration 'soon'",
        "resilience.max_rebuild_failures: must not be negative (test.yml:9)",
        "resilience.heartbeat_interval: must not be negative (test.yml:10)",
        "resilience.watchdog_enabled:",
    ] {
        assert!(e.contains(want), "missing {want:?} in\n{e}");
    }
    let e = errs(&with("  max_rebuild_failures: many\n"));
    assert!(
        e.contains("resilience.max_rebuild_failures: must be a whole number greater than zero 'many' (test.yml:7)"),
        "{e}"
    );
    let e = errs(&format!("{MINIMAL}resilience: 5\n"));
    assert!(e.contains("resilience:") && e.contains("test.yml:6"), "{e}");
}

#[test]
fn misspelt_and_misplaced_keys_get_a_suggestion() {
    let e = errs(&with("  poll_intervall: 10s\n  maxRebuildFailures: 2\n"));
    assert!(
        e.contains(
            "resilience.poll_intervall: unknown field, did you mean 'poll_interval'? (test.yml:7)"
        ),
        "{e}"
    );
    assert!(
        e.contains(
            "resilience.maxRebuildFailures: unknown field, did you mean 'max_rebuild_failures'?"
        ),
        "{e}"
    );
    let e = errs(&format!("{MINIMAL}zero_established_grace: 90s\n"));
    assert!(
        e.contains("zero_established_grace: unknown field, did you mean 'resilience.zero_established_grace'? (test.yml:6)"),
        "{e}"
    );
}
