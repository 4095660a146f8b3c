//! Honeycomb's rule for which dataset a span belongs to.

/// The dataset of spans whose service has no usable name.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// The dataset for a resource's `service.name`: the trimmed name, or [`UNKNOWN_SERVICE`] when it
/// is missing, blank or one of the SDKs' `unknown_service*` placeholders.
pub fn dataset_for_service_name(service_name: Option<&str>) -> String {
    let trimmed = service_name.map(str::trim).unwrap_or_default();
    if trimmed.is_empty() || trimmed.starts_with(UNKNOWN_SERVICE) {
        return UNKNOWN_SERVICE.to_owned();
    }
    trimmed.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_environments_rule() {
        assert_eq!(
            dataset_for_service_name(Some(" backend-flask ")),
            "backend-flask"
        );
        assert_eq!(dataset_for_service_name(Some("   ")), UNKNOWN_SERVICE);
        assert_eq!(dataset_for_service_name(None), UNKNOWN_SERVICE);
        assert_eq!(
            dataset_for_service_name(Some("unknown_service:python")),
            UNKNOWN_SERVICE
        );
    }
}
