//! Checks of `[telemetry]`: the listener, its connection bound, the API token file and the console.

use super::raw::RawTelemetry;
use super::validate::Checker;
use super::TelemetryConfig;

pub(super) fn check_telemetry(c: &mut Checker, raw: &RawTelemetry) -> Option<TelemetryConfig> {
    let listen = match raw.listen.parse::<std::net::SocketAddr>() {
        Ok(addr) => {
            if !addr.ip().is_loopback() {
                c.warn(
                    "telemetry.listen",
                    format!("{addr} is reachable from other hosts; metrics and the API reveal wallet balances"),
                );
            }
            Some(addr)
        }
        Err(_) => {
            c.error(
                "telemetry.listen",
                format!("`{}` is not an address like 127.0.0.1:9464", raw.listen),
            );
            None
        }
    };
    let max_connections = match raw.max_connections {
        n @ 1..=4096 => Some(n as usize),
        n => {
            c.error(
                "telemetry.max_connections",
                format!("{n} is out of range: between 1 and 4096"),
            );
            None
        }
    };
    let token_file = match raw.token_file.as_deref() {
        Some("") => {
            c.error(
                "telemetry.token_file",
                "is empty: name the file that holds the API token, or remove the key",
            );
            None
        }
        other => Some(other.map(std::path::PathBuf::from)),
    };
    if raw.console && listen.is_some_and(|a| !a.ip().is_loopback()) {
        c.warn(
            "telemetry.console",
            "the console is served to other hosts, without authentication",
        );
    }
    Some(TelemetryConfig {
        enabled: raw.enabled,
        listen: listen?,
        max_connections: max_connections?,
        token_file: token_file?,
        console: raw.console,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: RawTelemetry) -> (Option<TelemetryConfig>, Vec<(String, bool)>) {
        let mut c = Checker::default();
        let cfg = check_telemetry(&mut c, &raw);
        let issues = c
            .issues
            .iter()
            .map(|i| {
                (
                    i.key.clone(),
                    i.severity == super::super::validate::Severity::Error,
                )
            })
            .collect();
        (cfg, issues)
    }

    #[test]
    fn defaults_are_loopback_with_64_connections_and_no_token() {
        let (cfg, issues) = check(RawTelemetry::default());
        let cfg = cfg.unwrap();
        assert!(issues.is_empty(), "{issues:?}");
        assert!(cfg.listen.ip().is_loopback());
        assert_eq!(
            (cfg.max_connections, cfg.token_file, cfg.console),
            (64, None, false)
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let raw = RawTelemetry {
            max_connections: 0,
            token_file: Some(String::new()),
            ..RawTelemetry::default()
        };
        let (cfg, issues) = check(raw);
        assert!(cfg.is_none());
        assert_eq!(
            issues,
            vec![
                ("telemetry.max_connections".to_string(), true),
                ("telemetry.token_file".to_string(), true)
            ]
        );
        let raw = RawTelemetry {
            listen: "0.0.0.0:9464".into(),
            console: true,
            ..RawTelemetry::default()
        };
        let (cfg, issues) = check(raw);
        assert!(cfg.is_some());
        assert_eq!(
            issues,
            vec![
                ("telemetry.listen".to_string(), false),
                ("telemetry.console".to_string(), false)
            ]
        );
    }
}
