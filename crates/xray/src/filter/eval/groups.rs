//! `group.name` and `group.arn` in a filter must name groups that exist: X-Ray answers an
//! unknown one with InvalidRequestException rather than with an empty result.

use super::GroupLookup;
use crate::filter::ast::{Comparison, Field, Filter, Keyword, Value};
use crate::{XRayError, XRayResult};

/// An error naming the first group `filter` refers to that `groups` does not know.
pub fn check_group_references(filter: &Filter, groups: &GroupLookup<'_>) -> XRayResult<()> {
    let mut names = Vec::new();
    referenced_groups(filter, &mut names);
    match names.into_iter().find(|name| groups(name).is_none()) {
        Some(unknown) => Err(XRayError::invalid(format!(
            "the filter expression refers to group {unknown:?}, which does not exist"
        ))),
        None => Ok(()),
    }
}

fn referenced_groups<'f>(filter: &'f Filter, names: &mut Vec<&'f str>) {
    match filter {
        Filter::Or(parts) | Filter::And(parts) => {
            parts.iter().for_each(|p| referenced_groups(p, names));
        }
        Filter::Not(inner) => referenced_groups(inner, names),
        Filter::Compare(Comparison {
            field: Field::Keyword(Keyword::GroupName | Keyword::GroupArn),
            test: Some((_, Value::Text(name))),
        }) => names.push(name),
        Filter::Compare(_) | Filter::RootCauseJson(_) => {}
        Filter::Service { filter, .. } | Filter::Edge { filter, .. } => {
            if let Some(inner) = filter {
                referenced_groups(inner, names);
            }
        }
        Filter::RootCause { filter, .. } => referenced_groups(filter, names),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_group_anywhere_in_the_filter_is_named() {
        let known = |name: &str| (name == "slow").then_some(None);
        let parse = |text: &str| crate::filter::parse(text).unwrap();
        assert!(check_group_references(&parse("group.name = \"slow\""), &known).is_ok());
        assert!(check_group_references(&parse("responsetime > 5"), &known).is_ok());
        let error = check_group_references(
            &parse("responsetime > 5 AND !(group.name = \"slow\" OR group.name = \"nope\")"),
            &known,
        )
        .unwrap_err();
        assert!(error.to_string().contains("\"nope\""), "{error}");
        let nested = parse("service(\"api\") { group.arn = \"arn:aws:xray:x:1:group/gone/1\" }");
        assert!(check_group_references(&nested, &known).is_err());
    }
}
