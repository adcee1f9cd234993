//! Plain-text formatting shared by the CLI's tables and the TUI's cells: a metric's four
//! decimals, a value cut to a column's width.

/// Four decimals, or `-` when undefined.
pub fn metric(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"))
}

/// `text` cut to `width` characters, ending in `…` where cut (a cut value must not pass for a
/// whole one).
pub fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_and_cuts() {
        assert_eq!(metric(Some(0.676_04)), "0.6760");
        assert_eq!(metric(None), "-");
        assert_eq!(clip("collm-mf-ml1m", 8), "collm-m…");
        assert_eq!(clip("mf", 8), "mf");
    }
}
