//! "Did you mean …?" for names people mistype (tasks, environments, kinds).

/// ` (did you mean `x`?)` for the closest candidate, or an empty string.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_the_closest_name_or_nothing() {
        assert_eq!(
            did_you_mean("prodution", ["staging", "production"]),
            " (did you mean `production`?)"
        );
        assert_eq!(did_you_mean("zzz", ["staging"]), "");
    }
}
