//! Groups, sampling rules and quotas, tags and the encryption setting: each operation parses
//! its request, calls `combray_xray`, and answers in X-Ray's shapes.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use combray_xray::groups::InsightsConfiguration;
use combray_xray::rules::{SamplingRule, SamplingRuleUpdate};
use combray_xray::sampling::StatisticsDocument;
use combray_xray::tags::Tag;
use combray_xray::time::now_seconds;
use combray_xray::{XRayError, XRayResult};
use serde::Deserialize;
use serde_json::{json, Value};

use super::reply::{answer, parse, XRayCaller};
use crate::state::AppState;

type Shared = State<Arc<AppState>>;

/// Runs an operation: parse, act, answer.
async fn operation<I, F, Fut>(retry_after_seconds: u64, body: &Bytes, act: F) -> Response
where
    I: serde::de::DeserializeOwned,
    F: FnOnce(I) -> Fut,
    Fut: std::future::Future<Output = XRayResult<Value>>,
{
    let result = match parse::<I>(body) {
        Ok(input) => act(input).await,
        Err(error) => Err(error),
    };
    answer(result, retry_after_seconds)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GroupRef {
    group_name: Option<String>,
    #[serde(rename = "GroupARN")]
    group_arn: Option<String>,
}

impl GroupRef {
    fn given(&self) -> XRayResult<(Option<&str>, Option<&str>)> {
        if self.group_name.is_none() && self.group_arn.is_none() {
            return Err(XRayError::invalid("give GroupName or GroupARN"));
        }
        Ok((self.group_name.as_deref(), self.group_arn.as_deref()))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateGroupInput {
    group_name: Option<String>,
    filter_expression: Option<String>,
    insights_configuration: Option<InsightsConfiguration>,
    #[serde(default)]
    tags: Vec<Tag>,
}

/// CreateGroup.
pub(super) async fn create_group(
    State(state): Shared,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    operation(
        state.retry_after_seconds,
        &body,
        |input: CreateGroupInput| async move {
            let name = input
                .group_name
                .ok_or_else(|| XRayError::invalid("GroupName is required"))?;
            let group = state
                .xray
                .control
                .create_group(
                    &caller.environment,
                    &name,
                    input.filter_expression,
                    input.insights_configuration,
                    input.tags,
                )
                .await?;
            Ok(json!({ "Group": group }))
        },
    )
    .await
}

/// GetGroup.
pub(super) async fn get_group(State(state): Shared, caller: XRayCaller, body: Bytes) -> Response {
    operation(
        state.retry_after_seconds,
        &body,
        |input: GroupRef| async move {
            let (name, arn) = input.given()?;
            let group = state
                .xray
                .control
                .group(&caller.environment, name, arn)
                .await?;
            Ok(json!({ "Group": group }))
        },
    )
    .await
}

/// Input of a listing whose one page holds everything: only `NextToken`, which is ignored.
type PageInput = serde::de::IgnoredAny;

/// GetGroups: every group fits one page (at most 26).
pub(super) async fn get_groups(State(state): Shared, caller: XRayCaller, body: Bytes) -> Response {
    operation(
        state.retry_after_seconds,
        &body,
        |_: PageInput| async move {
            let groups = state.xray.control.groups(&caller.environment).await?;
            Ok(json!({ "Groups": groups }))
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateGroupInput {
    group_name: Option<String>,
    #[serde(rename = "GroupARN")]
    group_arn: Option<String>,
    filter_expression: Option<String>,
    insights_configuration: Option<InsightsConfiguration>,
}

/// UpdateGroup.
pub(super) async fn update_group(
    State(state): Shared,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    operation(
        state.retry_after_seconds,
        &body,
        |input: UpdateGroupInput| async move {
            let reference = GroupRef {
                group_name: input.group_name,
                group_arn: input.group_arn,
            };
            let (name, arn) = reference.given()?;
            let group = state
                .xray
                .control
                .update_group(
                    &caller.environment,
                    name,
                    arn,
                    input.filter_expression,
                    input.insights_configuration,
                )
                .await?;
            Ok(json!({ "Group": group }))
        },
    )
    .await
}

/// DeleteGroup.
pub(super) async fn delete_group(
    State(state): Shared,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    operation(
        state.retry_after_seconds,
        &body,
        |input: GroupRef| async move {
            let (name, arn) = input.given()?;
            state
                .xray
                .control
                .delete_group(&caller.environment, name, arn)
                .await?;
            Ok(json!({}))
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateRuleInput {
    sampling_rule: SamplingRule,
    #[serde(default)]
    tags: Vec<Tag>,
}

/// CreateSamplingRule.
pub(super) async fn create_sampling_rule(
    State(state): Shared,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    operation(
        state.retry_after_seconds,
        &body,
        |input: CreateRuleInput| async move {
            let record = state
                .xray
                .control
                .create_rule(&caller.environment, input.sampling_rule, input.tags)
                .await?;
            Ok(json!({ "SamplingRuleRecord": record }))
        },
    )
    .await
}

/// GetSamplingRules: every rule in one page (the SDKs read only the first).
pub(super) async fn get_sampling_rules(
    State(state): Shared,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    operation(
        state.retry_after_seconds,
        &body,
        |_: PageInput| async move {
            let records = state.xray.control.rules(&caller.environment).await?;
            Ok(json!({ "SamplingRuleRecords": records }))
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateRuleInput {
    sampling_rule_update: SamplingRuleUpdate,
}

/// UpdateSamplingRule.
pub(super) async fn update_sampling_rule(
    State(state): Shared,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    operation(
        state.retry_after_seconds,
        &body,
        |input: UpdateRuleInput| async move {
            let update = input.sampling_rule_update;
            if update.rule_name.is_none() && update.rule_arn.is_none() {
                return Err(XRayError::invalid("give RuleName or RuleARN"));
            }
            let record = state
                .xray
                .control
                .update_rule(&caller.environment, update)
                .await?;
            Ok(json!({ "SamplingRuleRecord": record }))
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RuleRef {
    rule_name: Option<String>,
    #[serde(rename = "RuleARN")]
    rule_arn: Option<String>,
}

/// DeleteSamplingRule.
pub(super) async fn delete_sampling_rule(
    State(state): Shared,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    operation(
        state.retry_after_seconds,
        &body,
        |input: RuleRef| async move {
            if input.rule_name.is_none() && input.rule_arn.is_none() {
                return Err(XRayError::invalid("give RuleName or RuleARN"));
            }
            let record = state
                .xray
                .control
                .delete_rule(
                    &caller.environment,
                    input.rule_name.as_deref(),
                    input.rule_arn.as_deref(),
                )
                .await?;
            Ok(json!({ "SamplingRuleRecord": record }))
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TargetsInput {
    sampling_statistics_documents: Vec<StatisticsDocument>,
}

/// GetSamplingTargets: `SamplingTargetDocuments` and `LastRuleModification` are always present
/// (the Python SDK indexes them).
pub(super) async fn get_sampling_targets(
    State(state): Shared,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    operation(
        state.retry_after_seconds,
        &body,
        |input: TargetsInput| async move {
            let rules = state.xray.control.rules(&caller.environment).await?;
            let (targets, unprocessed) = state.xray.sampling.targets(
                &caller.environment,
                &input.sampling_statistics_documents,
                &rules,
                now_seconds(),
            )?;
            let modified = state
                .xray
                .control
                .last_rule_modification(&caller.environment)
                .await?;
            Ok(json!({
                "SamplingTargetDocuments": targets,
                "LastRuleModification": modified,
                "UnprocessedStatistics": unprocessed,
            }))
        },
    )
    .await
}

/// GetSamplingStatisticSummaries.
pub(super) async fn get_sampling_statistic_summaries(
    State(state): Shared,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    operation(
        state.retry_after_seconds,
        &body,
        |_: PageInput| async move {
            let summaries = state.xray.sampling.summaries(&caller.environment);
            Ok(json!({ "SamplingStatisticSummaries": summaries }))
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagInput {
    #[serde(rename = "ResourceARN")]
    resource_arn: String,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(default)]
    tag_keys: Vec<String>,
}

/// TagResource.
pub(super) async fn tag_resource(
    State(state): Shared,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    operation(
        state.retry_after_seconds,
        &body,
        |input: TagInput| async move {
            state
                .xray
                .control
                .tag(&caller.environment, &input.resource_arn, input.tags)
                .await?;
            Ok(json!({}))
        },
    )
    .await
}

/// UntagResource.
pub(super) async fn untag_resource(
    State(state): Shared,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    operation(
        state.retry_after_seconds,
        &body,
        |input: TagInput| async move {
            state
                .xray
                .control
                .untag(&caller.environment, &input.resource_arn, input.tag_keys)
                .await?;
            Ok(json!({}))
        },
    )
    .await
}

/// ListTagsForResource.
pub(super) async fn list_tags_for_resource(
    State(state): Shared,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    operation(
        state.retry_after_seconds,
        &body,
        |input: TagInput| async move {
            let tags = state
                .xray
                .control
                .tags(&caller.environment, &input.resource_arn)
                .await?;
            Ok(json!({ "Tags": tags }))
        },
    )
    .await
}

/// GetEncryptionConfig.
pub(super) async fn get_encryption_config(
    State(state): Shared,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    operation(
        state.retry_after_seconds,
        &body,
        |_: PageInput| async move {
            let config = state.xray.control.encryption(&caller.environment).await?;
            Ok(json!({ "EncryptionConfig": config }))
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EncryptionInput {
    #[serde(rename = "Type")]
    kind: String,
    key_id: Option<String>,
}

/// PutEncryptionConfig.
pub(super) async fn put_encryption_config(
    State(state): Shared,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    operation(
        state.retry_after_seconds,
        &body,
        |input: EncryptionInput| async move {
            let config = state
                .xray
                .control
                .set_encryption(&caller.environment, &input.kind, input.key_id)
                .await?;
            Ok(json!({ "EncryptionConfig": config }))
        },
    )
    .await
}
