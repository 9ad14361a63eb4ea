//! When a fetched key set is due again: its `Cache-Control: max-age`,
//! clamped between the issuer's `min_refresh_interval` and `refresh`.

use std::time::Duration;

use http::HeaderMap;

/// `max-age` of the answer's `Cache-Control`, if it names one; `no-cache`
/// and `no-store` count as zero (keep it as briefly as allowed).
pub fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut age = None;
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-cache" || lower == "no-store" {
                return Some(Duration::ZERO);
            }
            if let Some(n) = lower.strip_prefix("max-age=") {
                if let Ok(secs) = n.trim_matches('"').parse::<u64>() {
                    age = Some(Duration::from_secs(secs));
                }
            }
        }
    }
    age
}

/// How long to keep a key set whose server said `max_age`: `refresh` when
/// it said nothing, else `max_age` within `[min, refresh]`.
pub fn keep_for(max_age: Option<Duration>, min: Duration, refresh: Duration) -> Duration {
    max_age.unwrap_or(refresh).clamp(min, refresh.max(min))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(http::header::CACHE_CONTROL, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn max_age_is_read_from_any_cache_control_directive() {
        assert_eq!(max_age(&headers(&[])), None);
        assert_eq!(
            max_age(&headers(&["public, max-age=3600"])),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            max_age(&headers(&["public", "Max-Age=60, must-revalidate"])),
            Some(Duration::from_secs(60))
        );
        assert_eq!(max_age(&headers(&["no-store"])), Some(Duration::ZERO));
        assert_eq!(max_age(&headers(&["max-age=soon"])), None);
    }

    #[test]
    fn keep_for_is_clamped_between_the_minimum_and_refresh() {
        let (min, refresh) = (Duration::from_secs(30), Duration::from_secs(900));
        // No Cache-Control: refresh.
        assert_eq!(keep_for(None, min, refresh), refresh);
        // Too short: the minimum, so an IdP cannot make us fetch per request.
        assert_eq!(keep_for(Some(Duration::ZERO), min, refresh), min);
        assert_eq!(keep_for(Some(Duration::from_secs(5)), min, refresh), min);
        // Within bounds: as said.
        assert_eq!(
            keep_for(Some(Duration::from_secs(120)), min, refresh),
            Duration::from_secs(120)
        );
        // Too long: refresh, so a rotation is picked up in bounded time.
        assert_eq!(
            keep_for(Some(Duration::from_secs(86_400)), min, refresh),
            refresh
        );
    }
}
