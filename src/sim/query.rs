//! OData query options (`$filter`, `$top`, `$skip`, `$expand`) and each API's `$top` bounds.

use super::odata::{Filter, ODataError, Schema};

/// The OData query options of one request.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    /// Raw `$filter` text.
    pub filter: Option<String>,
    /// `$top`, unvalidated against the API's maximum.
    pub top: Option<usize>,
    /// `$skip`.
    pub skip: usize,
    /// Raw `$expand`.
    pub expand: Option<String>,
    /// Every other parameter, kept for nextLinks.
    pub other: Vec<(String, String)>,
}

impl QueryOptions {
    /// Parses a raw (still percent-encoded) query string.
    pub fn parse(raw: Option<&str>) -> Result<Self, ODataError> {
        let mut q = Self::default();
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let v = v.into_owned();
            match k.to_ascii_lowercase().as_str() {
                "$filter" => {
                    if q.filter.replace(v).is_some() {
                        return Err(ODataError::QueryOption(
                            "Query option '$filter' was specified more than once.".into(),
                        ));
                    }
                }
                "$top" => {
                    let n = v.trim().parse::<usize>().map_err(|_| {
                        ODataError::QueryOption(format!(
                            "Invalid value '{v}' for $top query option found."
                        ))
                    })?;
                    q.top = Some(n);
                }
                "$skip" => {
                    q.skip = v.trim().parse::<usize>().map_err(|_| {
                        ODataError::QueryOption(format!(
                            "Invalid value '{v}' for $skip query option found."
                        ))
                    })?;
                }
                "$expand" => q.expand = Some(v),
                _ => q.other.push((k.into_owned(), v)),
            }
        }
        Ok(q)
    }

    /// The page size for an API whose `$top` maximum is `max`: `$top` (1..=max) or the default.
    pub fn page_size(&self, max: usize, default: usize) -> Result<usize, ODataError> {
        match self.top {
            Some(0) => Err(ODataError::QueryOption(
                "The value of $top must be at least 1.".into(),
            )),
            Some(n) if n > max => Err(ODataError::QueryOption(format!(
                "The limit of '{max}' for Top query has been exceeded. The value from the incoming request is '{n}'."
            ))),
            Some(n) => Ok(n),
            None => Ok(default.clamp(1, max)),
        }
    }

    /// The parsed filter, if any.
    pub fn filter(&self, schema: &Schema) -> Result<Option<Filter>, ODataError> {
        self.filter
            .as_deref()
            .map(|f| Filter::parse(f, schema))
            .transpose()
    }

    /// Whether `$expand` names `what`.
    pub fn expands(&self, what: &str) -> bool {
        self.expand
            .as_deref()
            .is_some_and(|e| e.split(',').any(|p| p.trim().eq_ignore_ascii_case(what)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_is_bounded_by_the_api_maximum() {
        let q = QueryOptions::parse(Some("$top=10001")).expect("q");
        assert!(q.page_size(10_000, 10_000).is_err());
        let q = QueryOptions::parse(Some("$top=0")).expect("q");
        assert!(q.page_size(10_000, 10_000).is_err());
        let q = QueryOptions::parse(Some("%24top=50&$skip=5&$filter=riskScore+eq+%27High%27"))
            .expect("q");
        assert_eq!(q.page_size(10_000, 10_000), Ok(50));
        assert_eq!(q.skip, 5);
        assert_eq!(q.filter.as_deref(), Some("riskScore eq 'High'"));
        assert_eq!(
            QueryOptions::parse(None)
                .expect("q")
                .page_size(8000, 10_000),
            Ok(8000)
        );
        assert!(QueryOptions::parse(Some("$top=abc")).is_err());
    }
}
