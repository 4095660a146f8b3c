//! Saved calculated fields (`/1/derived_columns/{dataset}`): per dataset, or for every dataset
//! of the environment when saved on `__all__`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{base58_id, length, now_rfc3339, Document};
use crate::error::{HoneycombError, HoneycombResult};
use crate::spec::NamedExpression;

/// The dataset name that stands for every dataset.
pub(super) const ALL_DATASETS: &str = "__all__";

/// A saved calculated field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DerivedColumn {
    /// 11 base58 characters.
    pub id: String,
    /// The dataset's slug, or `__all__`.
    pub dataset: String,
    /// Its name in queries.
    pub alias: String,
    /// In the calculated-field language.
    pub expression: String,
    /// Free text.
    pub description: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl DerivedColumn {
    /// As Honeycomb's API answers it.
    pub fn to_api(&self) -> Value {
        json!({
            "id": self.id,
            "alias": self.alias,
            "expression": self.expression,
            "description": self.description,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

/// The body of a create or update.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DerivedColumnInput {
    /// Its name; required.
    #[serde(default)]
    pub alias: String,
    /// Its expression; required.
    #[serde(default)]
    pub expression: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Accepted on updates, where it must be the one in the path.
    #[serde(default)]
    pub id: Option<String>,
}

impl DerivedColumnInput {
    /// Checks the lengths, then the expression with `check` (which compiles it against the
    /// dataset's columns).
    fn validate(&self, check: &dyn Fn(&str) -> Result<(), String>) -> HoneycombResult<()> {
        length("alias", &self.alias, 1, 255)?;
        length("expression", &self.expression, 1, 4095)?;
        length("description", &self.description, 0, 255)?;
        check(&self.expression).map_err(HoneycombError::BadRequest)
    }
}

impl Document {
    /// The calculated fields saved on `dataset` (a slug or `__all__`).
    pub fn derived_columns_of(&self, dataset: &str) -> Vec<&DerivedColumn> {
        self.derived_columns
            .iter()
            .filter(|c| c.dataset == dataset)
            .collect()
    }

    /// The fields a query of `dataset` may use by name: the environment's, then the
    /// dataset's own (which win on a shared name).
    pub fn usable_fields(&self, dataset: &str) -> Vec<NamedExpression> {
        let mut fields: Vec<NamedExpression> = Vec::new();
        for scope in [ALL_DATASETS, dataset] {
            for column in self.derived_columns_of(scope) {
                fields.retain(|f| f.name != column.alias);
                fields.push(NamedExpression {
                    name: column.alias.clone(),
                    expression: column.expression.clone(),
                });
            }
            if dataset == ALL_DATASETS {
                break;
            }
        }
        fields
    }

    fn alias_taken(&self, dataset: &str, alias: &str, except: Option<&str>) -> bool {
        self.derived_columns.iter().any(|c| {
            c.alias == alias
                && Some(c.id.as_str()) != except
                && (c.dataset == dataset || c.dataset == ALL_DATASETS || dataset == ALL_DATASETS)
        })
    }

    /// Saves a new calculated field on `dataset`.
    pub fn create_derived(
        &mut self,
        dataset: &str,
        input: DerivedColumnInput,
        check: &dyn Fn(&str) -> Result<(), String>,
    ) -> HoneycombResult<DerivedColumn> {
        input.validate(check)?;
        if self.alias_taken(dataset, &input.alias, None) {
            return Err(HoneycombError::Conflict(format!(
                "a calculated field with alias {:?} already exists",
                input.alias
            )));
        }
        let now = now_rfc3339();
        let column = DerivedColumn {
            id: base58_id(),
            dataset: dataset.to_owned(),
            alias: input.alias,
            expression: input.expression,
            description: input.description,
            created_at: now.clone(),
            updated_at: now,
        };
        self.derived_columns.push(column.clone());
        Ok(column)
    }

    fn derived_index(&self, dataset: &str, id: &str) -> HoneycombResult<usize> {
        self.derived_columns
            .iter()
            .position(|c| c.dataset == dataset && c.id == id)
            .ok_or_else(|| HoneycombError::NotFound("calculated field not found".into()))
    }

    /// Replaces a saved calculated field.
    pub fn update_derived(
        &mut self,
        dataset: &str,
        id: &str,
        input: DerivedColumnInput,
        check: &dyn Fn(&str) -> Result<(), String>,
    ) -> HoneycombResult<DerivedColumn> {
        let index = self.derived_index(dataset, id)?;
        if input.id.as_deref().is_some_and(|given| given != id) {
            return Err(HoneycombError::BadRequest(
                "the id in the body does not match the URL".into(),
            ));
        }
        input.validate(check)?;
        if self.alias_taken(dataset, &input.alias, Some(id)) {
            return Err(HoneycombError::Conflict(format!(
                "a calculated field with alias {:?} already exists",
                input.alias
            )));
        }
        let column = &mut self.derived_columns[index];
        column.alias = input.alias;
        column.expression = input.expression;
        column.description = input.description;
        column.updated_at = now_rfc3339();
        Ok(column.clone())
    }

    /// Deletes a saved calculated field.
    pub fn delete_derived(&mut self, dataset: &str, id: &str) -> HoneycombResult<()> {
        let index = self.derived_index(dataset, id)?;
        self.derived_columns.remove(index);
        Ok(())
    }
}
